"""Saving matplotlib figures the one way every plot of the package does.

Example:
    >>> import tempfile, pathlib
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> figure, axis = plt.subplots()
    >>> _ = axis.plot([0, 1], [1, 0])
    >>> save_figure(figure, pathlib.Path(tempfile.mkdtemp()) / "sub" / "line.png").name
    'line.png'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_figure(figure: Any, path: str | Path, dpi: int = 100) -> Path:
    """Lay out ``figure``, write it to ``path`` (creating its folder) and close it, so that a
    long run drawing many plots never accumulates open figures."""
    import matplotlib.pyplot as plt

    saved = Path(path)
    saved.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.tight_layout()
        figure.savefig(saved, dpi=dpi)
    finally:
        plt.close(figure)
    return saved
