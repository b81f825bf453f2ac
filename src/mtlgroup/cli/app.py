"""The typer application and the error convention shared by every command.

Bad input never ends in a traceback: commands raise :class:`UsageError` (or a library error that
:func:`run_command` maps to one) and the user sees one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from mtlgroup.errors import NonFiniteLossError, RunFailure

if TYPE_CHECKING:
    from rich.console import Console


class _Group(TyperGroup):
    """The app's group: a command's help texts quote the schema's defaults only once that
    command is chosen, so that ``mtlgroup --help`` does not import the schema (pydantic)."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:  # click's Context
        from mtlgroup.cli.options import fill_defaults

        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            fill_defaults(command)
        return name, command, rest


app = typer.Typer(
    name="mtlgroup",
    cls=_Group,
    # Plain click help: it flows each paragraph of a docstring to the terminal's width, has no
    # box drawing for logs, and does not import rich's markdown (a third of a second).
    rich_markup_mode=None,
    help="Which tasks should be learned together? Measure task affinity, choose networks under "
    "an inference budget, train them and report the trade-off.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2
T = TypeVar("T")


def _print_version(given: bool) -> None:
    if given:
        from mtlgroup import __version__

        typer.echo(f"mtlgroup {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
) -> None:
    pass


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _message(error: BaseException) -> str:
    # KeyError's str() adds quotes around its message; our KeyErrors carry a sentence.
    if isinstance(error, KeyError) and type(error).__str__ is KeyError.__str__ and error.args:
        return str(error.args[0])
    return str(error)


def run_command(body: Callable[[], T]) -> T:
    """Run ``body``; bad input (:class:`UsageError`, ``ValueError``, ``KeyError`` such as an
    unknown task or dataset, a missing file) becomes one line and exit code 2; a training that
    diverged or a run that could not finish (:class:`RunFailure`, ``NonFiniteLossError``) one
    line and exit code 1. A Ctrl-C says what was kept and the command that resumes, exit
    code 130 (see :mod:`mtlgroup.cli.interrupt`)."""
    from mtlgroup.cli.interrupt import EXIT_INTERRUPTED, interrupted_message, keeps_work_in

    keeps_work_in(None)
    try:
        return body()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        typer.echo(f"\n{interrupted_message()}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (RunFailure, NonFiniteLossError) as error:
        fail(_message(error), EXIT_FAILURE)
    except (UsageError, ValueError, KeyError, FileNotFoundError) as error:
        fail(_message(error))


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


LOG_WIDTH = 1000
"""Columns of output that is not a terminal (a log, a pipe, CI): rich would use 80 there and
wrap tables, splitting network names; a log has no width to fit."""


def stdout_console() -> Console:
    """The rich console of a command's stdout: the terminal's width, or :data:`LOG_WIDTH`."""
    from rich.console import Console

    return Console() if stdout_is_terminal() else Console(width=LOG_WIDTH)
