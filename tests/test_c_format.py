"""The C export (issue 19), in-process: exact literals for every dtype, identifiers, read back
strictly, validate, options. The compiled proofs (gcc/g++) are in test_c_compile.py."""

from __future__ import annotations

import re
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import exporter
from exporter.core.errors import InputError
from exporter.formats import c_parse
from exporter.formats import c_source as cs
from exporter.formats import c_text as ct


def bits(values, dtype) -> np.ndarray:
    """An array of dtype from its bit patterns."""
    width = np.dtype(dtype).itemsize
    return np.array(values, dtype=f"<u{width}").view(dtype)


def every_dtype_weightset() -> exporter.WeightSet:
    """Every dtype the issue lists, with the values that break naive writers."""
    f32_min_sub = np.finfo(np.float32).smallest_subnormal
    arrays = {
        "f32/plain": np.random.default_rng(3).normal(size=(4, 5)).astype(np.float32),
        "f32/special": np.array(
            [
                0.0,
                -0.0,
                np.inf,
                -np.inf,
                f32_min_sub,
                -1e-40,
                np.finfo(np.float32).max,
                np.finfo(np.float32).tiny,
                0.1,
            ],
            np.float32,
        ),
        "f32/nan payloads": bits(
            [0x7FC00000, 0xFFC00000, 0x7FC00001, 0x7F800001, 0xFFBFFFFF, 0x3F800000], np.float32
        ),
        "f64/special": np.array(
            [
                0.0,
                -0.0,
                np.inf,
                -np.inf,
                5e-324,
                -2.2250738585072014e-308,
                1.7976931348623157e308,
                1 / 3,
            ],
            np.float64,
        ),
        "f64/nan payloads": bits(
            [0x7FF8000000000000, 0xFFF8000000000001, 0x7FF0000000000001, 0x3FF0000000000000],
            np.float64,
        ),
        "f16": bits([0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E01, 0x0001, 0x3C00, 0xFBFF], np.float16),
        "bf16": bits([0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0x0001, 0x3F80], ml_dtypes.bfloat16),
        "f8/e4m3": bits([0x00, 0x80, 0x7F, 0x01, 0x7E], ml_dtypes.float8_e4m3fn),
        "f8/e5m2": bits([0x00, 0x80, 0x7C, 0x7D, 0x01], ml_dtypes.float8_e5m2),
        "bool": np.array([[True, False, True]]),
        "scalar/f32": np.float32(-2.5),
        "scalar/i64": np.int64(-(2**63)),
        "empty/f32": np.zeros((0, 3), np.float32),
        "empty/u8": np.zeros((2, 0), np.uint8),
        "cube": np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7,
    }
    for kind in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        info = np.iinfo(kind)
        arrays[f"ints/{kind}"] = np.array([info.min, info.max, 0, 1, info.max // 3], kind)
    ws = exporter.WeightSet(info=exporter.ModelInfo(kind="test", model_name="dtypes"))
    for name, array in arrays.items():
        ws.add(exporter.Tensor.from_array(name, np.asarray(array)))
    return ws


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_every_dtype_round_trips_bit_for_bit(tmp_path):
    ws = every_dtype_weightset()
    out = tmp_path / "w.h"
    exporter.export(ws, out)
    back = exporter.load(out)
    assert back.info.kind == "c" and back.names() == ws.names()
    for tensor in ws:
        assert same_bits(back[tensor.name].read(), tensor.read()), tensor.name
    assert exporter.validate(out).ok


def test_float_literals_are_exact_hex_and_nan_tensors_are_bit_patterns(tmp_path):
    out = tmp_path / "w.h"
    exporter.export(every_dtype_weightset(), out)
    text = out.read_text()
    assert "W_ARRAY(w_f32_nan_payloads, uint32_t, 6, 16)" in text
    assert "W_ARRAY(w_f64_nan_payloads, uint64_t, 4, 16)" in text
    assert "W_ARRAY(w_f32_special, float, 9, 16)" in text
    assert "W_ARRAY(w_f16, uint16_t, 8, 16)" in text and "W_ARRAY(w_bool, uint8_t, 3, 16)" in text
    assert " 0x7fc00001," in text and "-INFINITY," in text and "-0x0.000000p+000f," in text
    assert " 0x0.000002p-126f," in text  # the smallest subnormal, exact
    assert "INT64_MIN," in text and " NAN," not in text
    for token in re.findall(r"-?0x[01]\.[0-9a-f]{6}p[+-]\d{3}f", text):  # C's own reading
        mantissa = token[:-1]
        value = np.float32(float.fromhex(mantissa))
        assert float(value) == float.fromhex(mantissa), token  # representable: no rounding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_bit_patterns_format_and_parse_exactly(dtype):
    width = np.dtype(dtype).itemsize
    rng = np.random.default_rng(7)
    values = rng.integers(0, 2 ** (8 * width) - 1, size=100_000, dtype=f"u{width}").view(dtype)
    values = values[~np.isnan(values)]
    ctype = "float" if width == 4 else "double"
    text = b"".join(ct.blocks(values, ctype))
    tokens = [t.strip() for t in text.decode().split(",")[:-1]]
    assert len(tokens) == values.size
    reference = [
        float(t.replace("INFINITY", "inf")) if "INF" in t else float.fromhex(t.rstrip("f"))
        for t in tokens
    ]  # Python's own hex-float reader agrees with the vectorised writer
    assert np.array(reference, dtype).tobytes() == values.tobytes()
    assert c_parse.parse_body(text, ctype, values.size, "t").tobytes() == values.tobytes()


def test_identifier_edge_cases_are_valid_distinct_and_deterministic():
    names = [
        "dense/kernel",
        "dense.kernel",
        "dense-kernel",
        "0/bias",
        "café/β",
        "int",
        "return",
        "a/b",
        "a.b",
        "a_b_2",
        "X_SHAPE",
        "x",
        "tensors",
        "tensor_count",
    ]
    planned = cs.plan_identifiers(names, "w")
    assert planned == cs.plan_identifiers(names, "w")
    assert planned[:4] == ["w_dense_kernel", "w_dense_kernel_2", "w_dense_kernel_3", "w_0_bias"]
    assert planned[4] == "w_caf___"  # every character outside [A-Za-z0-9_], non-ASCII too
    assert planned[5:7] == ["w_int", "w_return"]  # prefixed: never a bare keyword
    assert planned[7:10] == ["w_a_b", "w_a_b_2", "w_a_b_2_2"]
    symbols = [s for ident in planned for s in cs.tensor_symbols("w", ident[2:])]
    assert len(symbols) == len(set(symbols))  # arrays and macros all distinct
    assert all(cs.IDENTIFIER.match(s) for s in symbols)
    own = {s.format(p="w", P="W") for s in cs.OWN_SYMBOLS}
    assert not own & set(symbols)  # `tensors`, `tensor_count` moved aside
    assert "w_tensors" not in planned and "w_tensor_count" not in planned


def test_identifier_planning_with_an_uppercase_prefix_keeps_macros_apart():
    # prefix "W": tensor `x` defines macro W_X_SHAPE, which is the array of a tensor `X_SHAPE`
    planned = cs.plan_identifiers(["x", "X_SHAPE"], "W")
    assert planned == ["W_x", "W_X_SHAPE_2"]


def test_names_survive_in_the_descriptor_and_read_back(tmp_path):
    ws = exporter.WeightSet()
    names = ["café/β", 'quo"te', "tri??=graph", "a*/b", "sp ace", "a/b", "a.b"]
    for index, name in enumerate(names):
        ws.add(exporter.Tensor.from_array(name, np.full(2, index, np.int16)))
    out = tmp_path / "names.h"
    manifest = exporter.export(ws, out)
    text = out.read_text()
    assert text.isascii()  # the manifest comment is ASCII JSON; C strings use octal escapes
    comment = text.split(cs.MANIFEST_END.decode())[0]
    assert "*/" not in comment  # no name ends the manifest comment early
    assert '"a*/b"' in text  # in a string literal, `*/` is only characters
    assert "??=" not in text
    assert '"caf\\303\\251/\\316\\262"' in text and '"tri\\?\\?=graph"' in text
    assert [t["location"] for t in manifest["tensors"]][-2:] == ["names_a_b", "names_a_b_2"]
    back = exporter.load(out)
    assert back.names() == names
    for tensor in ws:
        assert same_bits(back[tensor.name].read(), tensor.read())


def test_default_prefix_is_a_valid_identifier():
    assert cs.default_prefix("out/my-model.v2.h") == "my_model_v2"
    assert cs.default_prefix("2024.h") == "weights_2024"
    assert cs.default_prefix("_x.h") == "weights__x"
    assert cs.IDENTIFIER.match(cs.default_prefix("ü.h"))


def test_options_reach_the_header(tmp_path):
    ws = every_dtype_weightset()
    out = tmp_path / "w.h"
    exporter.export(ws, out, c_prefix="net", c_align=64, c_section=".rodata.net", c_progmem=True)
    text = out.read_text()
    assert "NET_ARRAY(net_f32_plain, float, 20, 64)" in text
    assert "NET_ARRAY(net_f64_special, double, 8, 64)" in text
    assert '__attribute__((section(".rodata.net")))' in text and "PROGMEM" in text
    assert "#include <avr/pgmspace.h>" in text
    assert exporter.validate(out).ok


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"c_align": 3}, "power of two"),
        ({"c_prefix": "9lives"}, "not a C identifier"),
        ({"c_section": 'x")))'}, "c-section"),
    ],
)
def test_bad_c_options_are_usage_errors(tmp_path, cli, options, message):
    with pytest.raises(exporter.UsageError, match=message):
        exporter.export(every_dtype_weightset(), tmp_path / "w.h", **options)
    assert list(tmp_path.iterdir()) == []


