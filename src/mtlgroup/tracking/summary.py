"""A pipeline run's summary as one tracker run: the trade-off table, per-budget metrics, the
report files.

:func:`log_pipeline_run` writes the budget rows (``stages/evaluate.json``) as the artifact
``tradeoff.csv``, logs every number of a row as ``<column>/budget_<b>`` (``test_total/
budget_2``, ``all_task_total/budget_2``, ``cost/budget_2``, …), and keeps the report's files.

Example:
    >>> rows = [{"budget": 1.5, "feasible": True, "networks": ["a+b", "c"], "cost": 1.4,
    ...          "test_total": 0.9, "test_per_task": {"a": 0.5}, "note": ""}]
    >>> budget_metrics(rows)
    {'cost/budget_1.5': 1.4, 'test_total/budget_1.5': 0.9}
    >>> flat_rows(rows)[0]["networks"], flat_rows(rows)[0]["test_per_task/a"]
    ('a+b; c', 0.5)
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlgroup.tracking.settings import open_tracker

if TYPE_CHECKING:
    from mtlgroup.pipeline.context import RunContext
    from mtlgroup.pipeline.rows import PipelineReport

TABLE_FILE = "tradeoff.csv"
REPORT_FILES = ("report.html", "report.json")
"""Logged with the figures (``*.png``) beside them in the run directory."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def budget_metrics(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Every number of every row (but the budget) as ``<column>/budget_<b>``."""
    return {f"{key}/budget_{row['budget']:g}": float(value)
            for row in rows for key, value in row.items()
            if key != "budget" and _is_number(value)}


def flat_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as CSV cells: a list joined by ``; ``, a mapping spread over ``<column>/<key>``."""
    flat = []
    for row in rows:
        cells: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, Mapping):
                cells.update({f"{key}/{k}": v for k, v in value.items()})
            elif isinstance(value, list | tuple):
                cells[key] = "; ".join(map(str, value))
            else:
                cells[key] = value
        flat.append(cells)
    return flat


def write_rows_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """The rows as a CSV table (columns in the order they first appear)."""
    flat = flat_rows(rows)
    columns = list(dict.fromkeys(column for row in flat for column in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, restval="")
        writer.writeheader()
        writer.writerows(flat)
    return path


def log_summary_run(
    track: Mapping[str, str],
    run_name: str,
    rows: Sequence[Mapping[str, Any]],
    files: Iterable[Path] = (),
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
) -> None:
    """One run ``run_name``: ``params``, ``metrics`` and :func:`budget_metrics` of ``rows``
    (step 0), ``rows`` as :data:`TABLE_FILE`, and every file of ``files`` that exists."""
    tracker = open_tracker(track, run_name)
    try:
        tracker.log_params(dict(params or {}))
        tracker.log_metrics({**(metrics or {}), **budget_metrics(rows)}, step=0)
        with tempfile.TemporaryDirectory() as folder:
            tracker.log_artifact(write_rows_csv(rows, Path(folder) / TABLE_FILE))
        for path in files:
            if path.is_file():
                tracker.log_artifact(path)
    except BaseException:
        tracker.close(failed=True)
        raise
    tracker.close()


def log_pipeline_run(track: Mapping[str, str], context: RunContext,
                     report: PipelineReport) -> str:
    """Log a finished pipeline run as the run ``pipeline (<estimator>)``; returns its name."""
    out = Path(context.out)
    name = f"pipeline ({report.estimator})"
    params = {
        "estimator": report.estimator, "dataset": report.dataset,
        "tasks": ",".join(report.tasks), "budgets": ",".join(f"{b:g}" for b in context.budgets),
        "baseline_budgets": ",".join(f"{b:g}" for b in context.baseline_budgets),
        "solver": context.solver, "cost_unit": context.cost_unit, "out": str(out.absolute()),
        **{f"training.{k}": v for k, v in context.study.train_config.items()},
    }
    metrics = {"trainings": report.trainings, "training_seconds": report.training_seconds,
               "wall_seconds": report.wall_seconds, "failures": len(report.failures)}
    files = [out / f for f in REPORT_FILES] + sorted(out.glob("*.png"))
    log_summary_run(track, name, report.to_dict()["rows"], files, params, metrics)
    return name
