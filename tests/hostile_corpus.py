"""Seed files of every kind exporter reads, and the hostile corpus made from them.

Nothing here is a committed binary: every file is written by the functions below, small and
deterministic. Keras files are written with h5py and zipfile directly, following the layouts in
FORMATS.md (A: full-model `.h5`, D: `.weights.h5`, E: `.keras`), so no TensorFlow is needed.

A hostile case is `Case(name, build, code, message)`: `build(folder)` writes the bad input inside
folder (and anything it points to) and returns its path; the CLI must exit with `code` and print
one line on stderr matching the regex `message` and naming the file.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import ml_dtypes
import numpy as np

import exporter
from exporter.core.weightset import Tensor, WeightSet

# ---------------------------------------------------------------- seed tensors


def seed_weightset() -> WeightSet:
    """A few tensors of different dtypes and ranks (values chosen to be awkward)."""
    ws = WeightSet()
    ws.add(Tensor.from_array("dense/kernel", (np.arange(6, dtype=np.float32) / 7).reshape(2, 3)))
    ws.add(Tensor.from_array("dense/bias", np.array([0.5, -0.0, np.inf], np.float32)))
    ws.add(Tensor.from_array("steps", np.array([1, -2, 3, 2**40], np.int64)))
    ws.add(Tensor.from_array("scale", np.array(1.5, np.float16)))
    ws.add(Tensor.from_array("mask", np.array([True, False])))
    ws.add(Tensor.from_array("half", np.array([1.0, -2.5], ml_dtypes.bfloat16)))
    return ws


def export_seed(folder: Path, fmt: str, name: str | None = None, **kw) -> Path:
    """The seed WeightSet exported in fmt (npz, json, csv, csv-long, safetensors)."""
    layout = "long" if fmt == "csv-long" else "wide"
    fmt = "csv" if fmt == "csv-long" else fmt
    out = folder / (name or f"seed_{layout}.{fmt}" if fmt == "csv" else name or f"seed.{fmt}")
    exporter.export(seed_weightset(), out, format=fmt, csv_layout=layout, **kw)
    return out


# ---------------------------------------------------------------- Keras files (h5py only)

KERNEL = np.arange(6, dtype=np.float32).reshape(3, 2) / 3
BIAS = np.array([0.25, -1.0], np.float32)


def dense_config(name: str = "dense", extra_layers: list | None = None) -> dict:
    """A Keras 3 Sequential config: Input(3) -> Dense(2), plus extra layer configs."""
    layers = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "input_layer"},
            "registered_name": None,
        },
        {
            "module": "keras.layers",
            "class_name": "Dense",
            "config": {"name": name, "trainable": True, "units": 2, "use_bias": True},
            "registered_name": None,
            "build_config": {"input_shape": [None, 3]},
        },
        *(extra_layers or []),
    ]
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "seq", "trainable": True, "layers": layers},
        "registered_name": None,
    }


def lambda_layer() -> dict:
    """A Lambda layer config as Keras 3 writes it (marshalled bytecode, base64)."""
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "trainable": True,
            "function": {
                "class_name": "__lambda__",
                "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAACAAAA", "defaults": None},
            },
        },
        "registered_name": None,
    }


def legacy_h5(path: Path, config: dict | None = None, layer: str = "dense") -> Path:
    """Layout A: a Keras 3 full-model .h5 with one Dense layer."""
    config = config or dense_config(layer)
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["model_config"] = json.dumps(config)
        mw = f.create_group("model_weights")
        mw.attrs["backend"] = "tensorflow"
        mw.attrs["keras_version"] = "3.15.1"
        mw.attrs["layer_names"] = np.array([layer.encode()], dtype=object)
        group = mw.create_group(layer)
        group.attrs["weight_names"] = np.array(
            [f"seq/{layer}/kernel".encode(), f"seq/{layer}/bias".encode()], dtype=object
        )
        group[f"seq/{layer}/kernel"] = KERNEL
        group[f"seq/{layer}/bias"] = BIAS
        top = mw.create_group("top_level_model_weights")
        top.attrs["weight_names"] = np.array([], dtype=np.float64)
    return path


def weights_h5(target, layer: str = "dense") -> None:
    """Layout D into a path or file object."""
    with h5py.File(target, "w") as f:
        f.create_group("layers")
        vars_ = f.create_group(f"layers/{layer}/vars")
        vars_.attrs["name"] = layer
        vars_["0"] = KERNEL
        vars_["1"] = BIAS
        f.create_group("vars").attrs["name"] = "seq"


def weights_h5_bytes(layer: str = "dense") -> bytes:
    buffer = io.BytesIO()
    weights_h5(buffer, layer)
    return buffer.getvalue()


def keras_zip(path: Path, config: dict | None = None, weights: bytes | None = None) -> Path:
    """Layout E: metadata.json, config.json and model.weights.h5, all stored."""
    members = {
        "metadata.json": json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01"}),
        "config.json": json.dumps(config or dense_config()),
        "model.weights.h5": weights if weights is not None else weights_h5_bytes(),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


# ---------------------------------------------------------------- ONNX and skops


def onnx_file(path: Path) -> Path:
    import onnx
    import onnx_models as om
    from onnx import numpy_helper

    weights = numpy_helper.from_array(KERNEL, "W")
    bias = numpy_helper.from_array(BIAS, "b")
    onnx.save(om.model(om.identity_graph([weights, bias])), path)
    return path


def skops_file(path: Path, estimator=None) -> Path:
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    if estimator is None:
        x = np.arange(12, dtype=np.float64).reshape(6, 2)
        estimator = LinearRegression().fit(x, x @ [1.5, -2.0] + 0.25)
    sio.dump(estimator, path)
    return path


# ---------------------------------------------------------------- all seeds

SEED_KINDS = (
    "npz", "json", "csv", "csv-long", "safetensors", "h5", "weights.h5", "keras", "onnx", "skops",
    "npz-resaved", "onnx-external", "skops-forest",
)  # fmt: skip
# Seeds whose model file reads other files beside it: the fuzz test copies (and mutates) the
# whole folder, so a mutated side file is met too.
FOLDER_SEEDS = ("onnx-external",)


def make_seed(folder: Path, kind: str) -> Path:
    """One valid seed file (or CSV folder) of kind in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind in ("npz", "json", "csv", "csv-long", "safetensors"):
        return export_seed(folder, kind)
    if kind == "h5":
        return legacy_h5(folder / "seed.h5")
    if kind == "weights.h5":
        path = folder / "seed.weights.h5"
        weights_h5(path)
        return path
    if kind == "keras":
        return keras_zip(folder / "seed.keras")
    if kind == "onnx":
        return onnx_file(folder / "seed.onnx")
    if kind == "skops":
        return skops_file(folder / "seed.skops")
    return _round_two_seed(folder, kind)