def test_c_options_on_another_format_are_refused(tmp_path, cli):
    source = tmp_path / "w.npz"
    exporter.export(every_dtype_weightset(), source)
    result = cli("export", source, "-o", tmp_path / "x.npz", "--c-prefix", "w")
    assert result.exit_code == 2 and "apply to C exports" in result.stderr
    result = cli("export", source, "-o", tmp_path / "x.npz", "--test-vectors", "3")
    assert result.exit_code == 2 and "apply to C exports" in result.stderr


def test_cli_export_inspect_validate_and_diff(tmp_path, cli):
    source = tmp_path / "w.npz"
    exporter.export(every_dtype_weightset(), source)
    assert cli("export", source, "-o", tmp_path / "a.h").exit_code == 0
    result = cli("export", source, "-o", tmp_path / "b.txt", "--format", "c")
    assert result.exit_code == 0, result
    assert (tmp_path / "b.txt").read_bytes().startswith(cs.MAGIC)
    assert cli("inspect", tmp_path / "b.txt").exit_code == 0  # detected by content
    assert cli("validate", tmp_path / "a.h").exit_code == 0
    small = tmp_path / "small.npz"  # (diff itself fails on uint64 extremes: a bug of its own)
    exporter.export(_subset(every_dtype_weightset(), "f32/", "f64/", "cube", "bool"), small)
    assert cli("export", small, "-o", tmp_path / "small.h").exit_code == 0
    assert cli("diff", small, tmp_path / "small.h").exit_code == 0


