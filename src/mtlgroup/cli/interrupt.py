"""What a Ctrl-C says: the work that was kept, where, and the command that resumes it.

A command that keeps finished work in a study's store names that store with
:func:`keeps_work_in` once it knows it; :func:`mtlgroup.cli.app.run_command` catches the
``KeyboardInterrupt`` and prints :func:`interrupted_message` (exit code 130, the shell's for
SIGINT). Every finished job is already in the store when the interrupt arrives (the study
writes each result as its job ends and gives back the jobs it claimed), so running the same
command line again trains only what is missing.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

EXIT_INTERRUPTED = 130
"""128 + SIGINT, what shells report for a command stopped by Ctrl-C."""

_store: list[Path] = []
"""The store of the command running now, once it named it (at most one)."""


def keeps_work_in(store: str | Path | None) -> None:
    """Name the store the running command keeps its finished jobs in (``None``: none yet)."""
    _store[:] = [Path(store)] if store is not None else []


def resume_command(argv: list[str] | None = None) -> str:
    """The command line that was run, quoted so that it can be pasted (``mtlgroup ...``)."""
    return shlex.join(["mtlgroup", *(sys.argv if argv is None else argv)[1:]])


def interrupted_message(argv: list[str] | None = None) -> str:
    """``interrupted: 7 of 20 jobs done and kept in runs/x/study.sqlite; resume with: …``, or,
    for a command that keeps nothing until it ends, that nothing was written."""
    command = resume_command(argv)
    if not _store:
        return f"interrupted: nothing was written (the work was not finished); run again: {command}"
    store = _store[0]
    if not store.is_file():
        return f"interrupted before any job finished (no {store} yet); run again: {command}"
    from mtlgroup.study import StudyStore

    try:
        with StudyStore(store) as opened:
            counts = opened.counts()
    except Exception as error:  # what is said on the way out must not fail
        return f"interrupted: finished jobs are kept in {store} ({error}); resume with: {command}"
    total = sum(counts.values())
    return (f"interrupted: {counts['done']} of {total} jobs done and kept in {store}; "
            f"resume with: {command}")
