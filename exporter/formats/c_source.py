"""The C text around the values of a C export: identifiers, the manifest comment, the preamble
(include guard, includes, alignment/section macros), each array's head, the descriptor table.

Identifiers: `<prefix>_<id>` where id is the canonical name with every character outside
[A-Za-z0-9_] turned into `_`; macros `<PREFIX>_<ID>_SHAPE/_NDIM/_SIZE`. Every symbol the file
defines is planned in one set, in tensor order: a tensor whose array or macros would meet a
symbol already taken (another tensor's, or one of the file's own like `<prefix>_tensors`) gets
the first free suffix `_2`, `_3`, ... (deterministic).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from exporter.core.errors import UsageError

MAGIC = b"/* exporter.weights C export"
MANIFEST_START = b"EXPORTER-MANIFEST-BEGIN\n"
MANIFEST_END = b"\nEXPORTER-MANIFEST-END */\n"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_OUTSIDE = re.compile(r"[^A-Za-z0-9_]")
# The file's own symbols, beside the tensors' (`{p}` the prefix, `{P}` it in capitals).
OWN_SYMBOLS = (
    "{P}_H_INCLUDED", "{P}_ALIGN", "{P}_ATTRS", "{P}_ARRAY", "{P}_TENSOR_COUNT", "{p}_tensor",
    "{p}_tensor_t", "{p}_tensors", "{p}_tensor_count", "{p}_shapes", "{P}_TEST_COUNT",
    "{p}_test_inputs", "{p}_test_outputs", "{P}_TEST_INPUTS_SHAPE", "{P}_TEST_OUTPUTS_SHAPE",
    "{P}_TEST_INPUTS_SIZE", "{P}_TEST_OUTPUTS_SIZE", "{P}_TEST_INPUTS_NDIM",
    "{P}_TEST_OUTPUTS_NDIM", "{P}_EXTERN", "{P}_IMPLEMENTATION", "{P}_DEFINITIONS", "{P}_STORAGE",
)  # fmt: skip
TEST_ARRAYS = ("inputs", "outputs")


def c_identifier(text: str) -> str:
    """text with every character outside [A-Za-z0-9_] turned into `_`."""
    return _OUTSIDE.sub("_", text)


def default_prefix(path: str | os.PathLike) -> str:
    """The output file's stem made a valid identifier (`weights_` in front of one that would
    start with a digit or `_`, or be empty)."""
    stem = Path(path).name
    for suffix in (".h", ".c"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    ident = c_identifier(stem)
    return ident if ident and ident[0].isalpha() else f"weights_{ident}".rstrip("_")


def check_prefix(prefix: str) -> str:
    if not IDENTIFIER.match(prefix):
        raise UsageError(f"--c-prefix {prefix!r} is not a C identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return prefix


def tensor_symbols(prefix: str, ident: str) -> tuple[str, ...]:
    """The array and the macros a tensor with identifier ident defines."""
    upper = f"{prefix}_{ident}".upper()
    return (f"{prefix}_{ident}", f"{upper}_SHAPE", f"{upper}_NDIM", f"{upper}_SIZE")


def plan_identifiers(names: list[str], prefix: str) -> list[str]:
    """The C identifier (`<prefix>_<id>`) of each name, in order, all symbols distinct."""
    taken = {s.format(p=prefix, P=prefix.upper()) for s in OWN_SYMBOLS}
    planned = []
    for name in names:
        base = c_identifier(name)
        ident, count = base, 1
        while any(symbol in taken for symbol in tensor_symbols(prefix, ident)):
            count += 1
            ident = f"{base}_{count}"
        taken.update(tensor_symbols(prefix, ident))
        planned.append(f"{prefix}_{ident}")
    return planned


def c_string(text: str) -> str:
    """A C string literal of text's UTF-8 bytes: printable ASCII as is (`?` escaped against
    trigraphs), everything else as three-digit octal escapes."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\?':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def manifest_comment(manifest: dict[str, Any], version: str, width: int = 0) -> bytes:
    """The opening comment: a fixed first line, then the manifest as ASCII JSON in which `*/`
    cannot occur (`/` after `*` is written `\\/`) and `?` is `\\u003f` (no trigraphs); padded
    with a line of spaces (JSON whitespace) to width bytes when it is shorter."""
    text = json.dumps(manifest, indent=2, ensure_ascii=True, allow_nan=False)
    text = text.replace("*/", "*\\/").replace("?", "\\u003f")
    head = (
        MAGIC + f" (format {manifest['format_version']}, exporter {version}).\n".encode() + b"   "
        b"Generated: do not edit. `exporter validate` checks the values against this manifest.\n"
    )
    comment = head + MANIFEST_START + text.encode("ascii")
    missing = width - len(comment) - len(MANIFEST_END)
    if missing > 0:
        comment += b"\n" + b" " * (missing - 1)
    return comment + MANIFEST_END


