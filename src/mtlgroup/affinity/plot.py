"""Heat map of an affinity matrix (matplotlib, Agg backend: no display needed).

Rows are sources, columns targets; the colour scale is diverging and centred on zero so that
helpful (blue) and harmful (red) effects read at a glance. Unmeasured entries stay blank.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from mtlgroup.affinity import Affinity
    >>> a = Affinity(("a", "b"), np.array([[0.3, -0.1], [0.05, 0.2]]), method="tag")
    >>> out = plot_affinity(a, pathlib.Path(tempfile.mkdtemp()) / "a.png")
    >>> out.suffix
    '.png'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mtlgroup.affinity.matrix import Affinity

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_affinity(
    affinity: Affinity, path: str | Path | None = None, ax: Axes | None = None,
    title: str | None = None,
) -> Path | None:
    """Draw ``affinity`` on ``ax`` (or a new figure) and save it to ``path`` if given."""
    import matplotlib

    if ax is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    own_figure = ax is None
    n = len(affinity.tasks)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 0.9 * n, 0.9 + 0.8 * n))
    values = affinity.matrix
    finite = np.abs(values[np.isfinite(values)])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-limit, vmax=limit)
    ax.set_xticks(range(n), affinity.tasks, rotation=45, ha="right")
    ax.set_yticks(range(n), affinity.tasks)
    ax.set_xlabel("target")
    ax.set_ylabel("source")
    for i in range(n):
        for j in range(n):
            if np.isfinite(values[i, j]):
                strong = abs(values[i, j]) > 0.6 * limit
                ax.text(j, i, f"{values[i, j]:.3g}", ha="center", va="center", fontsize=8,
                        color="white" if strong else "black")
    ax.set_title(title or f"{affinity.method} affinity ({affinity.n_probes} probes)")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    saved = None
    if path is not None:
        saved = Path(path)
        saved.parent.mkdir(parents=True, exist_ok=True)
        figure = ax.figure.figure  # the root figure (the figure itself, or a subfigure's parent)
        figure.tight_layout()
        figure.savefig(saved, dpi=110)
    if own_figure:
        plt.close(ax.figure.figure)
    return saved
