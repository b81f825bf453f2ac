"""The ``report`` stage: ``report.json``, ``report.html``, ``curve.png``, ``affinity.png`` and
the loss tables, from the saved values of the other stages and the store alone (so it can be
rerun on a finished run directory, e.g. after changing the template)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlgroup.pipeline.rows import PipelineReport
from mtlgroup.pipeline.stages import STAGES, rows_of

if TYPE_CHECKING:
    from mtlgroup.pipeline.context import RunContext

TRAINING_STAGES = ("estimate", "finalize", "baselines")
"""The stages whose saved values name the jobs the run trained (or reused)."""


@dataclass(frozen=True)
class Report:
    """Write the report of a run; returns the :class:`PipelineReport`."""

    name: str = "report"

    def run(self, context: RunContext) -> PipelineReport:
        import time

        from mtlgroup.report import plot_tradeoff

        estimate = context.load("estimate")
        rows = rows_of(context.load("evaluate"))
        saved = [context.load(stage) for stage in TRAINING_STAGES]
        keys = list(dict.fromkeys(k for value in saved for k in value["keys"]))
        records = context.study.store.jobs("done", keys=keys)
        out = context.out
        curve = plot_tradeoff(
            [row.budget for row in rows],
            {f"chosen networks ({estimate['estimator']})": [r.test_total for r in rows],
             "one all-task network": [r.all_task_total for r in rows],
             "independent single-task networks": [r.independent_total for r in rows]},
            out / "curve.png", title=f"{context.dataset}: test total loss vs budget",
        )
        heat_map = _heat_map(out, estimate)
        tables = context.study.tables(out / "tables", cost=context.cost_unit)
        report = PipelineReport(
            dataset=context.dataset,
            tasks=context.tasks,
            estimator=estimate["estimator"],
            rows=rows,
            trainings=len(records),
            training_seconds=sum(r.wall_time or 0.0 for r in records),
            wall_seconds=time.perf_counter() - context.started,
            out=str(out),
            failures=[f for value in saved for f in value["failures"]],
        )
        written = [curve, *tables.values(), *([heat_map] if heat_map else []),
                   *sorted(context.path("estimate").parent.glob("*.json"))]
        report.files = sorted(str(p.relative_to(out)) for p in written) + [
            "report.html", "report.json", "study.sqlite"]
        (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
        _write_html(out, report, estimate, context.cost_unit, curve, heat_map)
        return report


def _heat_map(out: Path, estimate: dict[str, Any]) -> Path | None:
    """``affinity.png`` from the affinity file the estimate wrote (None if it wrote none)."""
    from mtlgroup.affinity import Affinity
    from mtlgroup.affinity.plot import plot_affinity

    if not estimate.get("affinity"):
        return None
    affinity = Affinity.from_csv(out / estimate["affinity"])
    title = ("pairwise relative performance (row helps column)"
             if affinity.method == "pairwise" else None)
    return plot_affinity(affinity, out / "affinity.png", title=title)


def _write_html(out: Path, report: PipelineReport, estimate: dict[str, Any], cost_unit: str,
                curve: Path, heat_map: Path | None) -> Path:
    from mtlgroup.report import write_html_report

    return write_html_report(out / "report.html", {
        "dataset": report.dataset,
        "tasks": report.tasks,
        "estimator": report.estimator,
        "chosen_on": estimate["chosen_on"],
        "cost_unit": "forward FLOPs" if cost_unit == "flops" else "nominal: 1 and 0.5",
        "curve_png": curve.name,
        "rows": report.rows,
        "affinity_png": heat_map.name if heat_map else None,
        "affinity_caption": estimate["affinity_caption"],
        "costs": [
            ("networks trained", report.trainings),
            ("training time (sum over networks)", f"{report.training_seconds:.0f} s"),
            ("wall time of this run", f"{report.wall_seconds:.0f} s"),
        ],
        "files": report.files,
    })


STAGES.register("report", Report())
