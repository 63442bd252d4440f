"""What every command shares: option types, the error table, output helpers."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from exporter.core.errors import ExporterError, UsageError


class _Lazy:
    """A module imported on first use: `exporter --version` and `--help` never pay for numpy,
    the readers or the writers (about 0.1 s of every cold start)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        return getattr(importlib.import_module(self._name), attr)


api = _Lazy("exporter.api")
writers_module = _Lazy("exporter.writers")

F = TypeVar("F", bound=Callable[..., Any])
INTERNAL_ERROR = 4
EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 a check ran and failed; 2 wrong usage (bad option, existing output "
    "without --force); 3 input unreadable, unsupported or refused as unsafe; 4 internal error."
)


class State:
    debug = False
    quiet = False
    json = False  # `exporter --json COMMAND`: the same as COMMAND ... --json


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
GLOBAL_OPTIONS = {"global_quiet": Quiet, "global_debug": Debug}


def _apply_global_options(command: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """-q/--debug given after the command name, and --json given before it, act as if given
    at the other place (`exporter -q inspect M` = `exporter inspect M -q`)."""
    State.quiet = kwargs.pop("global_quiet", False) or State.quiet
    State.debug = kwargs.pop("global_debug", False) or State.debug
    if State.json:
        if "json_out" not in inspect.signature(command).parameters:
            name = command.__name__.removesuffix("_command")
            raise UsageError(f"--json: the {name} command prints no JSON document")
        kwargs["json_out"] = True


def _with_global_options(wrapper: Callable[..., Any], command: Callable[..., Any]) -> None:
    """Give wrapper command's parameters plus -q/--quiet and --debug, so Typer accepts the
    global options after the command name too."""
    signature = inspect.signature(command, eval_str=True)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=kind)
        for name, kind in GLOBAL_OPTIONS.items()
    ]
    params = [*signature.parameters.values(), *extra]
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]


def handle_errors(command: F) -> F:
    """Map ExporterError to its exit code with one line on stderr; --debug shows the traceback.
    A closed stdout (`exporter inspect M | head -1`) ends the command normally: exit 0.
    The command also accepts the global options -q/--quiet and --debug after its name."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _apply_global_options(command, kwargs)
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except BrokenPipeError:
            if not stdout_gone():  # another pipe broke: a bug, reported as one below
                _internal_error(sys.exc_info()[1])
            raise typer.Exit(end_on_closed_stdout()) from None
        except ExporterError as exc:
            if State.debug:
                traceback.print_exc()
            err(f"exporter: error: {one_line(str(exc))}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            # an interrupt held while an output was being published lands just after it: every
            # output is then either complete or exactly as it was, never partial
            err("exporter: interrupted; every output is either complete or unchanged")
            raise typer.Exit(130) from None
        except MemoryError:  # the last line of defence: readers bound sizes before allocating
            if State.debug:
                traceback.print_exc()
            err(
                "exporter: error: ran out of memory: the input holds or declares more than this "
                "machine can hold (run with --debug for the traceback)"
            )
            raise typer.Exit(3) from None
        except Exception as exc:  # a bug: say so in one line, traceback on request
            _internal_error(exc)

    _with_global_options(wrapper, command)
    return wrapper  # type: ignore[return-value]


def _internal_error(exc: BaseException | None) -> None:
    """A bug: say so in one line (traceback with --debug) and exit 4."""
    if State.debug:
        traceback.print_exc()
    err(
        f"exporter: internal error: {type(exc).__name__}: {one_line(str(exc))} "
        "(run with --debug for the traceback and please report it)"
    )
    raise typer.Exit(INTERNAL_ERROR) from None


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
