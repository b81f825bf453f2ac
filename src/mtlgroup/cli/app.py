"""The typer application and the error convention shared by every command.

Bad input never ends in a traceback: commands raise :class:`UsageError` (or a library error that
:func:`run_command` maps to one) and the user sees one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer

app = typer.Typer(
    name="mtlgroup",
    help="Which tasks should be learned together? Measure task affinity, choose networks under "
    "an inference budget, train them and report the trade-off.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_USAGE = 2
T = TypeVar("T")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def run_command(body: Callable[[], T], *, expected: tuple[type[BaseException], ...] = ()) -> T:
    """Run ``body``; map :class:`UsageError`, ``ValueError``, ``KeyError`` (e.g. unknown task or
    dataset) and ``expected`` exceptions to a one-line error and exit code 2."""
    try:
        return body()
    except typer.Exit:
        raise
    except (UsageError, ValueError, KeyError, FileNotFoundError, *expected) as error:
        message = str(error)
        if isinstance(error, KeyError) and type(error) is KeyError:
            message = f"unknown key {error}"
        fail(message)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
