"""Hostile cases of issue #12, class 6: declared sizes that reach an allocation.

- Metadata bombs: a `.keras` config.json, an NPZ manifest.json (and its numpy re-save
  `manifest.json.npy`) and a skops schema.json that inflate to hundreds of MB of `{},` within
  the 200x ratio. Python's json turns `{},` into ~24x its text, so parsing one would need
  several GB; they are refused from the zip headers by the absolute metadata limit.
- Shapes whose element count wraps in int64 (`np.prod([2**32, 2**32, 16])` is 0,
  `np.prod([2**62 + 1, 4])` is 4) in ONNX initializers, Constant and sparse tensors, external
  data, and HDF5 datasets (legacy `.h5`, `.weights.h5`, inside a `.keras`): refused naming the
  tensor, before any size check is fooled or anything is allocated.

Bombs are built once per process (a few seconds each) and copied into each case's folder.
"""

from __future__ import annotations

import functools
import io
import json
import random
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
from hostile_corpus import (
    Case,
    dense_config,
    export_seed,
    keras_zip,
    legacy_h5,
    skops_file,
    weights_h5,
    weights_h5_bytes,
)

BOMB_BYTES = 300 << 20  # what the issue found: hundreds of MB of `{},`
NPZ_BOMB_BYTES = 250 << 20  # under the NPZ reader's own 256 MiB manifest check
WRAP_TO_ZERO = [2**32, 2**32, 16]  # int64 product 0
WRAP_TO_FOUR = [2**62 + 1, 4]  # int64 product 4: 16 bytes of float32 "match"
METADATA_MESSAGE = "limit for a metadata document"
SHAPE_MESSAGE = "more elements than any array can hold"
_CACHE = tempfile.TemporaryDirectory(prefix="hostile_sizes_")


# ---------------------------------------------------------------- JSON bombs


def _bomb_block() -> bytes:
    """3.6 MB of `{},` with a little random whitespace: deflates about 120x, under the 200x
    ratio the archive check refuses, while json.loads makes ~24x its size of objects."""
    rng = random.Random(12)
    parts = []
    for _ in range(4000):
        parts.append(b"{}," * 300)
        parts.append(bytes(rng.choice(b" \t\n\r") for _ in range(8)))
    return b"".join(parts)


def json_bomb(size: int) -> Iterator[bytes]:
    """Valid JSON text of about size bytes: a Keras-looking config padded with `{},`."""
    yield b'{"class_name": "Sequential", "config": {"layers": [], "pad": ['
    block = _bomb_block()
    for _ in range(size // len(block)):
        yield block
    yield b'{}]}, "format": "exporter.weights"}'


def _deflated_member(archive: zipfile.ZipFile, name: str, chunks: Iterator[bytes]) -> None:
    info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as handle:
        for chunk in chunks:
            handle.write(chunk)


def _replace_member(source: Path, target: Path, member: str, chunks: Iterator[bytes]) -> Path:
    """A copy of the zip source with member (dropped from source) written from chunks."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            if info.filename not in (member, member.removesuffix(".npy")):
                dst.writestr(info, src.read(info.filename), info.compress_type)
        _deflated_member(dst, member, chunks)
    return target


def _npy_of_text(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """A .npy holding a 0-d bytes array of size bytes (how numpy re-saves a manifest)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": f"|S{size}", "fortran_order": False, "shape": ()}
    )
    yield header.getvalue()
    written = 0
    for chunk in chunks:
        chunk = chunk[: size - written]
        written += len(chunk)
        yield chunk
    yield b" " * (size - written)


