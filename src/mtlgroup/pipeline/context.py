"""What every stage of a run works with: :class:`RunContext`.

A context holds the study (and its store), the cost model, the run directory, the executor
(started on first use), ``echo`` and the few settings the stages act on, so that a stage is
``run(context)`` and never reads the whole :class:`~mtlgroup.config.Settings`. Each stage saves
its value as ``OUT/stages/<stage>.json`` with :meth:`RunContext.save`; a later stage reads it
back with :meth:`RunContext.load`, so any stage can be run again alone on a finished run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mtlgroup.config import Settings
    from mtlgroup.cost import CostModel
    from mtlgroup.pipeline.estimators import Estimator
    from mtlgroup.study import Study
    from mtlgroup.study.executors import Executor
    from mtlgroup.study.plans import Candidate
    from mtlgroup.study.study import StudySummary

Echo = Callable[[str], None]
STAGE_DIR = "stages"
"""Where the stages' saved values live, under the run directory."""


class StageMissing(FileNotFoundError):
    """A stage needs the saved value of an earlier stage that has not run in this directory."""


@dataclass
class RunContext:
    """The run directory and everything a stage needs besides its saved inputs.

    Attributes:
        out: the run directory.
        study: the study whose store holds every training of the run.
        costs: measures networks' costs (used when ``cost_unit`` is ``flops``).
        estimator: the estimator of this run (see :mod:`mtlgroup.pipeline.estimators`).
        budgets, baseline_budgets: where to select, and where to train the baselines.
        solver: the selection solver's name.
        cost_unit: ``flops`` (measured, relative to a standard network) or ``nominal``.
        sizes: the encoder sizes every candidate of the estimator's plan is trained at
            (``pipeline.sizes``; ``None``: the paper's pool).
        dataset: the dataset's name (for the report).
        echo: where progress lines go.
        progress: progress bars (``None``: the default of :func:`mtlgroup.progress`).
        make_executor: builds the executor the first time a stage trains something.
        settings: the run's whole settings as JSON (``Settings.model_dump(mode="json")``),
            for the report, which shows them exactly.
    """

    out: Path
    study: Study
    costs: CostModel
    estimator: Estimator
    budgets: list[float]
    baseline_budgets: list[float]
    solver: str = "auto"
    cost_unit: Literal["flops", "nominal"] = "flops"
    sizes: list[float] | None = None
    dataset: str = ""
    echo: Echo = print
    progress: bool | None = None
    make_executor: Callable[[], Executor] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    _executor: Executor | None = field(default=None, repr=False)

    @property
    def tasks(self) -> list[str]:
        return list(self.study.tasks)

    @property
    def executor(self) -> Executor | str:
        """The run's executor, started on first use (a report-only rerun starts none)."""
        if self.make_executor is None:
            return "inline"
        if self._executor is None:
            self._executor = self.make_executor()
        return self._executor

    def cost_of(self, candidate: Candidate) -> float:
        """A network's cost in the run's unit (nominal: its encoder size)."""
        if self.cost_unit == "nominal":
            return float(candidate.size)
        return self.costs.cost(candidate.tasks, candidate.size)

    def record(self, what: str, summary: StudySummary) -> dict[str, Any]:
        """Echo what a batch of trainings did; returns the part of a stage's saved value that
        finds them again: ``{"keys": [...], "failures": ["network: error", ...]}``."""
        self.echo(f"{what}: {summary.format()}")
        return {"keys": list(summary.keys),
                "failures": [f"{f.network}: {f.summary}" for f in summary.failed]}

    def path(self, stage: str) -> Path:
        return self.out / STAGE_DIR / f"{stage}.json"

    def save(self, stage: str, value: dict[str, Any]) -> dict[str, Any]:
        """Write a stage's value (JSON) atomically; returns it."""
        path = self.path(stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)  # a killed run never leaves half a file for the next stage
        return value

    def load(self, stage: str) -> dict[str, Any]:
        """A stage's saved value; :class:`StageMissing` says which stage to run first."""
        path = self.path(stage)
        if not path.is_file():
            raise StageMissing(f"{path} not found: run the {stage} stage first")
        value: dict[str, Any] = json.loads(path.read_text())
        return value

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()
        self.study.close()

    def __enter__(self) -> RunContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_context(
    settings: Settings,
    out: str | Path,
    echo: Echo = print,
    progress: bool | None = None,
    store: str | Path | None = None,
) -> RunContext:
    """The context of a run of ``settings`` in ``out`` (the one place that reads settings).

    ``store`` (default ``out/study.sqlite``) may be shared by runs of several estimators on the
    same setting: a network one of them trained is never trained again by another. The network
    factory is checked here (one error before any stage starts)."""
    from mtlgroup.cost import CostModel
    from mtlgroup.data import cached_dataset
    from mtlgroup.pipeline.estimators import create_estimator
    from mtlgroup.study import Study
    from mtlgroup.study.executors import create_executor
    from mtlgroup.tracking import prepare_track, resolve_track

    out = Path(out)
    track = resolve_track(settings.track, out)
    # The study checks the data and the model before it opens its store: bad input writes
    # nothing, not even the run directory.
    study = Study(
        Path(store) if store else out / "study.sqlite", settings.data.dataset,
        settings.data.loader_options(), settings.data.task_names(),
        settings.training.model_dump(), settings.training.seed, settings.training.device,
        model=settings.model, keep_weights=settings.study.keep_weights, track=track,
        strategy=settings.strategy,  # every training of the run, in the run's setting
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
        if track is not None:  # every training of the run logs to it (see mtlgroup.tracking)
            echo(prepare_track(track))
        data = cached_dataset(study.dataset, study.data_options)[0]
        costs = CostModel(data.tasks.subset(list(study.tasks)), data.input_shape, study.model)
    except BaseException:
        study.close()
        raise
    pipeline = settings.pipeline
    executor_options = settings.study.executor_options()
    baselines = pipeline.baseline_budgets
    return RunContext(
        out=out, study=study, costs=costs,
        estimator=create_estimator(pipeline.estimator, pipeline),
        budgets=list(pipeline.budgets),
        baseline_budgets=list(pipeline.budgets if baselines is None else baselines),
        solver=pipeline.solver, cost_unit=settings.study.cost, sizes=pipeline.sizes,
        dataset=settings.data.dataset,
        echo=echo, progress=progress,
        make_executor=lambda: create_executor(settings.study.executor, **executor_options),
        settings=settings.model_dump(mode="json"),
    )


def budget_list(budgets: Sequence[float]) -> str:
    """``1, 1.5, 2`` (for messages)."""
    return ", ".join(f"{b:g}" for b in budgets)
