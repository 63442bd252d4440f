"""What every command shares: option types, the global state, output helpers.

Errors become one line and an exit code in one place, the boundary in exporter/cli/app.py:
commands raise. They exit themselves (typer.Exit) only after printing an outcome: a check that
ran and failed, a batch with failed exports.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 a check ran and failed; 2 wrong usage (bad option, existing output "
    "without --force); 3 input unreadable, unsupported or refused as unsafe; 4 internal error."
)


class State:
    debug = False
    quiet = False
    json = False  # `exporter --json COMMAND`: the same as COMMAND ... --json
    json_requested = False  # the running command was asked for JSON: errors are JSON too


def stdout_gone() -> bool:
    """True when nobody reads stdout any more (a pipe whose reader exited, as `| head` does):
    a write there fails with EPIPE and poll() reports an error on the descriptor."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.__stdout__.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no stdout, or no poll(): assume it is
        return True


def end_on_closed_stdout() -> int:
    """stdout's reader has gone: a normal end (exit 0, no message). stdout is pointed at
    /dev/null, as the Python docs advise for SIGPIPE, so the interpreter's flush at exit of
    what is still buffered cannot fail with an "Exception ignored" message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass
    return 0


def err(message: str = "") -> None:
    """A line for people, on stderr."""
    print(message, file=sys.stderr)


def info(message: str) -> None:
    """A progress/info line on stderr, silent with --quiet."""
    if not State.quiet:
        print(message, file=sys.stderr)


def emit_json(document: Any) -> None:
    """The one JSON document of a --json command, on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


def one_line(message: str) -> str:
    """message on one line: line breaks from libraries' messages become spaces."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or info on stderr.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Trust = Annotated[
    bool,
    typer.Option(
        "--trust",
        help=(
            "Allow inputs that run code or read other files when loaded: pickle/joblib files, "
            "Keras configs holding code (Lambda, marshalled functions), file paths or outside "
            "modules, and TensorFlow SavedModels. Only for files you trust."
        ),
    ),
]
Via = Annotated[
    str,
    typer.Option(
        "--via",
        help="auto: read model files directly (no TensorFlow); keras: load them through Keras.",
    ),
]
Only = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help="Keep only tensors whose names match this glob (repeatable; e.g. '*/kernel').",
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option("--exclude", help="Leave out tensors whose names match this glob (repeatable)."),
]


def _import_custom_objects(values: list[str] | None) -> list[str] | None:
    if values:
        from exporter.api import use_custom_objects

        use_custom_objects(values)
    return values


CustomObjects = Annotated[
    list[str] | None,
    typer.Option(
        "--custom-objects",
        callback=_import_custom_objects,
        help=(
            "Import MODULE (or a .py file) that registers your custom Keras classes, and allow "
            "the model config to name it (repeatable). Importing runs that module's code: use "
            "it for your own modules only."
        ),
    ),
]
Config = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="Model config (.keras, .h5 or config.json) naming the weights of a bare .weights.h5.",
    ),
]
IncludeOptimizer = Annotated[
    bool, typer.Option("--include-optimizer", help="Also export optimizer state (Keras files).")
]


class ProgressBar:
    """A one-line progress bar on stderr; silent when stderr is not a terminal or with --quiet."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.done = total, label, 0
        self.enabled = total > 1 and not State.quiet and sys.stderr.isatty()

    def __call__(self, _item: object = None) -> None:
        self.done += 1
        if self.enabled:
            width = 30
            filled = int(width * self.done / self.total)
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def phase(message: str) -> None:
    """Say what slow step is running (stderr, only on a terminal and without --quiet)."""
    if not State.quiet and sys.stderr.isatty():
        print(f"{message} ...", file=sys.stderr, flush=True)
