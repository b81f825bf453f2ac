"""Progress bars for long work (training, studies, data generation), on stderr.

Bars show only when stderr is a terminal, unless forced; ``MTLGROUP_PROGRESS=0`` turns them off.

Example:
    >>> with progress_bar(3, "work", enabled=False) as advance:
    ...     for _ in range(3):
    ...         advance(1)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def progress_enabled(requested: bool | None = None) -> bool:
    """``requested`` wins when given; otherwise on if stderr is a terminal and not disabled."""
    if requested is not None:
        return requested
    if os.environ.get("MTLGROUP_PROGRESS", "").lower() in ("0", "false", "no", "off"):
        return False
    return sys.stderr.isatty()


@contextmanager
def progress_bar(
    total: int, description: str, enabled: bool | None = None
) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, description=None)``; a no-op when the bar is disabled."""
    if not progress_enabled(enabled):
        yield lambda n=1, description=None: None
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

        def advance(n: int = 1, description: str | None = None) -> None:
            if description is None:
                progress.advance(handle, n)
            else:
                progress.update(handle, advance=n, description=description)

        yield advance
