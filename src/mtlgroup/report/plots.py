"""The report's plots: the time–accuracy trade-off (test total loss against inference budget)
and the estimate's predicted losses against the real ones."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from mtlgroup.figures import save_figure

BUDGET_AXIS = "inference budget (× one standard single-task network)"
TOTAL_AXIS = "test total loss (sum over tasks, lower is better)"


def plot_tradeoff(
    budgets: Sequence[float],
    curves: Mapping[str, Sequence[float | None]],
    path: str | Path,
    title: str = "test total loss vs inference budget",
    *,
    baselines: Collection[str] = (),
    infeasible: Sequence[float] = (),
    recommended: tuple[float, float] | None = None,
) -> Path:
    """One line per curve (``None`` = no value at that budget); lower is better.

    Curves named in ``baselines`` are drawn dashed with hollow markers, the others solid with
    filled ones; ``infeasible`` budgets are crosses on the budget axis (legend "infeasible
    budget") and ``recommended`` (budget, total) a star.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "curve.png"
        >>> plot_tradeoff([1, 2, 3], {"chosen": [None, 0.5, 0.4], "all-task": [0.7, 0.6, None]},
        ...               out, baselines=["all-task"], infeasible=[1],
        ...               recommended=(2, 0.5)).exists()
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    markers = "osd^vP*"
    for index, (label, values) in enumerate(curves.items()):
        points = [(b, v) for b, v in zip(budgets, values, strict=True) if v is not None]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        baseline = label in baselines
        line = ax.plot(xs, ys, marker=markers[index % len(markers)], ms=7, mew=1.5,
                       linestyle="--" if baseline else "-", label=label)[0]
        if baseline:
            line.set_markerfacecolor("white")
    if infeasible:
        # On the axis itself: an infeasible budget has no loss to place it at.
        ax.plot(list(infeasible), [0.0] * len(infeasible), "x", ms=10, mew=2.5,
                color="crimson", transform=ax.get_xaxis_transform(), clip_on=False,
                label="infeasible budget", zorder=5)
    if recommended is not None:
        ax.plot(*recommended, "*", ms=18, color="gold", markeredgecolor="black", zorder=6,
                label="recommended")
    ax.set_xlabel(BUDGET_AXIS)
    ax.set_ylabel(TOTAL_AXIS)
    ax.set_xticks(sorted(set(budgets)))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)


def plot_predictions(
    points: Sequence[tuple[str, float, float]], path: str | Path, title: str
) -> Path:
    """Predicted against real validation loss, one point per (network, task) coloured by
    task (``points``: ``(task, predicted, real)``), with the line y = x.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "predicted.png"
        >>> plot_predictions([("a", 0.3, 0.35), ("b", 0.5, 0.45)], out, "HOA").exists()
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    tasks = list(dict.fromkeys(task for task, _, _ in points))
    for task in tasks:
        mine = [(p, r) for t, p, r in points if t == task]
        ax.scatter([p for p, _ in mine], [r for _, r in mine], s=40, label=task, zorder=3)
    values = [v for _, p, r in points for v in (p, r)]
    low, high = min(values), max(values)
    pad = 0.05 * (high - low or abs(high) or 1.0)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="#888", lw=1,
            linestyle="--", label="y = x (exact prediction)")
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted validation loss (task's loss)")
    ax.set_ylabel("real validation loss after full training")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="task", title_fontsize=8)
    return save_figure(fig, path, dpi=110)