def _round_two_seed(folder: Path, kind: str) -> Path:
    """Seeds for the classes of issue #12: an NPZ edited and re-saved with numpy (its manifest
    becomes a 0-d unicode `manifest.json.npy`), ONNX with external data in a subfolder, and a
    skops forest (many trusted sklearn/numpy types in its schema)."""
    if kind == "npz-resaved":
        original = export_seed(folder, "npz", "original.npz")
        with np.load(original) as data:
            arrays = {key: data[key] for key in data.files}
        path = folder / "seed_resaved.npz"
        np.savez(path, **arrays)
        return path
    if kind == "onnx-external":
        import onnx_models as om

        (folder / "data").mkdir(exist_ok=True)
        path, _ = om.external_model(folder, location="data/weights.bin")
        return path
    if kind == "skops-forest":
        from sklearn.ensemble import RandomForestClassifier

        x = np.arange(40, dtype=np.float64).reshape(20, 2) % 7
        forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0)
        return skops_file(folder / "seed_forest.skops", forest.fit(x, np.arange(20) % 2))
    raise ValueError(kind)


# ---------------------------------------------------------------- byte-level damage


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def flip(path: Path, offset: int, mask: int = 0xFF) -> Path:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= mask
    path.write_bytes(bytes(data))
    return path


