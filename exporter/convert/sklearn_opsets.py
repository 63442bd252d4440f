"""Which opsets a scikit-learn conversion uses: the lowest the converter needs, never above the
maximum (`--opset`; None: the newest opset skl2onnx was tested with).

The conversion starts at DEFAULT_OPSET (or the maximum, when lower) and lets skl2onnx pick the
`ai.onnx.ml` version that goes with it. When skl2onnx refuses because a converter needs more
(KNNImputer: "no longer works for opset 17 < 18"; IsolationForest: "You need to specify
target_opset={'ai.onnx.ml': 3}"), the conversion is retried once per domain with what the error
names, within the maximum. The opsets used are in the report (onnx.opsets) and a raise is noted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from exporter.convert.base import DEFAULT_OPSET
from exporter.core.errors import UnsupportedError

ML = "ai.onnx.ml"
NEEDS = (  # (pattern in skl2onnx's message, domain); group 1 = the version needed
    (re.compile(r"target_opset=\{'ai\.onnx\.ml': (\d+)\}"), ML),
    (re.compile(r"at least opset (\d+) for domain 'ai\.onnx\.ml'"), ML),
    (re.compile(r"opset \d+ < (\d+)"), ""),
    (re.compile(r"(?:requires|only works for) opset ?>= ?(\d+)"), ""),
    (re.compile(r"target opset must be >= (\d+)"), ""),
    (re.compile(r"requires at least opset (\d+)(?! for domain)"), ""),
)


def newest() -> int:
    """The newest main opset skl2onnx was tested with (and onnx knows)."""
    import onnx.defs
    from skl2onnx import get_latest_tested_opset_version

    return min(get_latest_tested_opset_version(), onnx.defs.onnx_opset_version())


def needed(exc: BaseException) -> tuple[str, int] | None:
    """(domain, version) a skl2onnx error says the conversion needs, if it says so."""
    text = str(exc)
    for pattern, domain in NEEDS:
        found = pattern.search(text)
        if found:
            return domain, int(found.group(1))
    return None


def convert_within(
    convert: Callable[[dict[str, int]], Any], maximum: int | None, what: str
) -> tuple[Any, list[str]]:
    """convert(target_opset) at the lowest opsets that work up to maximum; (proto, notes)."""
    ceiling = newest() if maximum is None else int(maximum)
    target = {"": min(DEFAULT_OPSET, ceiling)}
    notes: list[str] = []
    for _ in range(4):
        try:
            return convert(dict(target)), notes
        except Exception as exc:
            need = needed(exc)
            if need is None or target.get(need[0]) == need[1]:
                raise
            domain, version = need
            if domain == "" and version > ceiling:
                raise UnsupportedError(
                    f"skl2onnx needs opset {version} for {what}, above the maximum {ceiling}: "
                    f"pass --opset {version} (or higher)"
                ) from None
            target[domain] = version
            notes.append(f"{what} needs {domain or 'ai.onnx'} opset {version}: converted with it")
    return convert(dict(target)), notes
