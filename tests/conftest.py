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
        State.debug = State.quiet = State.json = State.json_requested = False
        return Result(CliRunner().invoke(app, [str(a) for a in args]))

    return run


# ---------------------------------------------------------------- what `make test-fast` leaves out
# `make test-fast` (pytest -m "not slow") is what you run while working: in-process tests of the
# library and CLI. Marked slow here, by rule, so that a new test of these kinds is slow without
# anyone remembering to mark it: every test of a battery module (subprocess CLI runs, races between
# processes, address-space limits, corpora, TensorFlow/tf2onnx/skl2onnx conversion), and every test
# that needs a fixture which builds or loads a TensorFlow model. `make test` runs them all.
SLOW_MODULES = frozenset(
    {
        "test_apply",  # Keras models built to apply weights to
        "test_atomic",  # SIGINT/SIGKILL of real export processes
        "test_c_compile",  # gcc/g++ and the programs they build; a Keras model trained
        "test_coldstart",  # fresh interpreters, timed
        "test_custom_objects",  # Keras models with custom layers, converted in subprocesses
        "test_convert",  # tf2onnx / skl2onnx / onnxruntime
        "test_keras_api",  # Keras models built and loaded through TensorFlow
        "test_keras_corpus",
        "test_keras_files",  # fixtures trained with TensorFlow, keras.applications
        "test_keras_naming",
        "test_tflite",  # TFLite models made by TensorFlow's converter and interpreter
        "test_pipeline",  # make, --jobs, subprocesses
        "test_plumbing",  # the CLI in subprocesses, pipes, make
        "test_sec_audit_speed",
        "test_sec_inputs",  # paths swapped for FIFOs/devices under a running process
        "test_sec_keras",  # Keras/tf-keras loading hostile files
        "test_sec_links",  # verify/convert with swapped external data
        "test_sec_publish",  # SIGTERM between renames, fallback publishing in subprocesses
        "test_sec_races",  # two processes racing an export
        "test_sec_sizes",  # address-space-limited subprocesses
        "test_sec_structures",  # scikit-learn crashing in subprocesses without the checks
        "test_sklearn_convert_corpus",
        "test_sklearn_corpus",
    }
)


# Single tests elsewhere that start interpreters or sweep a whole corpus (seconds each).
SLOW_TESTS = frozenset(
    {
        "test_console_script_exit_codes_in_a_subprocess",
        "test_every_onnx_node_test_case_reads_or_fails_cleanly",  # onnx's whole node-test corpus
        "test_huge_declarations_are_refused_under_a_2gib_address_space",  # subprocesses
        "test_the_float32_proof_finds_the_known_exception",
        "test_corpus_case",  # every hostile file through inspect and export (~400 runs)
        "test_text_round_trip_across_real_block_boundaries",  # multi-MB text round trips
        "test_peak_memory_is_one_tensor_plus_overhead",
        "test_via_keras_refuses_code_links_and_bombs",  # loads files through Keras (TensorFlow)
    }
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


def pytest_ignore_collect(collection_path, config):
    """Under -m "not slow", battery modules are not even imported (several import TensorFlow)."""
    if config.getoption("markexpr", "") == "not slow" and collection_path.suffix == ".py":
        return collection_path.stem in SLOW_MODULES or None
    return None
