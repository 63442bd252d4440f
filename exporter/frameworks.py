"""Importing TensorFlow/Keras on demand, quietly (never at import time of exporter itself)."""

from __future__ import annotations

import os
from typing import Any

from .errors import require


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no C++ INFO/WARNING banners on stderr
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-stable numerics across runs
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def tensorflow() -> Any:
    """The tensorflow module (raises MissingDependencyError with the install hint)."""
    _quiet_tensorflow()
    tf = require("tensorflow", "keras")
    tf.get_logger().setLevel("ERROR")
    return tf


def keras() -> Any:
    """The keras (3) module, with TensorFlow as its backend."""
    tensorflow()
    return require("keras", "keras")
