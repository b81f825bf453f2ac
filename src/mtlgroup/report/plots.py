"""The time–accuracy trade-off plot: test total loss against inference budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from mtlgroup.figures import save_figure


def plot_tradeoff(
    budgets: Sequence[float],
    curves: Mapping[str, Sequence[float | None]],
    path: str | Path,
    title: str = "test total loss vs inference budget",
) -> Path:
    """One line per curve (``None`` = no value at that budget, e.g. infeasible); lower is better.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "curve.png"
        >>> plot_tradeoff([1, 2], {"chosen": [0.5, 0.4], "all-task": [0.6, None]}, out).exists()
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    markers = "osd^vx*"
    for index, (label, values) in enumerate(curves.items()):
        points = [(b, v) for b, v in zip(budgets, values, strict=True) if v is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker=markers[index % len(markers)], label=label)
    ax.set_xlabel("inference budget (standard networks)")
    ax.set_ylabel("test total loss (lower is better)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path, dpi=120)