def preamble(
    prefix: str, align: int, section: str | None, progmem: bool, split: bool = False
) -> str:
    """Guard, includes, the C++ guard and the macros every array is defined through."""
    p = prefix.upper()
    attrs = []
    if section:
        attrs.append(f"__attribute__((section({c_string(section)})))")
    lines = [
        f"#ifndef {p}_H_INCLUDED",
        f"#define {p}_H_INCLUDED",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "#include <math.h> /* INFINITY */",
    ]
    if progmem:
        lines += ["#if defined(__AVR__)", "#include <avr/pgmspace.h>", "#endif"]
    lines += [
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"/* Alignment of every array (at least {align} bytes; define {p}_ALIGN to override). */",
        f"#ifndef {p}_ALIGN",
        "#if defined(__cplusplus) && __cplusplus >= 201103L",
        f"#define {p}_ALIGN(n) alignas(n)",
        "#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L",
        f"#define {p}_ALIGN(n) _Alignas(n)",
        "#elif defined(__GNUC__) || defined(__clang__)",
        f"#define {p}_ALIGN(n) __attribute__((aligned(n)))",
        "#elif defined(__CC_ARM)",
        f"#define {p}_ALIGN(n) __align(n)",
        "#elif defined(_MSC_VER)",
        f"#define {p}_ALIGN(n) __declspec(align(n))",
        "#else",
        f"#define {p}_ALIGN(n)",
        "#endif",
        "#endif",
        "",
        *_attrs_macro(p, attrs, progmem),
        "",
        *(_split_storage_macros(p) if split else _storage_macros(p)),
        "/* Every array: aligned, const, in the section asked for. */",
        f"#define {p}_ARRAY(name, type, count, align) \\",
        f"    {p}_ALIGN(align) {p}_STORAGE const type name[count] {p}_ATTRS",
        "",
        "/* Values: float/double as hexadecimal floating constants (exact bits); float16,",
        "   bfloat16 and float8 as uint16_t/uint8_t bit patterns; bool as uint8_t; a float",
        "   tensor holding a NaN as uint32_t/uint64_t bit patterns (C has no portable constant",
        "   for a NaN's payload). The descriptor's dtype names the real type. */",
        "",
    ]
    return "\n".join(lines) + "\n"


def _storage_macros(p: str) -> list[str]:
    """Header-only by default; P_EXTERN / P_IMPLEMENTATION for a project of many files."""
    return [
        "/* Storage. By default every array is `static const`: include this header anywhere",
        "   (each file that uses an array gets its own copy). In a project that includes it",
        f"   from many files, define {p}_EXTERN before every #include and {p}_IMPLEMENTATION",
        "   (instead) in exactly one .c/.cpp file: one copy of the data, with external",
        "   linkage, and `extern` declarations everywhere else. */",
        f"#if defined({p}_IMPLEMENTATION)",
        f"#define {p}_DEFINITIONS 1",
        "#ifdef __cplusplus",
        f"#define {p}_STORAGE extern /* C++ const objects have internal linkage otherwise */",
        "#else",
        f"#define {p}_STORAGE",
        "#endif",
        f"#elif defined({p}_EXTERN)",
        f"#define {p}_DEFINITIONS 0",
        "#else",
        f"#define {p}_DEFINITIONS 1",
        f"#define {p}_STORAGE static",
        "#endif",
        "",
    ]


def _split_storage_macros(p: str) -> list[str]:
    """--c-split: the header declares (`extern`), the companion .c defines (P_IMPLEMENTATION)."""
    return [
        "/* Storage (--c-split): this header declares every array `extern`; the .c file written",
        f"   beside it defines {p}_IMPLEMENTATION and includes this header: compile and link it",
        "   once, include the header anywhere. */",
        f"#if defined({p}_IMPLEMENTATION)",
        f"#define {p}_DEFINITIONS 1",
        "#ifdef __cplusplus",
        f"#define {p}_STORAGE extern",
        "#else",
        f"#define {p}_STORAGE",
        "#endif",
        "#else",
        f"#define {p}_DEFINITIONS 0",
        "#endif",
        "",
    ]


