"""Command-line interface: ``mtlgroup COMMAND``. The CLI only parses and calls the Python API."""

from __future__ import annotations

from mtlgroup.cli.app import app

# Each module registers its commands on `app` when imported.
from mtlgroup.cli import datasets as _datasets  # noqa: E402,F401
# from mtlgroup.cli import select as _select  # SELECT_PLACEHOLDER
from mtlgroup.cli import train as _train  # noqa: E402,F401


def main() -> None:
    app()


__all__ = ["app", "main"]