def rewrite_zip(path: Path, change: Callable[[str, bytes], tuple[str, bytes] | None]) -> Path:
    """Rewrite every member of a zip through change(name, data) -> (name, data) or None (drop)."""
    with zipfile.ZipFile(path) as src:
        items = [(info.filename, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for name, data in items:
            changed = change(name, data)
            if changed is not None:
                dst.writestr(zipfile.ZipInfo(changed[0], (1980, 1, 1, 0, 0, 0)), changed[1])
    return path


def edit_manifest(manifest: dict, tensor: str, **changes) -> dict:
    for entry in manifest["tensors"]:
        if entry["name"] == tensor:
            entry.update(changes)
    return manifest


def rename_in_manifest(manifest: dict, old: str, new: str) -> dict:
    for entry in manifest["tensors"]:
        if entry["name"] == old:
            entry["name"] = new
            entry["location"] = entry["location"].replace(old, new)
    return manifest


def npz_with_manifest(folder: Path, name: str, change: Callable[[dict], dict]) -> Path:
    """The seed NPZ export whose manifest.json went through change."""
    path = export_seed(folder, "npz", name)

    def member(member_name: str, data: bytes):
        if member_name == "manifest.json":
            return member_name, json.dumps(change(json.loads(data))).encode()
        return member_name, data

    return rewrite_zip(path, member)


def json_with(folder: Path, name: str, change: Callable[[dict], dict]) -> Path:
    path = export_seed(folder, "json", name)
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return path


def csv_with_manifest(folder: Path, name: str, change: Callable[[dict], dict]) -> Path:
    path = export_seed(folder, "csv", name)
    manifest = path / "manifest.json"
    manifest.write_text(json.dumps(change(json.loads(manifest.read_text()))))
    return path


def safetensors_raw(path: Path, header: dict, data: bytes = b"") -> Path:
    """A safetensors file with exactly this header and data (no checks)."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def npz_raw(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header_only(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """A .npy header declaring shape, with no data after it."""
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def zip_bomb(path: Path, member: str, size: int, extra: dict[str, bytes] | None = None) -> Path:
    """A zip whose member inflates `size` zero bytes from a few KiB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
        info = zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as handle:
            block = b"\x00" * (1 << 20)
            for _ in range(size >> 20):
                handle.write(block)
    return path


def lying_zip(path: Path, member: str, real: bytes, declared: int, prefix: dict | None = None):
    """A deflated member whose headers claim `declared` bytes while it inflates to len(real)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (prefix or {}).items():
            archive.writestr(name, data)
        archive.writestr(zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0)), real, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    encoded = member.encode()
    size = struct.pack("<I", len(real))
    fake = struct.pack("<I", declared)
    # uncompressed size: local header at +22, central directory header at +24
    for signature, offset_of_size, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_at : start + name_at + len(encoded)] == encoded:
                assert data[start + offset_of_size : start + offset_of_size + 4] == size
                data[start + offset_of_size : start + offset_of_size + 4] = fake
            start += 4
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    """One hostile input: how to build it, the exit code and the stderr line it must give."""

    name: str
    build: Callable[[Path], Path]
    code: int
    message: str
    commands: tuple[str, ...] = ("inspect", "export")


def _seed(kind: str, then: Callable[[Path], Path] | None = None):
    def build(folder: Path) -> Path:
        path = make_seed(folder, kind)
        return then(path) if then else path

    return build


def _csv_member(kind: str, member: str, damage: Callable[[Path], Path]):
    def build(folder: Path) -> Path:
        path = make_seed(folder, kind)
        target = path / member if member != "*data*" else _first_data_file(path)
        damage(target)
        return path

    return build


def _first_data_file(folder: Path) -> Path:
    return sorted(p for p in folder.rglob("*.csv"))[0]


def _empty(suffix: str):
    def build(folder: Path) -> Path:
        path = folder / f"empty{suffix}"
        path.write_bytes(b"")
        return path

    return build


def _directory(folder: Path) -> Path:
    path = folder / "a_folder.npz"
    path.mkdir()
    (path / "notes.txt").write_text("not a model")
    return path


def _onnx_named_h5(folder: Path) -> Path:
    path = onnx_file(folder / "model.onnx")
    return path.rename(folder / "actually_onnx.h5")


def _zip_named_keras(folder: Path) -> Path:
    return npz_raw(folder / "fake.keras", {"model.weights.h5": weights_h5_bytes()})


def _keras_without_weights(folder: Path) -> Path:
    path = folder / "noweights.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(dense_config()))
    return path


def _h5_without_weight_data(folder: Path) -> Path:
    path = legacy_h5(folder / "hollow.h5")
    with h5py.File(path, "r+") as f:
        del f["model_weights/dense/seq"]
    return path


def _h5_soft_link(folder: Path) -> Path:
    path = legacy_h5(folder / "soft.h5")
    with h5py.File(path, "r+") as f:
        f["model_weights/extra"] = h5py.SoftLink("/model_weights/dense")
    return path


def _h5_external_link(folder: Path) -> Path:
    other = folder / "other.h5"
    with h5py.File(other, "w") as f:
        f["secret"] = KERNEL
    path = legacy_h5(folder / "extlink.h5")
    with h5py.File(path, "r+") as f:
        del f["model_weights/dense/seq/dense/kernel"]
        f["model_weights/dense/seq/dense/kernel"] = h5py.ExternalLink(str(other), "/secret")
    return path


def _h5_external_storage(folder: Path) -> Path:
    raw = folder / "raw.bin"
    raw.write_bytes(KERNEL.tobytes())
    path = legacy_h5(folder / "extstore.h5")
    with h5py.File(path, "r+") as f:
        del f["model_weights/dense/seq/dense/kernel"]
        f.create_dataset(
            "model_weights/dense/seq/dense/kernel", (3, 2), "f4", external=[(str(raw), 0, 24)]
        )
    return path


def _h5_virtual(folder: Path) -> Path:
    other = folder / "source.h5"
    with h5py.File(other, "w") as f:
        f["data"] = KERNEL
    path = legacy_h5(folder / "virtual.h5")
    with h5py.File(path, "r+") as f:
        del f["model_weights/dense/seq/dense/kernel"]
        layout = h5py.VirtualLayout((3, 2), "f4")
        layout[:] = h5py.VirtualSource(str(other), "data", (3, 2))
        f.create_virtual_dataset("model_weights/dense/seq/dense/kernel", layout)
    return path


def _h5_huge_dataset(folder: Path) -> Path:
    """A dataset declaring 10**12 float32 (chunked, never written: reads would be fill values)."""
    path = legacy_h5(folder / "huge.h5")
    with h5py.File(path, "r+") as f:
        del f["model_weights/dense/seq/dense/kernel"]
        f.create_dataset("model_weights/dense/seq/dense/kernel", (10**6, 10**6), "f4", chunks=True)
    return path


def _weights_h5_huge_dataset(folder: Path) -> Path:
    path = folder / "huge.weights.h5"
    weights_h5(path)
    with h5py.File(path, "r+") as f:
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", (10**6, 10**6), "f4", chunks=(1000, 1000))
    return path


def _h5_bad_weight_name(name: str):
    def build(folder: Path) -> Path:
        path = legacy_h5(folder / "badname.h5")
        with h5py.File(path, "r+") as f:
            group = f["model_weights/dense"]
            group.attrs["weight_names"] = np.array([name.encode(), b"seq/dense/bias"], dtype=object)
            if "\x00" not in name and not name.startswith("/"):
                group.create_dataset(name, data=KERNEL)
        return path

    return build


def _h5_long_group(folder: Path) -> Path:
    layer = "L" * 2000
    return legacy_h5(folder / "longname.h5", layer=layer)


def _keras_with_config(name: str, config: dict):
    return lambda folder: keras_zip(folder / name, config)


def _h5_with_config(name: str, config: dict):
    return lambda folder: legacy_h5(folder / name, config)


def _foreign_module_config() -> dict:
    layer = {
        "module": "os",
        "class_name": "system",
        "config": {"name": "evil", "command": "touch /tmp/pwned"},
        "registered_name": "os>system",
    }
    return dense_config(extra_layers=[layer])


def _registered_foreign() -> dict:
    layer = {
        "module": "builtins",
        "class_name": "Dense",
        "config": {"name": "evil", "units": 2},
        "registered_name": "subprocess>Popen",
    }
    return dense_config(extra_layers=[layer])


def _pickle_payload(folder: Path) -> Path:
    import pickle

    class Payload:
        """Unpickling it creates the file `marker` (so a test can see whether it ran)."""

        def __init__(self, marker: str):
            self.marker = marker

        def __reduce__(self):
            return (open, (self.marker, "w"))

    path = folder / "model.joblib"
    path.write_bytes(pickle.dumps(Payload(str(folder / "payload_ran"))))
    return path


def _skops_untrusted(folder: Path) -> Path:
    import os.path as osp

    from sklearn.preprocessing import FunctionTransformer

    return skops_file(folder / "untrusted.skops", FunctionTransformer(func=osp.basename).fit([[1]]))


def _onnx_offset(folder: Path) -> Path:
    """External data whose offset points far past the end of its (real) data file."""
    import onnx
    import onnx_models as om

    path, _ = om.external_model(folder)
    model = onnx.load(path, load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "offset":
            entry.value = str(10**15)
    onnx.save(model, path)
    return path


def _onnx_short_raw_data(folder: Path) -> Path:
    """An initializer whose raw_data is 4 bytes short of what its dims need."""
    import onnx
    import onnx_models as om
    from onnx import numpy_helper

    weights = numpy_helper.from_array(KERNEL, "W")
    weights.raw_data = weights.raw_data[:-4]
    path = folder / "short.onnx"
    onnx.save(om.model(om.identity_graph([weights]), check=False), path)
    return path


def _onnx_length(folder: Path) -> Path:
    import onnx_models as om

    path, _ = om.external_model(folder, length=5)
    return path


def _onnx_linked(folder: Path, link: Callable[[Path, Path], None]) -> Path:
    """A model whose external data file is a link (made by link(target, name)) to a file outside."""
    import onnx_models as om

    outside = folder / "outside"
    outside.mkdir()
    om.external_model(outside)
    inner = folder / "model"
    inner.mkdir()
    path, _ = om.external_model(inner, write_data=False)
    link(outside / "weights.bin", inner / "weights.bin")
    return path


def _onnx_symlink(folder: Path) -> Path:
    return _onnx_linked(folder, lambda target, name: name.symlink_to(target))


def _onnx_hardlink(folder: Path) -> Path:
    return _onnx_linked(folder, os.link)


def _onnx_dotdot(folder: Path) -> Path:
    import onnx_models as om

    outside = folder / "outside"
    outside.mkdir()
    om.external_model(outside)
    inner = folder / "model"
    inner.mkdir()
    path, _ = om.external_model(inner, location="../outside/weights.bin", write_data=False)
    return path


def _onnx_absolute(folder: Path) -> Path:
    import onnx_models as om

    outside = folder / "outside"
    outside.mkdir()
    om.external_model(outside)
    inner = folder / "model"
    inner.mkdir()
    location = str((outside / "weights.bin").resolve())
    path, _ = om.external_model(inner, location=location, write_data=False)
    return path


def _onnx_past_end(folder: Path) -> Path:
    import onnx_models as om

    path, _ = om.external_model(folder)
    truncate(folder / "weights.bin", 0.5)
    return path


def _onnx_huge_external(folder: Path) -> Path:
    """An external tensor declaring 10**12 floats: refused from the numbers alone."""
    import onnx
    import onnx_models as om
    from onnx import TensorProto

    (folder / "weights.bin").write_bytes(b"\x00" * 64)
    tensor = onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[10**6, 10**6])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(4 * 10**12))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    path = folder / "huge.onnx"
    onnx.save(om.model(om.identity_graph([tensor]), check=False), path)
    return path


def _npz_member_name(name: str):
    def build(folder: Path) -> Path:
        return npz_raw(folder / "names.npz", {name: npy_bytes(KERNEL)})

    return build


def _npz_huge_header(folder: Path) -> Path:
    return npz_raw(folder / "huge.npz", {"w.npy": npy_header_only((10**12,))})


def _safetensors_key(name: str):
    def build(folder: Path) -> Path:
        header = {name: {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]}}
        return safetensors_raw(folder / "keys.safetensors", header, KERNEL.tobytes())

    return build


def _safetensors_huge(folder: Path) -> Path:
    header = {"w": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * 10**12]}}
    return safetensors_raw(folder / "huge.safetensors", header, KERNEL.tobytes())


def _npz_bomb(folder: Path) -> Path:
    return zip_bomb(folder / "bomb.npz", "w.npy", 64 << 20)


def _keras_bomb(folder: Path) -> Path:
    extra = {"config.json": json.dumps(dense_config()), "metadata.json": "{}"}
    return zip_bomb(folder / "bomb.keras", "model.weights.h5", 64 << 20, extra)


def _npz_lying(folder: Path) -> Path:
    """Headers say 200 bytes; the member inflates to 64 MiB of a .npy header + zeros."""
    real = npy_header_only((16 << 20,)) + b"\x00" * (64 << 20)
    return lying_zip(folder / "lying.npz", "w.npy", real, 200)


def _keras_lying_config(folder: Path) -> Path:
    real = json.dumps(dense_config()).encode() + b" " * (200 << 20)
    extra = {"metadata.json": "{}", "model.weights.h5": weights_h5_bytes()}
    return lying_zip(folder / "lying.keras", "config.json", real, 300, extra)


def _mismatch(kind: str, field: str, value):
    def change(manifest: dict) -> dict:
        return edit_manifest(manifest, "dense/kernel", **{field: value})

    def build(folder: Path) -> Path:
        maker = {"npz": npz_with_manifest, "csv": csv_with_manifest}.get(kind)
        if maker is not None:
            return maker(folder, f"mismatch_{field}.{kind}", change)
        return json_with(folder, f"mismatch_{field}.json", lambda doc: {
            **doc, "manifest": change(doc["manifest"])
        })  # fmt: skip

    return build


def _manifest_name(kind: str, name: str):
    def change(manifest: dict) -> dict:
        return rename_in_manifest(manifest, "steps", name)

    def build(folder: Path) -> Path:
        if kind == "npz":
            return npz_with_manifest(folder, "badname.npz", change)
        if kind == "csv":
            return csv_with_manifest(folder, "badname.csv", change)
        return json_with(folder, "badname.json", lambda doc: {
            **doc, "manifest": change(doc["manifest"])
        })  # fmt: skip

    return build


def _csv_location_escape(folder: Path) -> Path:
    (folder / "secret.csv").write_text("1\n2\n3\n4\n")
    return csv_with_manifest(
        folder, "escape.csv", lambda m: edit_manifest(m, "steps", location="../secret.csv")
    )


def _npz_member_missing(folder: Path) -> Path:
    path = export_seed(folder, "npz", "missing.npz")
    return rewrite_zip(path, lambda n, d: None if n == "steps.npy" else (n, d))


def _npz_totals(folder: Path) -> Path:
    def change(manifest: dict) -> dict:
        manifest["totals"]["tensors"] += 1
        return manifest

    return npz_with_manifest(folder, "totals.npz", change)


def _safetensors_data_mismatch(folder: Path) -> Path:
    path = export_seed(folder, "safetensors", "flipped.safetensors")
    return flip(path, -3, 0x01)  # inside the last tensor's data, after the header


LONG = "x" * 5000
LAMBDA_CONFIG = dense_config(extra_layers=[lambda_layer()])

CORPUS: list[Case] = [
    # empty files, folders, wrong extensions
    Case("empty-npz", _empty(".npz"), 3, "is empty"),
    Case("empty-h5", _empty(".h5"), 3, "is empty"),
    Case("empty-onnx", _empty(".onnx"), 3, "is empty"),
    Case("directory", _directory, 3, "folder"),
    Case("zip-named-keras", _zip_named_keras, 3, "not a .keras model.*config.json"),
    Case("keras-without-weights", _keras_without_weights, 3, "model.weights.h5"),
    Case("h5-weights-missing", _h5_without_weight_data, 3, "missing|not found|no weight"),
    # truncated
    *[
        Case(f"truncated-{kind}", _seed(kind, truncate), 3, ".")
        for kind in ("npz", "json", "safetensors", "h5", "weights.h5", "keras", "onnx", "skops")
    ],
    Case("truncated-csv-manifest", _csv_member("csv", "manifest.json", truncate), 3, "manifest"),
    Case("truncated-csv-data", _csv_member("csv", "*data*", truncate), 3, "rows|values"),
    Case("truncated-csv-long", _csv_member("csv-long", "*data*", truncate), 3, "values|row"),
    # bit flips in structure
    Case("flipped-npz-directory", _seed("npz", lambda p: flip(p, -10)), 3, "zip|archive"),
    Case("flipped-json", _seed("json", lambda p: flip(p, 0)), 3, "."),
    Case("flipped-safetensors-header", _seed("safetensors", lambda p: flip(p, 9)), 3, "."),
    Case("flipped-h5-superblock", _seed("h5", lambda p: flip(p, 20)), 3, "."),
    Case("flipped-weights-h5", _seed("weights.h5", lambda p: flip(p, 9)), 3, "."),
    Case("flipped-keras-zip", _seed("keras", lambda p: flip(p, -10)), 3, "zip|archive"),
    Case("flipped-onnx", _seed("onnx", lambda p: flip(p, 0)), 3, "ONNX"),
    Case("flipped-csv-data", _csv_member("csv", "*data*", lambda p: flip(p, 0, 0x40)), 3, "."),
    # HDF5 links and storage that read other files; sizes
    Case("h5-soft-link", _h5_soft_link, 3, "soft link"),
    Case("h5-external-link", _h5_external_link, 3, "external link"),
    Case("h5-external-storage", _h5_external_storage, 3, "external file"),
    Case("h5-virtual", _h5_virtual, 3, "virtual"),
    Case("h5-huge-dataset", _h5_huge_dataset, 3, "declares"),
    Case("weights-h5-huge-dataset", _weights_h5_huge_dataset, 3, "declares"),
    # names
    Case("h5-weight-name-dotdot", _h5_bad_weight_name("../../etc/kernel"), 3, r"\.\."),
    Case("h5-weight-name-absolute", _h5_bad_weight_name("/abs/kernel"), 3, "absolute|not found"),
    Case("h5-weight-name-control", _h5_bad_weight_name("seq/de\x01nse"), 3, "control"),
    Case("h5-long-group-name", _h5_long_group, 3, "longer than"),
    Case("npz-member-dotdot", _npz_member_name("../evil.npy"), 3, "unsafe member name"),
    Case("npz-member-absolute", _npz_member_name("/abs.npy"), 3, "unsafe member name"),
    Case("npz-member-long", _npz_member_name(LONG + ".npy"), 3, "longer than"),
    Case("npz-member-backslash", _npz_member_name("a\\..\\b.npy"), 3, "backslash"),
    Case("safetensors-key-dotdot", _safetensors_key("../x"), 3, r"\.\."),
    Case("safetensors-key-nul", _safetensors_key("a\x00b"), 3, "control"),
    Case("safetensors-key-long", _safetensors_key(LONG), 3, "longer than"),
    *[
        Case(f"{kind}-manifest-name-{label}", _manifest_name(kind, name), 3, message)
        for kind in ("npz", "json", "csv")
        for label, name, message in (
            ("dotdot", "../../evil", r"\.\.|leaves"),
            ("absolute", "/etc/evil", "absolute|leaves|pattern|schema"),
            ("nul", "a\x00b", "control|NUL|schema|pattern"),
            ("long", LONG, "longer than|schema|long"),
        )
    ],
    Case("csv-location-escape", _csv_location_escape, 3, "leaves the folder"),
    # code in configs
    Case(
        "keras-foreign-module",
        _keras_with_config("os.keras", _foreign_module_config()),
        3,
        "module 'os'.*refused",
    ),
    Case(
        "keras-registered-foreign",
        _keras_with_config("reg.keras", _registered_foreign()),
        3,
        "subprocess.*refused",
    ),
    Case(
        "h5-foreign-module",
        _h5_with_config("os.h5", _foreign_module_config()),
        3,
        "module 'os'.*refused",
    ),
    Case(
        "keras-lambda",
        _keras_with_config("lambda.keras", LAMBDA_CONFIG),
        3,
        "Lambda.*--trust",
    ),
    Case(
        "h5-lambda",
        _h5_with_config("lambda.h5", LAMBDA_CONFIG),
        3,
        "Lambda.*--trust",
    ),
    # pickle / skops
    Case("pickle-payload", _pickle_payload, 3, r"refused.*--trust"),
    Case("skops-untrusted", _skops_untrusted, 3, r"posixpath\.basename"),
    # ONNX external data
    Case("onnx-external-dotdot", _onnx_dotdot, 3, r"'\.\.'"),
    Case("onnx-external-absolute", _onnx_absolute, 3, "absolute"),
    Case("onnx-external-symlink", _onnx_symlink, 3, "symlink"),
    Case("onnx-external-hardlink", _onnx_hardlink, 3, "hard link"),
    Case("onnx-external-past-end", _onnx_past_end, 3, "past the end"),
    Case("onnx-external-offset", _onnx_offset, 3, "past the end"),
    Case("onnx-external-length", _onnx_length, 3, "length"),
    Case("onnx-short-raw-data", _onnx_short_raw_data, 3, "stores"),
    # declared sizes far beyond the file
    Case("npz-huge-header", _npz_huge_header, 3, "declares|bytes"),
    Case("safetensors-huge", _safetensors_huge, 3, "."),
    Case("onnx-huge-external", _onnx_huge_external, 3, "past the end"),
    # zip bombs, honest and lying headers
    Case("npz-bomb", _npz_bomb, 3, "zip bomb"),
    Case("keras-bomb", _keras_bomb, 3, "zip bomb|compressed"),
    Case("npz-lying-sizes", _npz_lying, 3, "bytes|size|damaged"),
    Case("keras-lying-config", _keras_lying_config, 3, "bytes|size|damaged"),
    # data that disagrees with its manifest
    *[
        Case(f"{kind}-manifest-{field}", _mismatch(kind, field, value), 3, message)
        for kind in ("npz", "json", "csv")
        for field, value, message in (
            ("shape", [3, 2], "shape|rows"),
            ("dtype", "int8", "dtype|int8|is float32|values|not a valid"),
        )
    ],
    # hash mismatches: the data is readable, so inspect/export warn and validate fails
    Case("safetensors-data-flipped", _safetensors_data_mismatch, 0, "half.*sha256"),
    *[
        Case(
            f"{kind}-manifest-sha256",
            _mismatch(kind, "sha256", "0" * 64),
            0,
            "dense/kernel.*sha256",
        )
        for kind in ("npz", "json", "csv")
    ],
    # a tensor the manifest lists but the data lacks, and totals that disagree
    Case("npz-member-missing", _npz_member_missing, 3, "missing"),
    Case("npz-manifest-totals", _npz_totals, 3, "totals"),
]

# Exports whose data disagrees with the manifest: validate exits 1 naming the tensor.
VALIDATE_FAILS: list[tuple[str, Callable[[Path], Path], str]] = [
    *[
        (f"{kind}-sha256", _mismatch(kind, "sha256", "0" * 64), "dense/kernel")
        for kind in ("npz", "json", "csv")
    ],
    *[
        (f"{kind}-{field}", _mismatch(kind, field, value), "dense/kernel")
        for kind in ("npz", "json", "csv")
        for field, value in (("shape", [3, 2]), ("dtype", "int8"))
    ],
    ("safetensors-flipped", _safetensors_data_mismatch, "half"),
    ("npz-member-missing", _npz_member_missing, "steps"),
]


def all_cases() -> list[Case]:
    """CORPUS plus the CASES of every tests/hostile_*.py module (one module per class of
    attack, so each class keeps its builders together)."""
    import importlib

    cases = list(CORPUS)
    for module_path in sorted(Path(__file__).parent.glob("hostile_*.py")):
        if module_path.stem != "hostile_corpus":
            cases.extend(importlib.import_module(module_path.stem).CASES)
    names = [case.name for case in cases]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    assert not duplicated, f"hostile cases share a name: {duplicated}"
    return cases
