"""A sharing run's figure (accuracy against FLOPs and against stored parameters) and its HTML
report (the pipeline report's machinery, :func:`mtlgroup.report.write_html_report`, with the
``sharing.html`` template).

Example:
    >>> import tempfile, pathlib
    >>> from mtlgroup.delta_m import TaskMetric
    >>> from mtlgroup.sharing.table import SharingRow, SharingTable
    >>> scores = {"a": {"loss": 1.0, "accuracy": 0.5}}
    >>> table = SharingTable([SharingRow("independent", "independent", scores, 100.0, 10),
    ...                       SharingRow("multi-task@0.6", "multi-task", scores, 60.0, 6),
    ...                       SharingRow("shared d=0.05 s=0.9", "shared", scores, 60.0, 6)],
    ...                      {"a": TaskMetric("a", "accuracy", False)})
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "sharing.png"
    >>> plot_sharing(table, out, "synthetic").exists()
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mtlgroup.figures import save_figure
from mtlgroup.sharing.table import SharingTable

if TYPE_CHECKING:
    from mtlgroup.sharing.run import SharingResult

COLOURS = {"independent": "#777777", "multi-task": "#1f77b4", "shared": "#d62728"}
AXES = (("flops", "forward FLOPs per image (× independent ViTs)"),
        ("params", "stored parameters (× independent ViTs)"))


def plot_sharing(table: SharingTable, path: str | Path, title: str = "") -> Path:
    """Two panels, Δm against independent ViTs (y, higher is better) over the FLOPs ratio
    and over the stored-parameters ratio (x): independent (grey), the multi-task ViT(s)
    (blue) and the shared model at each level (red, joined in the table's order)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10.5, 4.2), sharey=True)
    for ax, (what, label) in zip(axes, AXES, strict=True):
        for kind, colour in COLOURS.items():
            rows = [r for r in table.rows if r.kind == kind]
            if not rows:
                continue
            xs = [table.ratio(r, what) or 0.0 for r in rows]  # type: ignore[arg-type]
            ys = [table.delta_m(r) for r in rows]
            ax.plot(xs, ys, "-o" if kind == "shared" else "o", color=colour, ms=7,
                    label=kind if kind != "shared" else "shared (each level)")
            for row, x, y in zip(rows, xs, ys, strict=True):
                ax.annotate(row.label.removeprefix("shared "), (x, y), fontsize=7,
                            xytext=(4, 4), textcoords="offset points")
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Δm % against independent ViTs (higher is better)")
    axes[0].legend(fontsize=8, loc="best")
    figure.suptitle(f"{title}: accuracy against cost" if title else "accuracy against cost",
                    fontsize=10)
    return save_figure(figure, path, dpi=120)


def write_sharing_report(path: str | Path, result: SharingResult) -> Path:
    """``report.html`` of a sharing run: the table, the figure, the base ranking with the
    proxy/measured agreement, the video section, settings and versions."""
    from mtlgroup.report import settings_yaml, versions, write_html_report
    from mtlgroup.sharing.run import base_sentence

    table = result.table
    rows = [{"cells": table.cells(r), "kind": r.kind, "row": r} for r in table.rows]
    base = result.base
    tasks = sorted(base["proxy_scores"] or {}, key=base["ranking"].index) or list(table.metrics)
    return write_html_report(path, {
        "dataset": result.settings.get("dataset", ""), "tasks": list(table.metrics),
        "columns": table.columns(), "rows": rows, "note": table.format().splitlines()[-1],
        "base": base, "base_sentence": base_sentence(base), "base_tasks": tasks,
        "video": result.video, "trained": result.trained, "reused": result.reused,
        "settings_yaml": settings_yaml(result.settings), "versions": versions(),
        "files": sorted(p.name for p in result.paths.values()),
    }, template="sharing.html")
