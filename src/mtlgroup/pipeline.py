"""The end-to-end run behind ``mtlgroup run`` and ``mtlgroup demo``.

study (train the candidates the estimator needs) → select at every budget → finalize (train the
chosen networks the estimate only predicted) → evaluate on test (honest rule) → baselines
(one all-task network and independent single-task networks, each scaled to cost the budget) →
report (``report.json``, ``report.html``, ``curve.png``, ``affinity.png``).

Every stage writes to one run directory and the study's store makes the whole run resumable:
running the same settings again retrains nothing that finished.

Example:
    >>> from mtlgroup.config import Settings
    >>> settings = Settings.model_validate({
    ...     "data": {"dataset": "synthetic", "n_train": 32, "n_val": 16, "n_test": 16, "size": 8},
    ...     "training": {"max_steps": 2, "batch_size": 16},
    ...     "pipeline": {"budgets": [2.0, 3.0], "baseline_budgets": [2.0]}})
    >>> # report = run_pipeline(settings, "runs/try")   # report.rows[0].test_total ...
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mtlgroup.config import Settings

Estimator = Literal["hoa", "esa", "exhaustive", "tag", "cs", "proximal"]
ESTIMATORS: tuple[str, ...] = ("hoa", "esa", "exhaustive", "tag", "cs", "proximal")
STUDY_PLAN = {"hoa": "pairs", "esa": "esa", "exhaustive": "all"}
"""The candidates each loss-table estimator trains; affinity estimators train one joint run."""


@dataclass
class BudgetRow:
    """The outcome at one budget."""

    budget: float
    feasible: bool
    note: str = ""
    networks: list[str] = field(default_factory=list)
    served_by: dict[str, str] = field(default_factory=dict)
    cost: float | None = None
    objective: float | None = None
    test_total: float | None = None
    test_total_min_rule: float | None = None
    test_per_task: dict[str, float] = field(default_factory=dict)
    all_task_total: float | None = None
    independent_total: float | None = None

    @property
    def best(self) -> str | None:
        """Which of chosen / all-task / independent has the lowest test total here."""
        options = {
            "chosen": self.test_total,
            "all-task": self.all_task_total,
            "independent": self.independent_total,
        }
        known = {k: v for k, v in options.items() if v is not None}
        return min(known, key=known.__getitem__) if known else None


@dataclass
class PipelineReport:
    """What a run produced; ``report.json`` is :meth:`to_dict`."""

    dataset: str
    tasks: list[str]
    estimator: str
    rows: list[BudgetRow]
    trainings: int
    training_seconds: float
    wall_seconds: float
    out: str
    files: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for row, raw in zip(self.rows, data["rows"], strict=True):
            raw["best"] = row.best
        return data


Echo = Callable[[str], None]


def run_pipeline(
    settings: Settings,
    out: str | Path,
    progress: bool | None = None,
    echo: Echo = print,
    store: str | Path | None = None,
) -> PipelineReport:
    """Run the whole pipeline into ``out`` and return its report (also written to disk).

    ``store`` (default ``out/study.sqlite``) may be shared by runs of several estimators on
    the same setting: a network one of them trained is never trained again by another."""
    from mtlgroup.cost import CostModel
    from mtlgroup.data import cached_dataset
    from mtlgroup.study import Study
    from mtlgroup.study.executors import create_executor

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    factory = settings.factory()
    study = Study(
        Path(store) if store else out / "study.sqlite", settings.data.dataset,
        settings.data.loader_options(), settings.data.task_names(),
        settings.training.model_dump(), settings.training.seed, settings.training.device,
        model=factory,
    )
    tasks = list(study.tasks)
    data = cached_dataset(study.dataset, study.data_options)[0]
    study.check_model()
    costs = CostModel(data.tasks.subset(tasks), data.input_shape, factory)
    executor = create_executor(settings.study.executor, **settings.study.executor_options())
    failures: list[str] = []

    def run_jobs(specs, what: str, finalize: bool = False) -> None:
        summary = (study.finalize(specs, executor, progress) if finalize
                   else study.run(executor, progress, specs=specs))
        echo(f"{what}: {summary.format()}")
        failures.extend(f"{f.network}: {f.summary}" for f in summary.failed)

    try:
        echo(f"mtlgroup: {settings.pipeline.estimator} on {settings.data.dataset} "
             f"({', '.join(tasks)}), budgets {_budget_list(settings.pipeline.budgets)}")
        if settings.pipeline.estimator in STUDY_PLAN:
            selection_rows, joint_run = _select_from_study(settings, study, costs, run_jobs), None
            affinity_path = None
        else:
            selection_rows, joint_run, affinity_path = _select_from_affinity(
                settings, data, tasks, costs, out, echo, progress
            )
        chosen = sorted({n for row in selection_rows if row.feasible for n in row.networks})
        if chosen:
            run_jobs(chosen, "finalize (train the chosen networks)", finalize=True)
        baselines = _baseline_candidates(settings, tasks, costs)
        if baselines:
            specs = study.add_plan([c for pair in baselines.values() for c in pair[0] + pair[1]])
            run_jobs(specs, "baselines (all-task and independent networks)")
        _score_rows(selection_rows, study, baselines)
        if affinity_path is None:
            affinity_path = _pairwise_heat_map(study, out)
        records = study.records("done")
        report = PipelineReport(
            dataset=settings.data.dataset,
            tasks=tasks,
            estimator=settings.pipeline.estimator,
            rows=selection_rows,
            trainings=len(records) + (joint_run is not None),
            training_seconds=sum(r.wall_time or 0.0 for r in records) + (joint_run or 0.0),
            wall_seconds=time.perf_counter() - started,
            out=str(out),
            failures=failures,
        )
        _write_report(report, settings, study, out, affinity_path)
        return report
    finally:
        executor.close()
        study.close()


# -- estimation and selection --------------------------------------------------------------------


def _select_from_study(settings, study, costs, run_jobs) -> list[BudgetRow]:
    """Train the estimator's plan, then select at every budget on its loss table (HOA:
    predicted from pairs, each predicted network costed by its own FLOPs; ESA: early losses)."""
    from mtlgroup.errors import RunFailure
    from mtlgroup.selection import LossTable, hoa_table, problem_from_table

    plan = STUDY_PLAN[settings.pipeline.estimator]
    specs = study.add_plan(plan)
    run_jobs(specs, f"study ({plan} plan, {len(specs)} networks)")
    split = "early" if settings.pipeline.estimator == "esa" else "val"
    losses = study.store.losses(split, keys=[s.key for s in specs])
    if not losses:
        raise RunFailure(f"no {split} losses: every training of the study failed")
    candidates = {s.candidate.name: s.candidate for s in specs}
    table = LossTable.from_losses(
        losses, {name: _cost(candidates[name], costs, settings) for name in losses},
        source=f"study {split} table",
    )
    if settings.pipeline.estimator == "hoa":
        flops_cost = None if settings.study.cost == "nominal" else costs.cost
        table = hoa_table(table, cost=flops_cost)
    return [_select(problem_from_table(table, budget=b), settings)
            for b in settings.pipeline.budgets]


def _cost(candidate, costs, settings) -> float:
    if settings.study.cost == "nominal":
        return float(candidate.size)
    return costs.cost(candidate.tasks, candidate.size)


def _select(problem, settings: Settings) -> BudgetRow:
    """Solve one budget's problem; an infeasible budget is a row that says why."""
    from mtlgroup.selection import InfeasibleError, solve

    try:
        solution = solve(problem, settings.pipeline.solver)
    except InfeasibleError as error:
        return BudgetRow(problem.budget, feasible=False, note=str(error))
    return BudgetRow(
        problem.budget, feasible=True, networks=list(solution.names),
        served_by=dict(solution.served_by), cost=solution.cost, objective=solution.objective,
    )


