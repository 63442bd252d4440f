"""The C export compiled by the system's gcc / g++ (issue 19): a generated program includes the
header, walks the descriptor table and writes every array's bytes, which must equal the NPZ
export's bit for bit; a C forward pass over a Keras export reproduces the model's own outputs.
Slow (compilers and programs in subprocesses): listed in conftest.SLOW_MODULES."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_c_format import every_dtype_weightset

import exporter

FLAGS = ["-Wall", "-Wextra", "-Werror", "-pedantic"]
BUILDS = [("gcc", "c99", ".c"), ("gcc", "c11", ".c"), ("g++", "c++17", ".cpp")]


def compiler(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(
            f"no {name} on this machine: the C export is compiled where one exists (CI has gcc)"
        )
    return found


WALK = r"""
#include <stdio.h>
#include <stdint.h>
#include "HEADER"

/* For every tensor: name, dtype, address modulo ALIGN, ndim, dims, nbytes, then the bytes. */
int main(int argc, char **argv) {
    size_t i, k;
    FILE *out;
    if (argc < 2) return 2;
    out = fopen(argv[1], "wb");
    if (!out) return 1;
    for (i = 0; i < PREFIX_tensor_count; i++) {
        const PREFIX_tensor_t *t = &PREFIX_tensors[i];
        fprintf(out, "%s\n%s\n%lu\n%lu\n", t->name, t->dtype,
                (unsigned long)((uintptr_t)t->data % ALIGN), (unsigned long)t->ndim);
        for (k = 0; k < t->ndim; k++) fprintf(out, "%lu\n", (unsigned long)t->shape[k]);
        fprintf(out, "%lu\n", (unsigned long)t->nbytes);
        fwrite(t->data, 1, t->nbytes, out);
        fputc('\n', out);
    }
    return fclose(out) != 0;
}
"""


def build_and_run(
    folder: Path,
    header: Path,
    tool: str,
    std: str,
    ext: str,
    prefix: str,
    align: int = 16,
    extra: tuple[str, ...] = (),
) -> bytes:
    """Compile the walker against header with -Werror and return what it wrote."""
    source = folder / f"walk_{std}{ext}"
    program = WALK.replace("HEADER", header.name).replace("PREFIX", prefix)
    source.write_text(program.replace("ALIGN", str(align)))
    binary = folder / f"walk_{std.replace('+', 'p')}"
    done = subprocess.run(
        [
            compiler(tool),
            f"-std={std}",
            *FLAGS,
            *extra,
            "-I",
            str(header.parent),
            str(source),
            "-o",
            str(binary),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    dump = folder / f"dump_{std}.bin"
    subprocess.run([str(binary), str(dump)], check=True)
    return dump.read_bytes()


def parse_dump(data: bytes) -> list[dict]:
    """The records the walker wrote."""
    rows, at = [], 0

    def line() -> bytes:
        nonlocal at
        end = data.index(b"\n", at)
        text, at = data[at:end], end + 1
        return text

    while at < len(data):
        name, dtype = line().decode(), line().decode()
        misaligned, ndim = int(line()), int(line())
        shape = tuple(int(line()) for _ in range(ndim))
        nbytes = int(line())
        payload, at = data[at : at + nbytes], at + nbytes + 1
        rows.append(
            {
                "name": name,
                "dtype": dtype,
                "misaligned": misaligned,
                "shape": shape,
                "bytes": payload,
            }
        )
    return rows


@pytest.mark.parametrize(("tool", "std", "ext"), BUILDS, ids=[b[1] for b in BUILDS])
def test_compiled_arrays_hold_the_npz_bytes_bit_for_bit(tmp_path, tool, std, ext):
    ws = every_dtype_weightset()
    header, npz = tmp_path / "w.h", tmp_path / "w.npz"
    exporter.export(ws, header)
    exporter.export(ws, npz)
    rows = parse_dump(build_and_run(tmp_path, header, tool, std, ext, "w"))
    assert [row["name"] for row in rows] == ws.names()
    with np.load(npz) as stored:
        for row, tensor in zip(rows, ws, strict=True):
            assert row["dtype"] == tensor.dtype_name, row["name"]
            assert row["shape"] == tensor.shape, row["name"]
            assert row["misaligned"] == 0, row["name"]
            assert row["bytes"] == stored[tensor.name].tobytes(), row["name"]


@pytest.mark.parametrize("align", [64, 4096])
def test_c_align_is_what_the_compiler_gives(tmp_path, align):
    ws = every_dtype_weightset()
    header = tmp_path / "w.h"
    exporter.export(ws, header, c_align=align)
    rows = parse_dump(build_and_run(tmp_path, header, "gcc", "c99", ".c", "w", align))
    assert all(row["misaligned"] == 0 for row in rows)


def test_identifier_edge_cases_compile_and_keep_their_names(tmp_path):
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
        "tri??=graph",
        'quo"te',
        "a*/b",
        "for",
        "static",
    ]
    ws = exporter.WeightSet()
    for index, name in enumerate(names):
        ws.add(exporter.Tensor.from_array(name, np.full(3, index, np.int32)))
    header = tmp_path / "0-odd name.h"
    exporter.export(ws, header)
    for tool, std, ext in BUILDS:
        rows = parse_dump(build_and_run(tmp_path, header, tool, std, ext, "weights_0_odd_name"))
        assert [row["name"] for row in rows] == names  # UTF-8 bytes of the canonical names
        assert [row["bytes"] for row in rows] == [t.read().tobytes() for t in ws]


def test_two_headers_in_one_program(tmp_path):
    ws = every_dtype_weightset()
    exporter.export(ws, tmp_path / "a.h", c_align=32)
    exporter.export(ws, tmp_path / "b.h", c_section=".rodata.b")
    program = tmp_path / "both.c"
    program.write_text(
        '#include "a.h"\n#include "b.h"\n#include "a.h"\n'
        "int main(void) { return (int)(a_tensor_count - b_tensor_count)"
        " + (A_TENSOR_COUNT - B_TENSOR_COUNT); }\n"
    )
    done = subprocess.run(
        [compiler("gcc"), "-std=c11", *FLAGS, str(program), "-o", str(tmp_path / "both")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert subprocess.run([str(tmp_path / "both")]).returncode == 0


def test_section_and_progmem_reach_the_object_file(tmp_path):
    ws = every_dtype_weightset()
    header = tmp_path / "w.h"
    exporter.export(ws, header, c_section=".rodata.weights", c_progmem=True)
    source = tmp_path / "use.c"  # the arrays must be used, or the compiler drops them
    source.write_text(
        '#include "w.h"\nconst void *first(void);\n'
        "const void *first(void) { return w_tensors[0].data; }\n"
    )
    obj = tmp_path / "use.o"
    done = subprocess.run(
        [compiler("gcc"), "-std=c99", *FLAGS, "-c", str(source), "-o", str(obj)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("no objdump to list the sections")
    sections = subprocess.run([objdump, "-h", str(obj)], capture_output=True, text=True).stdout
    assert ".rodata.weights" in sections


# ---------------------------------------------------------------- a Keras model, run in C

FORWARD = r"""
#include <stdio.h>
#include <math.h>
#include "seed.h"

