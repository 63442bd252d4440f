"""Importing TensorFlow/Keras on demand, quietly (never at import time of exporter itself)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from exporter.core.errors import require

# Banners TensorFlow's C++ runtime prints to fd 2 on import, before its log level applies.
_BANNERS = re.compile(
    r"All log messages before absl::InitializeLog|^[IW]\d{4} .*(port\.cc|cudart_stub|"
    r"cpu_feature_guard|cuda_\w+\.cc)|To enable the following instructions|rebuild TensorFlow"
)


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no C++ INFO/WARNING logs on stderr
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-stable numerics across runs
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def _filtered_stderr() -> Iterator[None]:
    """Capture fd 2 while TensorFlow loads; pass on every line that is not a known banner."""
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                if not _BANNERS.search(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))


def tensorflow() -> Any:
    """The tensorflow module (raises MissingDependencyError with the install hint)."""
    _quiet_tensorflow()
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _filtered_stderr():
        tf = require("tensorflow", "keras")
    tf.get_logger().setLevel("ERROR")
    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    return tf


def keras() -> Any:
    """The keras (3) module, with TensorFlow as its backend."""
    tensorflow()
    return require("keras", "keras")
