"""Keras model files read directly with h5py, zipfile, json and numpy — never TensorFlow.

Three source kinds, recognised by content (FORMATS.md, "Keras: five layouts"):
- `keras-h5`: a legacy full-model `.h5` (Keras 3 or tf-keras, `model_weights` group) or a tf-keras
  `save_weights` `.h5` (root attr `layer_names`).
- `keras-weights-h5`: a `.weights.h5` (`layers/.../vars/<i>`); names come from a model config.
- `keras-v3`: a `.keras` zip (`config.json` + `model.weights.h5`, read from a memory map).
Names and order equal `keras_api.weightset_from_model` on the same model; tensors are lazy.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from exporter.core.errors import InputError, UsageError
from exporter.core.weightset import ModelInfo, Note, Tensor, WeightSet
from exporter.files.archive import read_document, read_member
from exporter.files.inputs import InputFile
from exporter.models.keras.config import (
    LayerNode,
    audit_config,
    lambda_layers,
    layer_tree,
    parse_json,
)
from exporter.models.keras.hdf5 import H5PY_ERRORS, H5Handle, attr_text, audit, open_h5
from exporter.models.keras.layout import Found, WeightsTree, optimizer_found, positional
from exporter.models.keras.legacy import legacy_found, legacy_optimizer
from exporter.readers import HDF5_MAGIC, READERS, ZIP_MAGIC, Probe, Reader, ReadOptions

# ---- detection --------------------------------------------------------------------------------


def _is_keras_zip(probe: Probe) -> bool:
    return "config.json" in probe.members and "model.weights.h5" in probe.members


def _hdf5_layout(source: InputFile) -> str | None:
    """'legacy' (model_weights / root layer_names), 'weights' (layers / vars groups) or None."""
    try:
        with open_h5(source) as handle:
            if "model_weights" in handle or _has_layer_names(handle):
                return "legacy"
            if "layers" in handle or "vars" in handle:
                return "weights"
    except OSError:
        return None
    return None


def _has_layer_names(group: Any) -> bool:
    return "layer_names" in group.attrs or "layer_names0" in group.attrs


def _is_legacy_h5(probe: Probe) -> bool:
    return probe.head.startswith(HDF5_MAGIC) and _hdf5_layout(probe.input) == "legacy"


def _is_weights_h5(probe: Probe) -> bool:
    return probe.head.startswith(HDF5_MAGIC) and _hdf5_layout(probe.input) == "weights"


# ---- configs ----------------------------------------------------------------------------------


def _zip_text(archive: zipfile.ZipFile, member: str, where: str) -> str:
    return read_member(archive, member, where).decode("utf-8")


def _keras_zip_config(source: InputFile) -> tuple[dict[str, Any], str | None]:
    """(config.json, keras_version from metadata.json) of an opened .keras archive."""
    from exporter.files.archive import open_zip

    path = source.path
    try:
        with open_zip(source) as archive:
            config = parse_json(_zip_text(archive, "config.json", str(path)), f"{path}:config.json")
            version = None
            if "metadata.json" in archive.namelist():
                meta = json.loads(_zip_text(archive, "metadata.json", str(path)))
                version = meta.get("keras_version") if isinstance(meta, dict) else None
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: damaged .keras archive ({exc})") from None
    return config, version


def _h5_config(h5file: Any, where: str) -> tuple[dict[str, Any] | None, str | None]:
    version = h5file.attrs.get("keras_version")
    if version is None and "model_weights" in h5file:
        version = h5file["model_weights"].attrs.get("keras_version")
    raw = h5file.attrs.get("model_config")
    config = parse_json(attr_text(raw), where) if raw is not None else None
    return config, (attr_text(version) if version is not None else None)


def load_config(source: InputFile | str | Path) -> tuple[dict[str, Any], str | None]:
    """A model config and Keras version from a .keras, a full-model .h5 or a config.json,
    all read from one descriptor of the file (a path is opened once, never blocking)."""
    if not isinstance(source, InputFile):
        if not Path(source).is_file():
            raise UsageError(
                f"{source}: --config file not found; give a .keras, .h5 or config.json"
            )
        source = InputFile(source, folder=False)
    path = source.path
    head = os.pread(source.fd, 8, 0)
    if head.startswith(ZIP_MAGIC):
        return _keras_zip_config(source)
    if head.startswith(HDF5_MAGIC):
        with open_h5(source) as h5file:
            config, version = _h5_config(h5file, str(path))
        if config is None:
            raise InputError(f"{path}: an HDF5 file without model_config; give a full-model file")
        return config, version
    config = parse_json(read_document(source.fd, str(path)), str(path))
    version = config.get("keras_version")
    if version is None and str(config.get("module", "")).startswith("tf_keras"):
        version = "2"
    return config, version


def _is_legacy(version: str | None) -> bool:
    return version is not None and not version.startswith("3")


# ---- building the WeightSet ---------------------------------------------------------------


def _info(
    source: InputFile, kind: str, config: dict | None, version: str | None, trust: bool = False
) -> ModelInfo:
    if config is not None:
        audit_config(config, str(source.path), trust)
    inner = (config or {}).get("config") or {}
    return ModelInfo(
        kind=kind,
        framework=("tf-keras" if _is_legacy(version) else "keras") if version else "keras",
        framework_version=version,
        model_name=inner.get("name"),
        model_class=(config or {}).get("class_name"),
        file=source.name,
        digest=source.digest(),  # of the very file read (its descriptor)
    )


def _note_config(info: ModelInfo, tree: LayerNode | None) -> None:
    lambdas = lambda_layers(tree) if tree is not None else []
    if lambdas:
        info.extra["lambda_layers"] = lambdas
        info.warn(
            Note(
                "keras-lambda-layers",
                f"the model has Lambda layers ({', '.join(lambdas)}): their code is not run or "
                "exported, only weights are read",
            )
        )


def _weightset(handle: H5Handle, found: list[Found], info: ModelInfo) -> WeightSet:
    """Lazy tensors for the found datasets (each read from the open handle when needed)."""
    ws = WeightSet(info=info)
    for item in found:
        dtype, shape = handle.describe(item.path)
        loader = handle.loader(item.path, dtype)
        ws.add(Tensor(item.name, dtype, shape, loader, trainable=item.trainable, origin=item.path))
    return ws


def _open(source: InputFile, member: str | None = None) -> H5Handle:
    handle = H5Handle(source, member)
    try:
        handle.facts = audit(handle.file, handle.size, handle.where)
    except BaseException:
        handle.close()
        raise
    return handle


def read_legacy_h5(source: InputFile, options: ReadOptions) -> WeightSet:
    """Layouts A, B (full-model .h5) and C (tf-keras save_weights .h5)."""
    handle = _open(source)
    h5file = handle.file
    config, version = _h5_config(h5file, str(source.path))
    if config is None and options.config:
        config, config_version = load_config(options.config)
        version = version or config_version
    tree = layer_tree(config) if config else None
    root = h5file.get("model_weights", h5file)
    found, warnings = legacy_found(root, tree, _is_legacy(version))
    if options.include_optimizer:
        found += legacy_optimizer(h5file)
    info = _info(source, "keras-h5", config, version, options.trust)
    info.warn(*warnings)
    _note_config(info, tree)
    return _weightset(handle, found, info)


def _weights_found(
    handle: H5Handle,
    config: dict | None,
    version: str | None,
    info: ModelInfo,
    options: ReadOptions,
) -> list[Found]:
    root = handle.file
    if config is None:
        info.naming = "positional"
        info.warn(
            Note(
                "keras-positional-names",
                f"{handle.path.name} stores no variable names or order: tensors are named by their "
                "place in the file (layers/<class>/vars/<i>); give --config MODEL.keras|.h5|config.json "
                "for Keras names",
            )
        )
        found = positional(root)
    else:
        tree = layer_tree(config)
        walker = WeightsTree(root, _is_legacy(version))
        found = walker.walk_model(tree)
        info.warn(*walker.warnings)
        if walker.uncertain:  # some names or order not known for certain: said in warnings
            info.naming = "positional"
        _note_config(info, tree)
    if options.include_optimizer:
        extra = optimizer_found(root)
        if extra:
            info.warn(
                Note(
                    "keras-optimizer-positional",
                    "optimizer variables carry no names in this layout: named optimizer/vars/<i>",
                )
            )
        found += extra
    return found


def read_weights_h5(source: InputFile, options: ReadOptions) -> WeightSet:
    """Layout D: a bare .weights.h5; names and order from --config, else positional."""
    config, version = load_config(options.config) if options.config else (None, None)
    handle = _open(source)
    info = _info(source, "keras-weights-h5", config, version, options.trust)
    return _weightset(handle, _weights_found(handle, config, version, info, options), info)


def read_keras_zip(source: InputFile, options: ReadOptions) -> WeightSet:
    """Layout E: a .keras archive; config.json names the variables of model.weights.h5."""
    config, version = _keras_zip_config(source)
    handle = _open(source, "model.weights.h5")
    info = _info(source, "keras-v3", config, version, options.trust)
    return _weightset(handle, _weights_found(handle, config, version, info, options), info)


READERS.register(
    "keras-v3",
    Reader("keras-v3", _is_keras_zip, read_keras_zip, "Keras .keras archive", H5PY_ERRORS),
)
READERS.register(
    "keras-h5",
    Reader(
        "keras-h5",
        _is_legacy_h5,
        read_legacy_h5,
        "Keras full-model or save_weights .h5",
        H5PY_ERRORS,
    ),
)
READERS.register(
    "keras-weights-h5",
    Reader("keras-weights-h5", _is_weights_h5, read_weights_h5, "Keras .weights.h5", H5PY_ERRORS),
)
