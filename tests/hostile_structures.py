"""Hostile corpus: skops files whose trusted scikit-learn structures hold indices outside the
arrays they index (a tree child, a feature, a cycle, a libsvm support count), or that would do
I/O or call a function from the file when predicting (red team round 2: a vectorizer reading
the files its rows name, a FunctionTransformer calling a k-means run with crafted arrays, a
ball tree's Mahalanobis metric and a brute-force KNN's metric params sized for one column, a
BSpline with too few coefficients). Without the check scikit-learn's predict crashes, hangs or
reads files on them (tests/test_sec_structures.py shows it); every reading command refuses them
with exit 3."""

from __future__ import annotations

from pathlib import Path

from hostile_corpus import Case


def _build(name: str):
    def build(folder: Path) -> Path:
        from test_sec_structures import CRAFTED, _craft

        sound_file, cls, field, edit, _pattern = CRAFTED[name]
        (folder / "sound").mkdir()
        sound = sound_file(folder / "sound")
        which = 2 if name.startswith("forest") else 0
        crafted = _craft(sound, cls, field, edit, which)
        target = folder / f"{name}.skops"
        crafted.rename(target)
        return target

    return build


NAMES = ("tree-child-out-of-range", "tree-feature-out-of-range", "tree-cycle",
         "forest-member-child", "predictor-child-out-of-range", "predictor-feature-out-of-range",
         "svc-n-support")  # fmt: skip
CASES = [Case(f"skops-structure-{name}", _build(name), 3, "refused") for name in NAMES]


def _build_predict_time(name: str):
    def build(folder: Path) -> Path:
        from test_sec_structures import PREDICT_TIME

        made = PREDICT_TIME[name][0](folder)
        target = folder / f"{name}.skops"
        made.rename(target)
        return target

    return build


PREDICT_TIME_NAMES = ("knn-tree-metric", "knn-metric-params", "function-call",
                      "vectorizer-filename", "spline-coefficients")  # fmt: skip
CASES += [
    Case(f"skops-{name}", _build_predict_time(name), 3, "refused") for name in PREDICT_TIME_NAMES
]
