"""Boosted trees (issue 17): a 1,000-tree depth-8 XGBoost JSON model and a LightGBM text model
of the same size -> NPZ, against the library path, measured in this one invocation.

- exporter: `exporter -q export model -o out.npz` in a fresh process (imports, hash, manifest);
- library: a fresh process loading the model with its library and dumping its trees
  (`xgboost.Booster.trees_to_dataframe`, `lightgbm.Booster.dump_model`) to `np.savez`.

Each row is the median of --runs runs (wall time, peak RSS of the child process); the ratio is
library / exporter. Peak memory is also shown as a multiple of the model file's size.

    .venv/bin/python bench/trees.py                  # 1000 trees, depth 8, 3 runs
    .venv/bin/python bench/trees.py --trees 100 --runs 1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import EXPORTER, PY, WRAPPER

XGB_LIBRARY = """
import sys, numpy as np, xgboost
frame = xgboost.Booster(model_file=sys.argv[1]).trees_to_dataframe()
np.savez(sys.argv[2], **{c: frame[c].to_numpy() for c in frame.columns})
"""

LGB_LIBRARY = """
import sys, numpy as np, lightgbm

model = lightgbm.Booster(model_file=sys.argv[1]).dump_model()
rows = {"tree": [], "feature": [], "threshold": [], "value": []}
def walk(tree, node):
    if "leaf_index" in node or "split_index" not in node:
        rows["tree"].append(tree); rows["feature"].append(-2)
        rows["threshold"].append(-2.0); rows["value"].append(node.get("leaf_value", 0.0))
        return
    rows["tree"].append(tree); rows["feature"].append(node["split_feature"])
    rows["threshold"].append(float(node["threshold"])); rows["value"].append(node["internal_value"])
    walk(tree, node["left_child"]); walk(tree, node["right_child"])
for info in model["tree_info"]:
    walk(info["tree_index"], info["tree_structure"])
np.savez(sys.argv[2], **{k: np.asarray(v) for k, v in rows.items()})
"""


def train(folder: Path, trees: int, depth: int) -> dict[str, Path]:
    import lightgbm as lgb
    import xgboost as xgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 20))
    y = x[:, 0] * x[:, 1] + np.sin(3 * x[:, 2]) + rng.normal(scale=0.3, size=len(x))
    booster = xgb.train({"max_depth": depth, "eta": 0.05, "nthread": 2}, xgb.DMatrix(x, y), trees)
    booster.save_model(folder / "xgb.json")
    params = {"num_leaves": 2**depth, "max_depth": depth, "min_data_in_leaf": 5, "verbose": -1,
              "num_threads": 2}  # fmt: skip
    lgb.train(params, lgb.Dataset(x, y), trees).save_model(folder / "lgb.txt")
    return {"xgboost": folder / "xgb.json", "lightgbm": folder / "lgb.txt"}


def measure(command: list[str], runs: int) -> tuple[float, float]:
    seen = []
    for _ in range(runs):
        done = subprocess.run([PY, "-c", WRAPPER, *command], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{command[:3]} failed: {done.stderr}")
        seconds, peak = map(float, done.stdout.split())
        seen.append((seconds, peak))
    return statistics.median(s for s, _ in seen), statistics.median(p for _, p in seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = train(folder, args.trees, args.depth)
        baseline = measure([PY, "-c", "pass"], args.runs)[1]
        print(
            f"{args.trees} trees, depth {args.depth}; a bare interpreter peaks at {baseline:.0f} MiB"
        )
        print("| model | file MiB | exporter s | library s | speed-up | exporter peak MiB | "
              "library peak MiB | (exporter peak - interpreter) / file |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for name, path in models.items():
            size = path.stat().st_size / 2**20
            ours = measure([*EXPORTER, "export", str(path), "-o", str(folder / f"{name}.npz"),
                            "--force"], args.runs)  # fmt: skip
            script = XGB_LIBRARY if name == "xgboost" else LGB_LIBRARY
            theirs = measure(
                [PY, "-c", script, str(path), str(folder / f"{name}-lib.npz")], args.runs
            )
            print(
                f"| {name} | {size:.1f} | {ours[0]:.2f} | {theirs[0]:.2f} | "
                f"{theirs[0] / ours[0]:.1f}x | {ours[1]:.0f} | {theirs[1]:.0f} | "
                f"{(ours[1] - baseline) / size:.1f}x |"
            )


if __name__ == "__main__":
    main()
