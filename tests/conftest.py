"""Shared test helpers: run the CLI in-process, quiet TensorFlow."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.pop("SOURCE_DATE_EPOCH", None)

import pytest
from typer.testing import CliRunner


class Result:
    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception

    def __repr__(self) -> str:
        return f"exit {self.exit_code}\nstdout: {self.stdout}\nstderr: {self.stderr}"


@pytest.fixture
def cli():
    """cli('export', 'm.keras', '-o', 'x.npz') -> Result with exit_code, stdout, stderr."""
    from exporter.cli.app import app
    from exporter.cli.common import State

    def run(*args: str) -> Result:
        State.debug = State.quiet = False
        return Result(CliRunner().invoke(app, [str(a) for a in args]))

    return run