static void dense(const float *x, size_t n_in, const float *kernel, const float *bias,
                  size_t n_out, int relu, float *y) {
    size_t i, j;
    for (j = 0; j < n_out; j++) {
        float sum = bias[j];
        for (i = 0; i < n_in; i++) sum += x[i] * kernel[i * n_out + j]; /* row-major (in, out) */
        y[j] = relu && sum < 0.0f ? 0.0f : sum;
    }
}

int main(void) {
    float h1[64], h2[32], y[1];
    double worst = 0.0;
    size_t row;
    for (row = 0; row < SEED_TEST_COUNT; row++) {
        const float *x = seed_test_inputs + row * 10;
        dense(x, 10, seed_dense_kernel, seed_dense_bias, 64, 1, h1);
        dense(h1, 64, seed_dense_1_kernel, seed_dense_1_bias, 32, 1, h2);
        dense(h2, 32, seed_dense_2_kernel, seed_dense_2_bias, 1, 0, y);
        if (fabs(y[0] - seed_test_outputs[row]) > worst) worst = fabs(y[0] - seed_test_outputs[row]);
    }
    printf("%lu %.3g\n", (unsigned long)SEED_TEST_COUNT, worst);
    return worst > 1e-5;
}
"""


def test_keras_forward_pass_in_c_reproduces_the_test_vectors(tmp_path, cli):
    from exporter.train.data import keras_default
    from exporter.train.keras_train import train

    model = tmp_path / "seed.keras"
    train(keras_default(0), layers=[64, 32], epochs=2, out=str(model))
    header = tmp_path / "seed.h"
    result = cli("export", model, "-o", header, "--test-vectors", "8")
    assert result.exit_code == 0, result
    text = header.read_text()
    assert "SEED_ARRAY(seed_test_inputs, float, 80, 16)" in text
    assert "SEED_ARRAY(seed_test_outputs, float, 8, 16)" in text
    assert exporter.load(header).names() == exporter.load(model).names()  # vectors: not tensors
    source = tmp_path / "forward.c"
    source.write_text(FORWARD)
    binary = tmp_path / "forward"
    done = subprocess.run(
        [
            compiler("gcc"),
            "-std=c99",
            *FLAGS,
            "-I",
            str(tmp_path),
            str(source),
            "-o",
            str(binary),
            "-lm",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    run = subprocess.run([str(binary)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
    assert run.stdout.split()[0] == "8"


NO_FRAMEWORKS = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "onnxruntime", "sklearn"):
            raise ImportError(f"blocked import of {name}")
        return None

sys.meta_path.insert(0, Block())
sys.argv = ["exporter", *sys.argv[1:]]
from exporter.cli.app import main
main()
"""