def companion_source(prefix: str, header: str) -> str:
    """The .c file of --c-split: the one place the arrays are defined."""
    p = prefix.upper()
    return (
        f"/* The data of {header} (exporter export --c-split): compile and link this file once. */\n"
        f"#define {p}_IMPLEMENTATION\n"
        f'#include "{header}"\n'
    )


def _attrs_macro(p: str, attrs: list[str], progmem: bool) -> list[str]:
    lines = ["/* Placement of every array (--c-section, --c-const-progmem). */"]
    gnu = " ".join(attrs)
    if progmem:
        lines += ["#if defined(__AVR__)", f"#define {p}_ATTRS {gnu} PROGMEM".replace("  ", " ")]
        lines += ["#elif defined(__GNUC__) || defined(__clang__) || defined(__CC_ARM)"]
    else:
        lines += ["#if defined(__GNUC__) || defined(__clang__) || defined(__CC_ARM)"]
    lines += [f"#define {p}_ATTRS {gnu}".rstrip(), "#else", f"#define {p}_ATTRS", "#endif"]
    return lines


def array_head(
    prefix: str, ident: str, ctype: str, count: int, align: int, shape: tuple[int, ...]
) -> str:
    """The macros of one array and the line that opens its definition."""
    upper = ident.upper()
    dims = ", ".join(str(d) for d in shape) if shape else "0"
    note = "" if shape else " /* a scalar: no dimensions */"
    empty = "/* no values: one placeholder element, SIZE is 0 */\n" if 0 in shape else ""
    size = 1
    for d in shape:
        size *= d
    return (
        f"#define {upper}_NDIM {len(shape)}\n#define {upper}_SIZE {size}\n"
        f"#define {upper}_SHAPE {{{dims}}}{note}\n{empty}"
        f"#if {prefix.upper()}_DEFINITIONS\n"
        f"{prefix.upper()}_ARRAY({ident}, {ctype}, {count}, {align}) = {{\n"
    )


def array_tail(ident: str, ctype: str, count: int, prefix: str) -> str:
    """What closes an array: its brace, and its declaration for files that only declare."""
    return f"}};\n#else\nextern const {ctype} {ident}[{count}];\n#endif /* {prefix.upper()}_DEFINITIONS */\n\n"


def descriptor(prefix: str, rows: list[tuple[str, str, str, int, tuple[int, ...]]]) -> str:
    """The struct type, the shapes and the table of (name, dtype, identifier, nbytes, shape)."""
    p = prefix.upper()
    dims = [d for *_, shape in rows for d in shape]
    shapes = ", ".join(str(d) for d in dims) or "0"
    lines = [
        "/* Every tensor, in the manifest's order: iterate without knowing names. */",
        f"typedef struct {prefix}_tensor {{",
        "    const char *name;    /* canonical name, UTF-8 */",
        "    const char *dtype;   /* manifest dtype: float32, bfloat16, int8, bool, ... */",
        "    const void *data;    /* the values, C order, in the target's byte order */",
        "    size_t nbytes;",
        "    size_t ndim;",
        "    const size_t *shape; /* ndim dimensions */",
        f"}} {prefix}_tensor_t;",
        "",
        f"#define {p}_TENSOR_COUNT {len(rows)}",
        f"#if {p}_DEFINITIONS",
        f"{p}_STORAGE const size_t {prefix}_tensor_count = {len(rows)};",
        f"{p}_STORAGE const size_t {prefix}_shapes[{max(len(dims), 1)}] = {{{shapes}}};",
        f"{p}_STORAGE const {prefix}_tensor_t {prefix}_tensors[{max(len(rows), 1)}] = {{",
    ]
    at = 0
    for name, dtype, ident, nbytes, shape in rows:
        lines.append(
            f"    {{{c_string(name)}, {c_string(dtype)}, {ident}, {nbytes}, {len(shape)}, "
            f"{prefix}_shapes + {at}}},"
        )
        at += len(shape)
    if not rows:
        lines.append(f'    {{"", "", NULL, 0, 0, {prefix}_shapes}}')
    lines += [
        "};",
        "#else",
        f"extern const size_t {prefix}_tensor_count;",
        f"extern const size_t {prefix}_shapes[{max(len(dims), 1)}];",
        f"extern const {prefix}_tensor_t {prefix}_tensors[{max(len(rows), 1)}];",
        "#endif",
    ]
    return "\n".join(lines) + "\n"


def postamble(prefix: str) -> str:
    return f"\n#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {prefix.upper()}_H_INCLUDED */\n"
