"""Every check a Keras model file passes before Keras or tf-keras is allowed to open it.

One function for every route that hands a file to Keras (`--via keras`, `apply`, `convert`,
`verify`): the archive and HDF5 checks of the direct reader (zip bombs, member names, links,
external storage, declared sizes), the config audit (code, file paths, modules outside Keras:
refused unless --trust), and the weight values the config implies against those stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporter.files.inputs import InputFile
from exporter.models.keras.config import audit_config
from exporter.models.keras.sizes import check_sizes
from exporter.readers import HDF5_MAGIC, probe

WEIGHTS_MEMBER = "model.weights.h5"


Config = tuple[dict[str, Any] | None, str | None]


def _audit_weights(source: InputFile, member: str | None) -> tuple[list[tuple[int, ...]], Config]:
    """The shape of every stored dataset, after the HDF5 audit (links, storage, sizes), and
    the (config, keras_version) held in the HDF5 file's attributes (a legacy .h5)."""
    from exporter.models.keras.files import _h5_config as h5_config
    from exporter.models.keras.hdf5 import H5Handle, audit

    handle = H5Handle(source, member)
    try:
        facts = audit(handle.file, handle.size, handle.where)
        config = h5_config(handle.file, str(source.path)) if member is None else (None, None)
    finally:
        handle.close()
    return [fact.shape for fact in facts.values()], config


def guard_keras_file(path: Path, trust: bool) -> Config:
    """Refuse a .keras / .h5 that Keras must not open; returns its (config, keras_version).

    path is the file Keras will open: keras_api loads a private snapshot of the input and
    guards that snapshot, so the file checked here is the file Keras reads. Every check reads
    one descriptor of it. The config is the one Keras itself reads (`config.json`, or the
    `model_config` attribute). Without one, Keras has nothing to build and fails on its own.
    """
    from exporter.models.keras.files import load_config

    source = InputFile(path, folder=False)
    found = probe(source)  # zip archives: bombs, ratios and member names, before any inflation
    is_zip = bool(found.members)
    if not (is_zip or found.head.startswith(HDF5_MAGIC)):
        return None, None
    member = WEIGHTS_MEMBER if WEIGHTS_MEMBER in found.members else None
    shapes, (config, version) = (
        _audit_weights(source, member) if member or not is_zip else ([], (None, None))
    )
    if is_zip and "config.json" in found.members:
        config, version = load_config(source)
    if config is None:
        return None, None
    audit_config(config, str(path), trust, loading=True)
    check_sizes(config, shapes, str(path))
    return config, version


def unregistered_classes(keras: Any, config: Any) -> list[str]:
    """The custom classes a config names (a `registered_name` outside Keras's own) that Keras
    does not know in this process, as 'Scale (mylayers>Scale)'."""
    found: list[str] = []
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name, module = item.get("registered_name"), item.get("module")
            custom = isinstance(name, str) and ">" in name and isinstance(module, str)
            if custom and keras.saving.get_registered_object(name) is None:
                found.append(f"{item.get('class_name')} ({name})")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(set(found))
