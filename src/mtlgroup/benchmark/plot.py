"""The benchmark's figure: Δm of each method with its spread over seeds.

Example:
    >>> import tempfile, pathlib
    >>> from mtlgroup.benchmark.table import BenchmarkRow, BenchmarkTable
    >>> rows = [BenchmarkRow(m, [0, 1], d, 0.5, {}, {}, {}, {}, 0, 0, 1.0, 0.0)
    ...         for m, d in (("single-task", 0.0), ("joint", -2.0), ("pcgrad", 1.0))]
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "delta_m.png"
    >>> plot_delta_m(BenchmarkTable(rows, {}), out, "synthetic").exists()
    True
"""

from __future__ import annotations

from pathlib import Path

from mtlgroup.benchmark.plan import GROUPING, SINGLE_TASK
from mtlgroup.benchmark.table import BenchmarkTable
from mtlgroup.figures import save_figure

DELTA_M_AXIS = "Δm % against single-task networks (higher is better)"


def plot_delta_m(table: BenchmarkTable, path: str | Path, title: str = "") -> Path:
    """One horizontal bar per method (mean Δm over seeds, error bar ± one standard
    deviation), in the table's order; the single-task reference and the grouping stand out
    by colour, and a method without Δm is left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table.rows if r.delta_m is not None]
    fig, ax = plt.subplots(figsize=(7.2, 0.45 * len(rows) + 1.6))
    positions = list(range(len(rows)))[::-1]  # the first method on top
    colours = ["#999999" if r.method == SINGLE_TASK else "#d62728" if r.method == GROUPING
               else "#1f77b4" for r in rows]
    ax.barh(positions, [r.delta_m or 0.0 for r in rows],
            xerr=[r.delta_m_std or 0.0 for r in rows], color=colours, capsize=4,
            error_kw={"elinewidth": 1.2})
    ax.set_yticks(positions, [r.method for r in rows])
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xlabel(DELTA_M_AXIS)
    seeds = max((len(r.seeds) for r in rows), default=0)
    caption = f"Δm over {seeds} seed{'s' * (seeds != 1)} (bar: mean, line: ± std)"
    ax.set_title(f"{title}\n{caption}" if title else caption, fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    return save_figure(fig, path, dpi=120)
