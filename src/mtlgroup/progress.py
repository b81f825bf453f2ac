"""Progress of long work (training, studies, data generation), on stderr.

On a terminal it is a bar. Elsewhere (CI, ``nohup``, a file) a bar would show nothing for
minutes, so the progress is lines instead: one per finished item that has something to say (a
study's job: network, seconds, val loss) and a summary when the stage ends. ``enabled=False``
or ``MTLGROUP_PROGRESS=0`` turns both off; ``enabled=True`` wins over the variable.

Example:
    >>> with progress_bar(3, "work", enabled=False) as advance:
    ...     for _ in range(3):
    ...         advance(1)
    >>> progress_mode(False), progress_mode(True) in ("bar", "lines")
    (None, True)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TextIO

Mode = Literal["bar", "lines"]


def progress_mode(requested: bool | None = None) -> Mode | None:
    """``"bar"`` when stderr is a terminal, else ``"lines"``; ``None`` (nothing) when
    ``requested`` is False or, when it is not given, ``MTLGROUP_PROGRESS`` is 0/false/no/off."""
    off = os.environ.get("MTLGROUP_PROGRESS", "").lower() in ("0", "false", "no", "off")
    if requested is False or (requested is None and off):
        return None
    return "bar" if sys.stderr.isatty() else "lines"


@contextmanager
def progress_bar(
    total: int, description: str, enabled: bool | None = None
) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, description=None, line=None)``: ``description`` retitles the bar,
    ``line`` says what just finished (printed where there is no bar); a no-op when disabled."""
    mode = progress_mode(enabled)
    if mode is None:
        yield lambda n=1, description=None, line=None: None
        return
    if mode == "lines":
        with progress_lines(total, description) as advance:
            yield advance
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        handle = progress.add_task(description, total=total)

        def advance(n: int = 1, description: str | None = None, line: str | None = None) -> None:
            if description is None:
                progress.advance(handle, n)
            else:
                progress.update(handle, advance=n, description=description)

        yield advance


@contextmanager
def progress_lines(
    total: int, stage: str, stream: TextIO | None = None
) -> Iterator[Callable[..., None]]:
    """The progress of :func:`progress_bar` for a log: ``stage [done/total] line`` for each
    ``advance`` given a ``line``, and ``stage: done/total in S s`` at the end (also when the
    work stopped early). Each line is flushed at once: a log is read while it grows.

    Example:
        >>> import io
        >>> log = io.StringIO()
        >>> with progress_lines(2, "study", log) as advance:
        ...     advance(1, line="a done in 1.0 s")
        ...     advance(1)
        >>> print(log.getvalue(), end="")
        study [1/2] a done in 1.0 s
        study: 2/2 in ... s
    """
    done = 0
    started = time.perf_counter()

    def write(text: str) -> None:
        print(text, file=stream or sys.stderr, flush=True)

    def advance(n: int = 1, description: str | None = None, line: str | None = None) -> None:
        nonlocal done
        done += n
        if line is not None:  # the description retitles a bar: a log has the line instead
            write(f"{stage} [{done}/{total}] {line}")

    try:
        yield advance
    finally:
        write(f"{stage}: {done}/{total} in {time.perf_counter() - started:.1f} s")
