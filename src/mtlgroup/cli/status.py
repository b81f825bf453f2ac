"""``mtlgroup status RUN|STORE [--json]``: what a study has done, is running, failed and has left.

It reads the store while a study runs in another process (the store is in WAL mode) and writes
nothing. The text output is plain lines (readable when piped); ``--json`` prints one object,
whose fields :class:`mtlgroup.study.status.StudyStatus` documents. Exit code 2 for a path that
names no study store (one line; nothing is created).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mtlgroup.cli.app import UsageError, app, run_command


@app.command("status")
def status_command(
    path: Path = typer.Argument(..., metavar="PATH",
                                help="A run directory (with study.sqlite), a study store "
                                "(.sqlite) or a directory holding one."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of lines."),
) -> None:
    """Show a study's jobs: counts per status, running jobs (owner alive or stale, for how
    long), failed jobs with their errors, what remains (with an estimate of the training time
    left), the disk use of the kept networks and, for a run, the stages saved."""

    def body() -> None:
        from mtlgroup.study import StoreError
        from mtlgroup.study.status import study_status

        try:
            status = study_status(path)
        except StoreError as error:  # e.g. a store of a newer schema version
            raise UsageError(str(error)) from None
        typer.echo(json.dumps(status.to_dict(), indent=2) if as_json else status.format())

    run_command(body)