def _subset(ws: exporter.WeightSet, *prefixes: str) -> exporter.WeightSet:
    out = exporter.WeightSet(info=ws.info)
    for tensor in ws:
        if tensor.name.startswith(prefixes):
            out.add(tensor)
    return out


def test_validate_catches_one_changed_literal(tmp_path, cli):
    out = tmp_path / "w.h"
    exporter.export(every_dtype_weightset(), out)
    text = out.read_text()
    head, body = text.split("W_ARRAY(w_ints_int16, int16_t, 5, 16) = {\n", 1)
    out.write_text(
        head + "W_ARRAY(w_ints_int16, int16_t, 5, 16) = {\n" + body.replace("0x7fff", "0x7ffe", 1)
    )
    report = exporter.validate(out)
    assert [p["tensor"] for p in report.problems] == ["ints/int16"]
    result = cli("validate", out)
    assert result.exit_code == 1 and "ints/int16" in result.stderr


def test_big_header_warns_and_is_still_written_whole(tmp_path, monkeypatch, cli):
    from exporter.formats import c as cfmt

    monkeypatch.setattr(cfmt, "BIG_HEADER_BYTES", 1000)
    source = tmp_path / "w.npz"
    exporter.export(every_dtype_weightset(), source)
    result = cli("export", source, "-o", tmp_path / "w.h")
    assert result.exit_code == 0 and "slow or fail in some toolchains" in result.stderr
    assert exporter.validate(tmp_path / "w.h").ok
    assert "toolchains" not in (tmp_path / "w.h").read_text()  # not a property of the weights


