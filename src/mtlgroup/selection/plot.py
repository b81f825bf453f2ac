"""The budget curve: objective (and test totals) against budget, with matplotlib (lazy)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mtlgroup.figures import save_figure


def plot_budget_curve(
    budgets: Sequence[float],
    objectives: Sequence[float],
    path: str | Path,
    *,
    test_totals: Sequence[float] | None = None,
    test_totals_min_rule: Sequence[float] | None = None,
    objective_label: str = "selection objective",
    title: str | None = None,
) -> Path:
    """Draw the objective against budget, with the test totals (honest and min rule) when
    given, and save the figure to ``path`` (format from its suffix)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.0, 4.0))
    try:
        axis.plot(budgets, objectives, marker="o", label=objective_label)
        if test_totals is not None:
            axis.plot(budgets, test_totals, marker="s", label="test total (honest rule)")
        if test_totals_min_rule is not None:
            axis.plot(budgets, test_totals_min_rule, marker="^", linestyle="--",
                      label="test total (min rule)")
        axis.set_xlabel("budget (cost units)")
        axis.set_ylabel("total over tasks")
        if title:
            axis.set_title(title)
        axis.grid(True, alpha=0.3)
        axis.legend()
    except BaseException:
        plt.close(figure)
        raise
    return save_figure(figure, path, dpi=120)
