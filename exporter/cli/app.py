"""The exporter command line: assembles the commands (each lives in its own module)."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from exporter import __version__
from exporter.cli.common import (
    EXIT_CODES_HELP,
    Debug,
    Quiet,
    State,
    end_on_closed_stdout,
    stdout_gone,
)

app = typer.Typer(
    name="exporter",
    help="Get the parameters out of trained Keras and scikit-learn models exactly, and convert "
    "models to ONNX with proof.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"exporter {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Debug = False,
    quiet: Quiet = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON document on stdout (commands that have --json)."
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Global options (-q/--quiet, --debug, --json) go before or after the command name."""
    State.debug = debug
    State.quiet = quiet
    State.json = json_out


# (module, function, command name); modules import their heavy libraries only when run.
COMMANDS = (
    ("inspect_cmd", "inspect", "inspect"),
    ("export_cmd", "export", "export"),
    ("validate_cmd", "validate", "validate"),
    ("diff_cmd", "diff", "diff"),
    ("check_cmd", "check", "check"),
    ("check_cmd", "spec", "spec"),
    ("apply_cmd", "apply", "apply"),
    ("versions_cmd", "versions", "versions"),
    ("convert_cmd", "convert", "convert"),
    ("convert_cmd", "verify", "verify"),
)
GROUPS = (("train_cmd", "train"),)

for module_name, function, command in COMMANDS:
    try:
        module = importlib.import_module(f"{__package__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{module_name}":
            raise
        continue
    app.command(command)(getattr(module, function))
for module_name, group in GROUPS:
    app.add_typer(importlib.import_module(f"{__package__}.{module_name}").app, name=group)


def main() -> None:
    """Console-script entry point: usage errors are one line too (exit 2), like every error.
    A reader that closes stdout early (`| head -1`) ends the command normally: exit 0."""
    import sys

    try:
        code = _run()
        sys.stdout.flush()  # here, not at interpreter exit where a closed pipe cannot be handled
    except BrokenPipeError:
        if not stdout_gone():
            raise
        code = end_on_closed_stdout()
    except SystemExit as exc:  # typer's and rich's EPIPE handling (help, --version) exit 1;
        if not isinstance(exc.__context__, BrokenPipeError):  # only stdout is written there
            raise
        code = end_on_closed_stdout()
    sys.exit(code)


def _run() -> int:
    """Run the command line; returns the exit code."""
    import sys

    # click's exception classes, whether typer vendors click (0.29+) or depends on it
    usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    try:
        code = app(standalone_mode=False)
    except usage_error as exc:
        if exc.format_message().strip():  # empty when no command was given: help is shown
            command = exc.ctx.command_path if exc.ctx else "exporter"
            message = f"exporter: error: {exc.format_message()} (see '{command} --help')"
            print(message, file=sys.stderr)
        return exc.exit_code
    except click_error as exc:
        print(f"exporter: error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except typer.Abort:
        print(
            "exporter: interrupted; every output is either complete or unchanged", file=sys.stderr
        )
        return 130
    return code if isinstance(code, int) else 0