def test_writing_and_reading_c_never_import_a_framework(tmp_path):
    import sys

    source = tmp_path / "w.npz"
    exporter.export(every_dtype_weightset(), source)
    runs = [
        ["export", source, "-o", tmp_path / "w.h"],
        ["inspect", tmp_path / "w.h"],
        ["validate", tmp_path / "w.h"],
        ["export", tmp_path / "w.h", "-o", tmp_path / "back.npz"],
    ]
    for args in runs:
        done = subprocess.run(
            [sys.executable, "-c", NO_FRAMEWORKS, *map(str, args)], capture_output=True, text=True
        )
        assert done.returncode == 0, (args, done.stderr)
    with np.load(source) as a, np.load(tmp_path / "back.npz") as b:
        names = [k for k in a.files if k != "manifest.json"]
        assert names and all(a[k].tobytes() == b[k].tobytes() for k in names)


@pytest.mark.parametrize(("tool", "std", "ext"), [BUILDS[0], BUILDS[2]], ids=["c99", "c++17"])
def test_many_files_share_one_copy_with_extern_and_implementation(tmp_path, tool, std, ext):
    ws = every_dtype_weightset()
    header, npz = tmp_path / "w.h", tmp_path / "w.npz"
    exporter.export(ws, header)
    exporter.export(ws, npz)
    (tmp_path / f"data{ext}").write_text('#define W_IMPLEMENTATION\n#include "w.h"\n')
    walk = WALK.replace("HEADER", "w.h").replace("PREFIX", "w").replace("ALIGN", "16")
    (tmp_path / f"walk{ext}").write_text("#define W_EXTERN\n" + walk)
    (tmp_path / f"other{ext}").write_text(  # a third file, header-only: its own static copy
        '#include "w.h"\nsize_t other(void);\nsize_t other(void) { return w_tensor_count; }\n'
    )
    binary = tmp_path / "walk"
    done = subprocess.run(
        [
            compiler(tool),
            f"-std={std}",
            *FLAGS,
            *(str(tmp_path / f"{n}{ext}") for n in ("data", "walk", "other")),
            "-o",
            str(binary),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    subprocess.run([str(binary), str(tmp_path / "dump.bin")], check=True)
    rows = parse_dump((tmp_path / "dump.bin").read_bytes())
    with np.load(npz) as stored:
        assert [row["bytes"] for row in rows] == [stored[t.name].tobytes() for t in ws]
    nm = shutil.which("nm")
    if nm:  # one global definition (data's); other's copy, if kept, is local (`r`)
        symbols = subprocess.run([nm, str(binary)], capture_output=True, text=True).stdout
        assert sum(line.endswith(" R w_f32_plain") for line in symbols.splitlines()) == 1


@pytest.mark.parametrize(("tool", "std", "ext"), [BUILDS[0], BUILDS[2]], ids=["c99", "c++17"])
def test_c_split_writes_a_header_of_declarations_and_a_c_file_of_data(tmp_path, tool, std, ext):
    ws = every_dtype_weightset()
    header, npz = tmp_path / "w.h", tmp_path / "w.npz"
    exporter.export(ws, header, c_split=True)
    exporter.export(ws, npz)
    data = tmp_path / "w.c"
    assert data.read_text().endswith('#define W_IMPLEMENTATION\n#include "w.h"\n')
    assert exporter.validate(header).ok  # the header still carries the manifest
    compiled = data if ext == ".c" else data.rename(tmp_path / f"w{ext}")
    walk = WALK.replace("HEADER", "w.h").replace("PREFIX", "w").replace("ALIGN", "16")
    (tmp_path / f"walk{ext}").write_text(walk)  # no macro: the header alone declares
    binary = tmp_path / "walk"
    done = subprocess.run(
        [compiler(tool), f"-std={std}", *FLAGS, str(compiled), str(tmp_path / f"walk{ext}"),
         "-o", str(binary)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    subprocess.run([str(binary), str(tmp_path / "dump.bin")], check=True)
    rows = parse_dump((tmp_path / "dump.bin").read_bytes())
    with np.load(npz) as stored:
        assert [row["bytes"] for row in rows] == [stored[t.name].tobytes() for t in ws]
    nm = shutil.which("nm")
    if nm:  # exactly one definition, from the .c file
        symbols = subprocess.run([nm, str(binary)], capture_output=True, text=True).stdout
        assert sum(line.endswith(" R w_f32_plain") for line in symbols.splitlines()) == 1


def test_c_split_refuses_before_writing_when_the_c_file_exists(tmp_path):
    ws = every_dtype_weightset()
    (tmp_path / "w.c").write_text("keep")
    with pytest.raises(exporter.OutputExistsError):
        exporter.export(ws, tmp_path / "w.h", c_split=True)
    assert (tmp_path / "w.c").read_text() == "keep" and not (tmp_path / "w.h").exists()