def _select_from_affinity(settings, data, tasks, costs, out, echo, progress):
    """Affinity estimators: one joint run gives ``A`` (reused from ``out`` when the same run
    was done before); at each budget, the best grouping (§2.1) whose networks, each costed by
    its FLOPs, fit the budget. Returns the rows, the joint run's seconds and the heat map."""
    from mtlgroup.affinity.plot import plot_affinity
    from mtlgroup.selection import Candidate, SelectionProblem, problem_from_affinity
    from mtlgroup.study.plans import parse_candidate

    affinity, seconds = _joint_affinity(settings, data, tasks, out, echo, progress)
    heat_map = plot_affinity(affinity, out / "affinity.png")
    groups = problem_from_affinity(affinity.tasks, affinity.matrix, max_groups=len(tasks))
    costed = tuple(
        Candidate(c.name, _cost(parse_candidate(c.name), costs, settings), c.values)
        for c in groups.candidates
    )
    rows = [_select(SelectionProblem(groups.tasks, costed, budget, "max"), settings)
            for budget in settings.pipeline.budgets]
    return rows, seconds, heat_map


def _joint_affinity(settings, data, tasks, out: Path, echo, progress):
    """The affinity of one joint training, cached in ``out`` under a key of its settings."""
    import hashlib

    from mtlgroup.affinity import Affinity, estimate_affinity
    from mtlgroup.training import TrainConfig

    method = settings.pipeline.estimator
    options = {"every": settings.pipeline.affinity_every} if method in ("tag", "cs") else {}
    config = TrainConfig(**{**settings.training.model_dump(), "progress": progress})
    factory = settings.factory()
    identity = {"data": dict(data.spec), "tasks": list(tasks), "method": method,
                "options": options, "train": config.result_defining(),
                "model": factory.identity()}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    marker = out / "affinity_run.json"
    if marker.exists() and (out / "affinity.csv").exists():
        saved = json.loads(marker.read_text())
        if saved.get("key") == key:
            echo(f"affinity: reusing the joint {settings.pipeline.estimator} run in {out}")
            return Affinity.from_csv(out / "affinity.csv"), float(saved["seconds"])
    echo(f"affinity: one joint training of {len(tasks)} tasks with {method} probes")
    affinity = estimate_affinity(data, tasks, method=settings.pipeline.estimator, config=config,
                                 model=factory, **options)
    affinity.to_csv(out / "affinity.csv")
    seconds = float(affinity.result.wall_time) if affinity.result is not None else 0.0
    marker.write_text(json.dumps({"key": key, "seconds": seconds, **identity}, indent=2))
    return affinity, seconds