@functools.cache
def _cached_bomb(kind: str) -> Path:
    folder = Path(_CACHE.name) / kind
    folder.mkdir()
    if kind == "keras":
        seed = keras_zip(folder / "seed.keras")
        return _replace_member(
            seed, folder / "config_bomb.keras", "config.json", json_bomb(BOMB_BYTES)
        )
    if kind == "npz":
        seed = export_seed(folder, "npz")
        bomb = json_bomb(NPZ_BOMB_BYTES)
        return _replace_member(seed, folder / "manifest_bomb.npz", "manifest.json", bomb)
    if kind == "npz-resaved":
        seed = export_seed(folder, "npz")
        text = _npy_of_text(json_bomb(NPZ_BOMB_BYTES), NPZ_BOMB_BYTES)
        return _replace_member(seed, folder / "resaved_bomb.npz", "manifest.json.npy", text)
    seed = skops_file(folder / "seed.skops")
    return _replace_member(seed, folder / "schema_bomb.skops", "schema.json", json_bomb(BOMB_BYTES))


def bomb(kind: str) -> Callable[[Path], Path]:
    """A builder copying the cached bomb of kind (keras, npz, npz-resaved, skops) into folder."""

    def build(folder: Path) -> Path:
        source = _cached_bomb(kind)
        return Path(shutil.copyfile(source, folder / source.name))

    return build


# ---------------------------------------------------------------- ONNX shapes that wrap


def _float_tensor(name: str, dims: list[int], raw: bytes):
    from onnx import TensorProto

    return TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims, raw_data=raw)


def _save_onnx(path: Path, graph) -> Path:
    import onnx
    import onnx_models as om

    onnx.save(om.model(graph, check=False), path)
    return path


def _onnx_initializer(dims: list[int], raw: bytes) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        import onnx_models as om

        tensors = [_float_tensor("b", [2], b"\x00" * 8), _float_tensor("W", dims, raw)]
        return _save_onnx(folder / "wrap.onnx", om.identity_graph(tensors))

    return build


def _onnx_external_wrap(folder: Path) -> Path:
    """External data of length 0 for dims whose int64 product is 0."""
    import onnx_models as om
    from onnx import TensorProto

    (folder / "weights.bin").write_bytes(b"\x00" * 64)
    tensor = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=WRAP_TO_ZERO)
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "0")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    graph = om.identity_graph([_float_tensor("b", [2], b"\x00" * 8), tensor])
    return _save_onnx(folder / "wrap_external.onnx", graph)


def _onnx_constant_wrap(folder: Path) -> Path:
    import onnx_models as om
    from onnx import helper

    value = _float_tensor("c", WRAP_TO_FOUR, b"\x00" * 16)
    node = helper.make_node("Constant", [], ["c"], value=value)
    graph = om.identity_graph([_float_tensor("b", [2], b"\x00" * 8)], nodes=[node])
    return _save_onnx(folder / "wrap_constant.onnx", graph)


def _onnx_sparse_wrap(folder: Path) -> Path:
    import onnx_models as om
    from onnx import TensorProto, helper

    values = _float_tensor("s", WRAP_TO_FOUR, b"\x00" * 16)
    indices = TensorProto(name="s_i", data_type=TensorProto.INT64, dims=[4], int64_data=[0] * 4)
    sparse = helper.make_sparse_tensor(values, indices, [8])
    graph = om.identity_graph([_float_tensor("b", [2], b"\x00" * 8)], sparse=[sparse])
    return _save_onnx(folder / "wrap_sparse.onnx", graph)


def _onnx_sparse_dense_shape(folder: Path) -> Path:
    import onnx_models as om
    from onnx import TensorProto, helper

    values = _float_tensor("s", [1], b"\x00" * 4)
    indices = TensorProto(name="s_i", data_type=TensorProto.INT64, dims=[1], int64_data=[0])
    sparse = helper.make_sparse_tensor(values, indices, [*WRAP_TO_ZERO, 2**40])
    graph = om.identity_graph([_float_tensor("b", [2], b"\x00" * 8)], sparse=[sparse])
    return _save_onnx(folder / "wrap_dense_shape.onnx", graph)


