"""Keras model files (.keras, .h5). Placeholder until the direct h5py reader lands: loads via Keras."""

from __future__ import annotations

from pathlib import Path

from ..weightset import WeightSet
from . import HDF5_MAGIC, READERS, Probe, Reader, ReadOptions


def _is_keras_zip(probe: Probe) -> bool:
    return "config.json" in probe.members and "model.weights.h5" in probe.members


def _is_hdf5(probe: Probe) -> bool:
    return probe.head.startswith(HDF5_MAGIC)


def _read(path: Path, options: ReadOptions) -> WeightSet:
    from .keras_api import read_via_keras

    return read_via_keras(path, options)


READERS.register("keras-v3", Reader("keras-v3", _is_keras_zip, _read, "Keras 3 .keras archive"))
READERS.register("keras-h5", Reader("keras-h5", _is_hdf5, _read, "Keras HDF5 model file"))
