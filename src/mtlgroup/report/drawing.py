"""A drawing of the networks to train: tasks as columns, networks as rows, a filled marker
where the network serves the task and a hollow one where the task is only auxiliary (trained
with it, read from another network).

Example:
    >>> grid = network_grid(["a", "b", "c"], {"a+b": ("a", "b"), "b+c": ("b", "c")},
    ...                     {"a": "a+b", "b": "a+b", "c": "b+c"})
    >>> grid
    [('a+b', ['serves', 'serves', '']), ('b+c', ['', 'auxiliary', 'serves'])]
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "networks.png"
    >>> plot_networks(["a", "b", "c"], grid, path, "budget 2").exists()
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from mtlgroup.figures import save_figure

Cell = Literal["serves", "auxiliary", ""]
GridRow = tuple[str, list[Cell]]


def network_grid(
    tasks: Sequence[str], members: Mapping[str, Sequence[str]], served_by: Mapping[str, str]
) -> list[GridRow]:
    """Per network (in the order of the tasks they serve), per task: ``serves``,
    ``auxiliary`` or ``""`` (not one of the network's tasks)."""
    networks = list(dict.fromkeys(served_by[t] for t in tasks if t in served_by))
    networks += [n for n in members if n not in networks]
    rows: list[GridRow] = []
    for network in networks:
        cells: list[Cell] = []
        for task in tasks:
            if served_by.get(task) == network:
                cells.append("serves")
            elif task in members.get(network, ()):
                cells.append("auxiliary")
            else:
                cells.append("")
        rows.append((network, cells))
    return rows


def plot_networks(tasks: Sequence[str], grid: Sequence[GridRow], path: str | Path,
                  title: str) -> Path:
    """Draw ``grid`` (from :func:`network_grid`) and save it to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 2.2 + 0.2 * max(len(name) for name, _ in grid) / 2 + 0.9 * len(tasks)
    figure, ax = plt.subplots(figsize=(min(width, 12.0), 1.5 + 0.5 * len(grid)))
    for row, (_, cells) in enumerate(grid):
        ax.plot([-0.4, len(tasks) - 0.6], [row, row], color="#ccc", lw=1, zorder=0)
        for column, cell in enumerate(cells):
            if cell:
                ax.plot(column, row, "o", ms=13, mew=2, color="#1f5fa8",
                        markerfacecolor="#1f5fa8" if cell == "serves" else "white")
    ax.plot([], [], "o", ms=10, mew=2, color="#1f5fa8", label="serves the task")
    ax.plot([], [], "o", ms=10, mew=2, color="#1f5fa8", markerfacecolor="white",
            label="auxiliary (trained with, not served)")
    ax.set_xticks(range(len(tasks)), list(tasks), rotation=30, ha="left")
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_yticks(range(len(grid)), [name for name, _ in grid])
    ax.set_xlim(-0.6, len(tasks) - 0.4)
    ax.set_ylim(len(grid) - 0.5, -0.5)
    ax.set_xlabel("tasks")
    ax.set_ylabel("networks to train")
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, frameon=False,
              fontsize=8)
    ax.set_title(title, fontsize=10, pad=12)
    return save_figure(figure, path, dpi=110)
