"""Running the stages: :func:`run_pipeline` (all of them) and :func:`run_stage` (one)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlgroup.pipeline.context import STAGE_DIR, Echo, RunContext, budget_list, open_context
from mtlgroup.pipeline.rows import PipelineReport
from mtlgroup.pipeline.stages import STAGES

if TYPE_CHECKING:
    from mtlgroup.config import Settings


def run_pipeline(
    settings: Settings,
    out: str | Path,
    progress: bool | None = None,
    echo: Echo = print,
    store: str | Path | None = None,
) -> PipelineReport:
    """Run every stage (estimate → baselines → select → finalize → evaluate → report) into
    ``out`` and return the report (also written to disk).

    ``store`` (default ``out/study.sqlite``) may be shared by runs of several estimators on
    the same setting: a network one of them trained is never trained again by another.
    Running the same settings again retrains nothing that finished. A run directory holds one
    run's report: ``out`` holding the run of another estimator is a ``ValueError`` (see
    :func:`check_run_directory`), raised before anything is trained or written."""
    check_run_directory(Path(out), settings.pipeline.estimator)
    with open_context(settings, out, echo, progress, store) as context:
        echo(f"mtlgroup: {context.estimator.name} on {context.dataset} "
             f"({', '.join(context.tasks)}), budgets {budget_list(context.budgets)}")
        report = run_stages(context, STAGES.names())[-1]
        assert isinstance(report, PipelineReport)
        if context.study.track:  # the trade-off table and the report, as one tracker run
            from mtlgroup.tracking import log_pipeline_run

            log_pipeline_run(context.study.track, context, report)
        return report


def check_run_directory(out: Path, estimator: str) -> None:
    """Refuse to run the ``estimator`` into ``out`` when ``out`` holds the run of another one
    (its saved ``stages/estimate.json`` says which): the new run would overwrite that run's
    stages and report. The store may be shared by runs of several estimators (``store=``); a
    run directory may not. Rerunning the same estimator (to resume, or with another
    ``recommend_budget``) is fine."""
    saved = out / STAGE_DIR / "estimate.json"
    try:
        previous = json.loads(saved.read_text()).get("estimator")
    except (OSError, ValueError, AttributeError):  # no earlier run (or nothing readable of it)
        return
    if previous is not None and previous != estimator:
        other = out.with_name(f"{out.name}-{estimator}") if out.name else out / estimator
        raise ValueError(
            f"{out} holds a run of the {previous} estimator ({saved}); this run of {estimator} "
            f"would overwrite its report: give another run directory (--out {other}), or "
            f"delete {out} to start over"
        )


def run_stages(context: RunContext, names: Sequence[str]) -> list[Any]:
    """Run the named stages in order on ``context``; their values."""
    return [STAGES.get(name).run(context) for name in names]


def run_stage(
    name: str,
    settings: Settings,
    out: str | Path,
    progress: bool | None = None,
    echo: Echo = print,
    store: str | Path | None = None,
) -> Any:
    """Run one stage alone on the run directory ``out``, from the values earlier stages
    saved there (e.g. ``run_stage("report", settings, out)`` redraws a finished run's report
    and returns its :class:`PipelineReport`). A missing earlier value is a
    :class:`~mtlgroup.pipeline.context.StageMissing` naming the stage to run first."""
    with open_context(settings, out, echo, progress, store) as context:
        return STAGES.get(name).run(context)