# -- baselines and scoring -----------------------------------------------------------------------


def _baseline_candidates(settings, tasks, costs):
    """``{budget: ([all-task network], [one network per task])}``, each list costing ``b``."""
    from mtlgroup.study.plans import Candidate

    budgets = settings.pipeline.baseline_budgets
    if budgets is None:
        budgets = settings.pipeline.budgets
    plans = {}
    for budget in budgets:
        all_task = Candidate(tuple(tasks), costs.size_for_cost(tasks, budget))
        singles = [Candidate((t,), costs.size_for_cost([t], budget / len(tasks))) for t in tasks]
        plans[budget] = ([all_task], singles)
    return plans


def _score_rows(rows: Sequence[BudgetRow], study, baselines) -> None:
    """Fill test totals: the chosen networks by the honest rule (each task read from the
    network chosen for it, :meth:`Study.evaluate`) and the paper's min rule; the baselines."""
    from mtlgroup.study.plans import parse_candidate

    test = {parse_candidate(name).name: losses for name, losses in study.losses("test").items()}
    for row in rows:
        if row.feasible:
            row.test_per_task = study.evaluate(row.served_by, "test")
            row.test_total = sum(row.test_per_task.values())
            chosen = [test[parse_candidate(n).name] for n in row.networks]
            row.test_total_min_rule = sum(
                min(losses[t] for losses in chosen if t in losses) for t in row.served_by
            )
        if row.budget in baselines:
            (all_task,), singles = baselines[row.budget]
            if all_task.name in test:
                row.all_task_total = sum(test[all_task.name].values())
            if all(s.name in test for s in singles):
                row.independent_total = sum(test[s.name][s.tasks[0]] for s in singles)


def _pairwise_heat_map(study, out: Path) -> Path | None:
    """The pairwise relative-performance matrix (§1.3) of the study, as a heat map."""
    from mtlgroup.affinity import pairwise_affinity
    from mtlgroup.affinity.plot import plot_affinity

    val = study.losses("val")
    rows = [(name, 0.0, task, loss) for name, per_task in val.items()
            for task, loss in per_task.items()]
    try:
        affinity = pairwise_affinity(rows, tasks=study.tasks)
    except ValueError:
        return None  # no half-size singles or pairs (e.g. an ESA-only study)
    affinity.to_csv(out / "pairwise_affinity.csv")
    return plot_affinity(affinity, out / "affinity.png",
                         title="pairwise relative performance (row helps column)")


# -- report ----------------------------------------------------------------------------------------


def _write_report(report, settings, study, out: Path, affinity_path) -> None:
    from mtlgroup.report import plot_tradeoff, write_html_report

    budgets = [row.budget for row in report.rows]
    curves = {
        f"chosen networks ({settings.pipeline.estimator})": [row.test_total for row in report.rows],
        "one all-task network": [row.all_task_total for row in report.rows],
        "independent single-task networks": [row.independent_total for row in report.rows],
    }
    curve = plot_tradeoff(budgets, curves, out / "curve.png",
                          title=f"{settings.data.dataset}: test total loss vs budget")
    tables = study.tables(out / "tables", cost=settings.study.cost)
    report.files = sorted(
        str(p.relative_to(out)) for p in [curve, *tables.values()] + (
            [affinity_path] if affinity_path else [])
    ) + ["report.html", "report.json", "study.sqlite"]
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    context = {
        "dataset": settings.data.dataset,
        "tasks": report.tasks,
        "estimator": settings.pipeline.estimator,
        "chosen_on": "validation losses" if settings.pipeline.estimator in STUDY_PLAN
        else f"the {settings.pipeline.estimator} affinity matrix (one joint training run)",
        "cost_unit": "forward FLOPs" if settings.study.cost == "flops" else "nominal: 1 and 0.5",
        "curve_png": curve.name,
        "rows": report.rows,
        "affinity_png": affinity_path.name if affinity_path else None,
        "affinity_caption": "Relative performance R[t,u] = L(t alone, half size) / "
        "L(t trained with u) - 1, drawn with the source u as row and the target t as column: "
        "blue = training with the row task helps the column task."
        if settings.pipeline.estimator in STUDY_PLAN
        else f"{settings.pipeline.estimator} affinity, row = source.",
        "costs": [
            ("networks trained", report.trainings),
            ("training time (sum over networks)", f"{report.training_seconds:.0f} s"),
            ("wall time of this run", f"{report.wall_seconds:.0f} s"),
        ],
        "files": report.files,
    }
    write_html_report(out / "report.html", context)


def _budget_list(budgets: Sequence[float]) -> str:
    return ", ".join(f"{b:g}" for b in budgets)
