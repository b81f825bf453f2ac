"""``mtlgroup strategies``: the update strategies, what they are and their options."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from mtlgroup.cli.app import app, stdout_console


@app.command("strategies")
def strategies_command(
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """List every update strategy: its kind, where it comes from (mtlgroup or torchjd), whether
    it is available here, what it does and its options with their defaults.

    Train with one by name, options after a colon: --strategy cagrad:c=0.4 (see
    docs/training.md)."""
    from mtlgroup.training.strategy_catalog import describe_strategies
    from mtlgroup.training.torchjd_support import INSTALL_HINT

    infos = describe_strategies()
    if as_json:
        typer.echo(json.dumps([info.to_dict() for info in infos], indent=2, default=str))
        return
    table = Table(title="update strategies (--strategy NAME or NAME:KEY=VALUE,...)",
                  title_justify="left")
    for column in ("name", "kind", "source", "here", "options", "description"):
        table.add_column(column)
    for info in infos:
        options = ", ".join(f"{k}={_text(v)}" for k, v in info.options.items())
        table.add_row(info.name, info.kind, info.source, "yes" if info.available else "no",
                      escape(options), escape(info.description))
    console = stdout_console()
    console.print(table)
    if not all(info.available for info in infos):
        console.print(f"the strategies marked 'no' need torchjd: {INSTALL_HINT}", markup=False)


def _text(value: object) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else \
        str(value)
