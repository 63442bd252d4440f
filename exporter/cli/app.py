"""The exporter command line: the commands, one line each (each lives in its own module), and the
one error boundary.

Every command runs inside Group.invoke, where any exception it raises becomes one line on
stderr and an exit code (exit_code_for; README "Exit codes": 0 ok, 1 a check failed, 2 wrong
usage, 3 bad input, 4 a bug, 130 interrupted); --debug adds the traceback, and a reader that
closed stdout early ends the command normally (exit 0). main() adds what happens outside a
command: usage errors of the command line itself, and stdout closed while help is printed.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from exporter import ExporterError, UsageError, __version__
from exporter.batch import INTERNAL_ERROR, INTERRUPTED
from exporter.cli import (
    apply_cmd,
    check_cmd,
    convert_cmd,
    diff_cmd,
    export_cmd,
    inspect_cmd,
    show_cmd,
    train_cmd,
    validate_cmd,
    versions_cmd,
)
from exporter.cli.common import (
    EXIT_CODES_HELP,
    Debug,
    Quiet,
    State,
    emit_json,
    end_on_closed_stdout,
    err,
    one_line,
    stdout_gone,
)

# click's exception classes, whether typer vendors click (0.29+) or depends on it
USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
OUT_OF_MEMORY = (
    "exporter: error: ran out of memory: the input holds or declares more than this machine "
    "can hold (run with --debug for the traceback)"
)


def exit_code_for(exc: BaseException) -> int:
    """Say in one line on stderr what went wrong (with --debug, the traceback first); the exit
    code of exc. Under --json the same line and code also go to stdout as one JSON document,
    {"error": ..., "exit_code": ...}, so a script reading stdout always gets a document."""
    if isinstance(exc, BrokenPipeError) and stdout_gone():  # `exporter inspect M | head -1`
        return end_on_closed_stdout()
    if State.debug and not isinstance(exc, KeyboardInterrupt):
        traceback.print_exception(exc)
    code, line = _explain(exc)
    err(line)
    if State.json_requested:
        message = line.split(": ", 2)[-1] if line.startswith("exporter: ") else line
        emit_json({"error": message, "exit_code": code})
    return code


def _explain(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, KeyboardInterrupt):
        # an interrupt held while an output was being published lands just after it: every
        # output is then either complete or exactly as it was, never partial
        return INTERRUPTED, "exporter: interrupted; every output is either complete or unchanged"
    if isinstance(exc, ExporterError):
        return exc.exit_code, f"exporter: error: {one_line(str(exc))}"
    if isinstance(exc, MemoryError):  # the last line of defence: readers bound sizes first
        return 3, OUT_OF_MEMORY
    return INTERNAL_ERROR, (
        f"exporter: internal error: {type(exc).__name__}: {one_line(str(exc))} "
        "(run with --debug for the traceback and please report it)"
    )


class Group(TyperGroup):
    """The top-level group: every command runs inside its invoke, the error boundary."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, CLICK_ERROR):
            raise  # click's own: usage errors, help, and the exit codes commands chose
        except (KeyboardInterrupt, Exception) as exc:
            raise typer.Exit(exit_code_for(exc)) from None


def _global_options(global_quiet: Quiet = False, global_debug: Debug = False) -> None:
    """-q/--quiet and --debug, accepted after a command's name too (see Command)."""


class Command(TyperCommand):
    """A command that also takes -q/--quiet and --debug after its name, and acts on --json
    given before it (`exporter -q inspect M` = `exporter inspect M -q`)."""

    def __init__(self, *args: Any, params: list | None = None, **kwargs: Any):
        from typer.main import get_params_convertors_ctx_param_name_from_function as params_of

        super().__init__(*args, params=[*(params or []), *params_of(_global_options)[0]], **kwargs)

    def invoke(self, ctx: Any) -> Any:
        State.quiet = ctx.params.pop("global_quiet", False) or State.quiet
        State.debug = ctx.params.pop("global_debug", False) or State.debug
        if State.json:
            if "json_out" not in ctx.params:
                raise UsageError(f"--json: the {self.name} command prints no JSON document")
            ctx.params["json_out"] = True
        State.json_requested = bool(ctx.params.get("json_out"))
        return super().invoke(ctx)


app = typer.Typer(
    name="exporter",
    cls=Group,
    help="Get the parameters out of trained Keras and scikit-learn models exactly, and convert "
    "models to ONNX with proof.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
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
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Global options (-q/--quiet, --debug, --json) go before or after the command name."""
    State.debug = debug
    State.quiet = quiet
    State.json = json_out


# The command modules import only typer at start; each imports its heavy libraries when it runs.
app.command("inspect", cls=Command)(inspect_cmd.inspect)
app.command("export", cls=Command, epilog=export_cmd.EPILOG)(export_cmd.export)
app.command("validate", cls=Command)(validate_cmd.validate)
app.command("diff", cls=Command)(diff_cmd.diff)
app.command("show", cls=Command)(show_cmd.show)
app.command("check", cls=Command)(check_cmd.check)
app.command("spec", cls=Command)(check_cmd.spec)
app.command("apply", cls=Command)(apply_cmd.apply)
app.command("versions", cls=Command)(versions_cmd.versions)
app.command("convert", cls=Command)(convert_cmd.convert)
app.command("verify", cls=Command)(convert_cmd.verify)
train = typer.Typer(help="Train an example model and save it.", no_args_is_help=True)
train.command("keras", cls=Command)(train_cmd.keras_command)
train.command("sklearn", cls=Command)(train_cmd.sklearn_command)
app.add_typer(train, name="train")


def main() -> None:
    """Console-script entry point: usage errors are one line too (exit 2), like every error.
    A reader that closes stdout early (`| head -1`) ends the command normally: exit 0."""
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
    """Run the command line; returns the exit code. Errors inside a command have become exit
    codes already (Group.invoke); these are click's, from parsing the command line."""
    try:
        code = app(standalone_mode=False)
    except USAGE_ERROR as exc:
        if exc.format_message().strip():  # empty when no command was given: help is shown
            command = exc.ctx.command_path if exc.ctx else "exporter"
            message = f"exporter: error: {exc.format_message()} (see '{command} --help')"
            print(message, file=sys.stderr)
        return exc.exit_code
    except CLICK_ERROR as exc:
        print(f"exporter: error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except typer.Abort:  # Ctrl-C outside a command (click turns it into Abort)
        err("exporter: interrupted; every output is either complete or unchanged")
        return INTERRUPTED
    return code if isinstance(code, int) else 0