def test_same_weights_give_identical_bytes(tmp_path):
    exporter.export(every_dtype_weightset(), tmp_path / "a.h")
    (tmp_path / "b").mkdir()
    exporter.export(every_dtype_weightset(), tmp_path / "b" / "a.h")
    assert (tmp_path / "a.h").read_bytes() == (tmp_path / "b" / "a.h").read_bytes()


# ---------------------------------------------------------------- strict reading


def _damaged(tmp_path: Path, change) -> Path:
    out = tmp_path / "w.h"
    exporter.export(every_dtype_weightset(), out)
    out.write_bytes(change(out.read_bytes()))
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace(b" 0x7fff,", b" 0x7fff+1,", 1), "not a int16_t literal"),
        (lambda t: t.replace(b" 0x7fff,", b" sizeof(x),", 1), "not a int16_t literal"),
        (lambda t: t.replace(b" 0x7fff,", b" 0x7fff, 0x0001,", 1), "declaration says 5"),
        (lambda t: t.replace(b"-INFINITY,", b" NAN,", 1), "not a float literal"),
        (
            lambda t: t.replace(b"(w_ints_int16, int16_t, 5,", b"(w_ints_int16, float, 5,"),
            "not a C type",
        ),
        (
            lambda t: t.replace(b"(w_ints_int16, int16_t, 5,", b"(w_ints_int16, int16_t, 9,"),
            "manifest says 5",
        ),
    ],
)
def test_a_damaged_array_is_refused_naming_the_tensor(tmp_path, change, message):
    out = _damaged(tmp_path, change)
    ws = exporter.load(out)
    with pytest.raises(InputError, match=message):
        for tensor in ws:
            tensor.read()
    assert not exporter.validate(out).ok


def test_an_overflowing_hex_float_is_refused(tmp_path):
    out = _damaged(tmp_path, lambda t: t.replace(b"0x1.fffffep+127f", b"0x1.fffffep+128f", 1))
    with pytest.raises(InputError, match="not a float literal"):
        exporter.load(out)["f32/special"].read()


def test_a_rewrapped_header_still_reads_exactly(tmp_path):
    out = tmp_path / "w.h"
    exporter.export(every_dtype_weightset(), out)
    text = out.read_text()
    head, rest = text.split("W_ARRAY(w_f32_plain, float, 20, 16) = {\n", 1)
    body, tail = rest.split("};", 1)
    rewrapped = "\n".join("        " + value.strip() + "," for value in body.split(",")[:-1])
    out.write_text(head + "W_ARRAY(w_f32_plain, float, 20, 16) = {\n" + rewrapped + "\n};" + tail)
    assert exporter.validate(out).ok


@pytest.mark.parametrize("slack", [4096, 0])
def test_warnings_found_while_writing_reach_the_manifest_comment(tmp_path, monkeypatch, slack):
    """An edited NPZ (data no longer matching its hashes) warns as its tensors are read, after
    the comment was sized: within the slack it is rewritten in place, beyond it the file is
    written again behind a bigger comment."""
    from test_formats import change_npz, tricky_weightset

    from exporter.formats import c as cfmt

    monkeypatch.setattr(cfmt, "HEAD_SLACK", slack)
    source = tmp_path / "w.npz"
    exporter.export(tricky_weightset(), source)
    change_npz(source)
    manifest = exporter.export(source, tmp_path / "w.h")
    assert any("does not match the manifest's sha256" in w for w in manifest["warnings"])
    back = exporter.load(tmp_path / "w.h")
    assert back.info.extra["manifest"] == manifest
    assert exporter.validate(tmp_path / "w.h").ok
    assert (
        back["dense/kernel"].read().tobytes()
        == exporter.load(source)["dense/kernel"].read().tobytes()
    )


def test_a_manifest_comment_over_the_metadata_limit_is_refused(tmp_path, monkeypatch, cli):
    out = tmp_path / "w.h"
    exporter.export(every_dtype_weightset(), out)
    monkeypatch.setenv("EXPORTER_MAX_METADATA_BYTES", "2000")
    result = cli("inspect", out)
    assert result.exit_code == 3 and "limit for a metadata document" in result.stderr
    monkeypatch.setenv("EXPORTER_MAX_METADATA_BYTES", str(1 << 20))
    assert cli("inspect", out).exit_code == 0
