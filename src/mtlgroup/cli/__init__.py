"""Command-line interface: ``mtlgroup COMMAND``. The CLI only parses and calls the Python API."""

from __future__ import annotations

# Each module registers its commands on `app` when imported.
from mtlgroup.cli import affinity as _affinity  # noqa: F401
from mtlgroup.cli import benchmark as _benchmark  # noqa: F401
from mtlgroup.cli import datasets as _datasets  # noqa: F401
from mtlgroup.cli import export as _export  # noqa: F401
from mtlgroup.cli import run as _run  # noqa: F401
from mtlgroup.cli import select as _select  # noqa: F401
from mtlgroup.cli import share as _share  # noqa: F401
from mtlgroup.cli import status as _status  # noqa: F401
from mtlgroup.cli import strategies as _strategies  # noqa: F401
from mtlgroup.cli import study as _study  # noqa: F401
from mtlgroup.cli import train as _train  # noqa: F401
from mtlgroup.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