def _onnx_constant_of_shape_wrap(folder: Path) -> Path:
    import onnx_models as om
    from onnx import helper

    value = _float_tensor("v", WRAP_TO_ZERO, b"")
    node = helper.make_node("ConstantOfShape", ["shape"], ["filled"], value=value)
    graph = om.identity_graph([_float_tensor("b", [2], b"\x00" * 8)], nodes=[node])
    return _save_onnx(folder / "wrap_fill.onnx", graph)


# ---------------------------------------------------------------- HDF5 shapes that wrap


def _replace_dataset(path: Path, dataset: str, shape: list[int]) -> None:
    with h5py.File(path, "r+") as f:
        del f[dataset]
        f.create_dataset(
            dataset, tuple(shape), "f4", chunks=(1,) * (len(shape) - 1) + (min(shape[-1], 4),)
        )


def _h5_wrap(shape: list[int]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = legacy_h5(folder / "wrap.h5")
        _replace_dataset(path, "model_weights/dense/seq/dense/kernel", shape)
        return path

    return build


def _weights_h5_wrap(folder: Path) -> Path:
    path = folder / "wrap.weights.h5"
    weights_h5(path)
    _replace_dataset(path, "layers/dense/vars/0", WRAP_TO_ZERO)
    return path


def _keras_wrap(folder: Path) -> Path:
    inner = folder / "inner.weights.h5"
    inner.write_bytes(weights_h5_bytes())
    _replace_dataset(inner, "layers/dense/vars/0", WRAP_TO_FOUR)
    path = keras_zip(folder / "wrap.keras", dense_config(), inner.read_bytes())
    inner.unlink()
    return path


def h5_config_attribute(folder: Path, pad: int) -> Path:
    """A legacy .h5 whose model_config attribute is a valid config padded by pad spaces (the
    test lowers the limit with EXPORTER_MAX_METADATA_BYTES instead of writing 64 MiB)."""
    path = legacy_h5(folder / "config_attr.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = json.dumps(dense_config()) + " " * pad
    return path


CASES: list[Case] = [
    Case("keras-config-json-bomb", bomb("keras"), 3, METADATA_MESSAGE),
    Case("npz-manifest-json-bomb", bomb("npz"), 3, METADATA_MESSAGE),
    Case("npz-resaved-manifest-bomb", bomb("npz-resaved"), 3, METADATA_MESSAGE),
    Case("skops-schema-json-bomb", bomb("skops"), 3, METADATA_MESSAGE),
    Case("onnx-dims-wrap-to-zero", _onnx_initializer(WRAP_TO_ZERO, b""), 3, SHAPE_MESSAGE),
    Case("onnx-dims-wrap-to-four", _onnx_initializer(WRAP_TO_FOUR, b"\0" * 16), 3, SHAPE_MESSAGE),
    Case("onnx-external-dims-wrap", _onnx_external_wrap, 3, SHAPE_MESSAGE),
    Case("onnx-constant-dims-wrap", _onnx_constant_wrap, 3, SHAPE_MESSAGE),
    Case("onnx-sparse-values-wrap", _onnx_sparse_wrap, 3, SHAPE_MESSAGE),
    Case("onnx-sparse-dense-shape-wrap", _onnx_sparse_dense_shape, 3, SHAPE_MESSAGE),
    Case("onnx-constant-of-shape-wrap", _onnx_constant_of_shape_wrap, 3, SHAPE_MESSAGE),
    Case("h5-dims-wrap-to-zero", _h5_wrap(WRAP_TO_ZERO), 3, SHAPE_MESSAGE),
    Case("h5-dims-wrap-to-four", _h5_wrap(WRAP_TO_FOUR), 3, SHAPE_MESSAGE),
    Case("weights-h5-dims-wrap", _weights_h5_wrap, 3, SHAPE_MESSAGE),
    Case("keras-dims-wrap", _keras_wrap, 3, SHAPE_MESSAGE),
]
