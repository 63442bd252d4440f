"""One exception hierarchy. Every error the library raises on purpose is an ExporterError.

Each class carries the exit code the command line maps it to (DESIGN.md): 1 a check ran and
failed, 2 wrong usage, 3 input that cannot be read, is unsupported or is refused as unsafe.
Messages are one line: what went wrong, which file, what to do.
"""

from __future__ import annotations


class ExporterError(Exception):
    """Base of every error exporter raises on purpose."""

    exit_code = 3


class UsageError(ExporterError, ValueError):
    """The call itself is wrong: bad option value, conflicting options, unknown format."""

    exit_code = 2


class OutputExistsError(UsageError, FileExistsError):
    """The output exists and --force was not given."""


class InputError(ExporterError, ValueError):
    """The input cannot be read, is damaged, or is of a kind exporter does not support."""

    exit_code = 3


class UnsupportedError(InputError):
    """The input is readable but holds something exporter cannot handle (names the part)."""


class UnsafeInputError(InputError):
    """The input is refused because reading it could run code or touch other files."""


class CheckFailed(ExporterError):
    """A check ran and did not hold (validate, diff, verify, check against a spec)."""

    exit_code = 1


class MissingDependencyError(ExporterError, ImportError):
    """An optional package needed for this input is not installed."""

    exit_code = 3


def require(module: str, extra: str):
    """Import an optional dependency or raise a MissingDependencyError that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{module} is not installed; install it with: pip install 'exporter[{extra}]'"
        ) from exc
