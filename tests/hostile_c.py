"""Hostile C exports (issue 19): a header is untrusted text, read by a strict tokenizer that
accepts only the literals exporter writes. Code, junk, lying counts, a manifest comment that
never ends or is not JSON, a duplicated or missing array: each one line, exit 3, no output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hostile_corpus import Case, seed_weightset

import exporter


def _c_seed(change: Callable[[bytes], bytes], name: str = "seed.h"):
    def build(folder: Path) -> Path:
        path = folder / name
        exporter.export(seed_weightset(), path)
        text = path.read_bytes()
        changed = change(text)
        assert changed != text, "the damage must change the file"
        path.write_bytes(changed)
        return path

    return build


KERNEL = b"SEED_ARRAY(seed_dense_kernel, float, 6, 16) = {\n"
STEPS = b"SEED_ARRAY(seed_steps, int64_t, 4, 16) = {\n"


def _manifest_shape(text: bytes, old: bytes, new: bytes) -> bytes:
    """The manifest's shape of one tensor changed, and its totals with it (a consistent lie)."""
    head, rest = text.split(b"EXPORTER-MANIFEST-END", 1)
    head = head.replace(old, new, 1).replace(b'"parameters": 18', b'"parameters": 1099511627790')
    return head + b"EXPORTER-MANIFEST-END" + rest


CASES: list[Case] = [
    Case(
        "c-code-in-array",
        _c_seed(lambda t: t.replace(b" 0x1.24924ap-003f,", b' system("id"),', 1)),
        3,
        r"not a float literal",
    ),
    Case(
        "c-expression-literal",
        _c_seed(lambda t: t.replace(b" 0x0000000000000003,", b" 1+2,", 1)),
        3,
        r"not a int64_t literal",
    ),
    Case(
        "c-decimal-literal",
        _c_seed(lambda t: t.replace(b" 0x1.24924ap-003f,", b" 0.142857f,", 1)),
        3,
        r"not a float literal",
    ),
    Case(
        "c-nan-macro",
        _c_seed(lambda t: t.replace(b"INFINITY,", b"NAN,", 1)),
        3,
        r"not a float literal",
    ),
    Case(
        "c-overflowing-hex-float",
        _c_seed(lambda t: t.replace(b" 0x1.24924ap-003f,", b" 0x1.24924ap+999f,", 1)),
        3,
        r"not a float literal",
    ),
    Case(
        "c-extra-value",
        _c_seed(lambda t: t.replace(b" 0x0000000000000003,", b" 0x03, 0x04,", 1)),
        3,
        r"declaration says 4",
    ),
    Case(
        "c-bool-out-of-range",
        _c_seed(lambda t: t.replace(b" 0x01, 0x00,", b" 0x02, 0x00,", 1)),
        3,
        r"bool value",
    ),
    Case(
        "c-type-swapped",
        _c_seed(lambda t: t.replace(STEPS, STEPS.replace(b"int64_t", b"double"))),
        3,
        r"not a C type of int64",
    ),
    Case(
        "c-huge-count",
        _c_seed(
            lambda t: _manifest_shape(
                t.replace(STEPS, STEPS.replace(b" 4,", b" 1099511627776,")),
                b'"shape": [\n        4\n      ]',
                b'"shape": [\n        1099511627776\n      ]',
            )
        ),
        3,
        r"too short for 1099511627776 values",
    ),
    Case(
        "c-missing-array",
        _c_seed(lambda t: t.replace(KERNEL, b"/* gone */ {\n")),
        3,
        r"has no array",
    ),
    Case("c-defined-twice", _c_seed(lambda t: t.replace(STEPS, KERNEL)), 3, r"defined twice"),
    Case(
        "c-manifest-never-ends",
        _c_seed(lambda t: t.replace(b"EXPORTER-MANIFEST-END", b"MANIFEST-GONE")),
        3,
        r"never ends",
    ),
    Case(
        "c-manifest-not-json",
        _c_seed(lambda t: t.replace(b'"format": "exporter.weights"', b"format: 1")),
        3,
        r"manifest is not valid JSON",
    ),
    Case(
        "c-manifest-missing",
        _c_seed(lambda t: t.replace(b"EXPORTER-MANIFEST-BEGIN\n", b"\n")),
        3,
        r"without its manifest",
    ),
    Case(
        "c-truncated",
        _c_seed(lambda t: t[: len(t) // 2 + 200]),
        3,
        r"never ends|has no array|declaration",
    ),
]
