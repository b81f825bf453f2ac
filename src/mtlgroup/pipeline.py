"""The end-to-end run behind ``mtlgroup run`` and ``mtlgroup demo``.

study (train the candidates the estimator needs) → select at every budget → finalize (train the
chosen networks the estimate only predicted) → evaluate on test (honest rule) → baselines
(one all-task network and independent single-task networks, each scaled to cost the budget) →
report (``report.json``, ``report.html``, ``curve.png``, ``affinity.png``).

Every stage writes to one run directory and the study's store makes the whole run resumable:
running the same settings again retrains nothing that finished.

Example:
    >>> settings = PipelineSettings(dataset="synthetic", budgets=[2.0, 3.0],
    ...     data_options={"n_train": 32, "n_val": 16, "n_test": 16, "size": 8},
    ...     train={"max_steps": 2, "batch_size": 16}, baseline_budgets=[2.0])
    >>> # report = run_pipeline(settings, "runs/try")   # report.rows[0].test_total ...
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Estimator = Literal["hoa", "esa", "exhaustive", "tag", "cs", "proximal"]
ESTIMATORS: tuple[str, ...] = ("hoa", "esa", "exhaustive", "tag", "cs", "proximal")
STUDY_PLAN = {"hoa": "pairs", "esa": "esa", "exhaustive": "all"}
"""The candidates each loss-table estimator trains; affinity estimators train one joint run."""


@dataclass
class PipelineSettings:
    """Everything that defines a run (``mtlgroup run CONFIG.yaml`` fills it from YAML).

    Attributes:
        dataset, data_options: the data (``data_options`` go to the dataset's loader).
        tasks: the tasks to group (default: all of the dataset's).
        train: :class:`~mtlgroup.training.TrainConfig` fields used for every network.
        estimator: how candidates are scored: ``hoa`` (pairs study, predict larger networks),
            ``esa`` (every candidate, 20% of the budget), ``exhaustive`` (every candidate),
            or an affinity estimator from one joint run: ``tag``, ``cs``, ``proximal``.
        budgets: inference budgets, in standard networks.
        baseline_budgets: budgets at which the all-task and independent baselines are trained
            (default: every budget).
        executor, workers, address: where the study's jobs run.
        solver: selection solver (``milp`` or ``bnb``).
        cost: ``flops`` (measured, ALGORITHMS §7) or ``nominal`` (the paper's 1 and 0.5).
        affinity_every: probe period of the affinity estimators (steps).
    """

    dataset: str = "scenes"
    data_options: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] | None = None
    train: dict[str, Any] = field(default_factory=dict)
    estimator: str = "hoa"
    budgets: list[float] = field(default_factory=lambda: [1.0 + 0.5 * i for i in range(9)])
    baseline_budgets: list[float] | None = None
    executor: str = "local"
    workers: int = 1
    address: str | None = None
    solver: str = "milp"
    cost: Literal["flops", "nominal"] = "flops"
    seed: int = 0
    device: str = "auto"
    affinity_every: int = 10

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(
                f"unknown estimator {self.estimator!r}; expected one of {', '.join(ESTIMATORS)}"
            )
        if not self.budgets or any(not (b > 0 and math.isfinite(b)) for b in self.budgets):
            raise ValueError(f"budgets must be positive numbers, got {self.budgets}")
        self.budgets = sorted(float(b) for b in self.budgets)
        if self.baseline_budgets is not None:
            self.baseline_budgets = sorted(float(b) for b in self.baseline_budgets)


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
    settings: PipelineSettings,
    out: str | Path,
    progress: bool | None = None,
    echo: Echo = print,
    store: str | Path | None = None,
) -> PipelineReport:
    """Run the whole pipeline into ``out`` and return its report (also written to disk).

    ``store`` (default ``out/study.sqlite``) may be shared by runs of several estimators on
    the same setting: a network one of them trained is never trained again by another."""
    from mtlgroup.cost import CostModel
    from mtlgroup.data import dataset_entry
    from mtlgroup.study import Study
    from mtlgroup.study.executors import create_executor

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study = Study(
        Path(store) if store else out / "study.sqlite", settings.dataset,
        settings.data_options, settings.tasks, settings.train, settings.seed, settings.device,
    )
    tasks = list(study.tasks)
    input_shape = _input_shape(settings)
    costs = CostModel(dataset_entry(settings.dataset).tasks().subset(tasks), input_shape)
    executor = create_executor(settings.executor, **_executor_options(settings))
    failures: list[str] = []

    def run_jobs(specs, what: str) -> None:
        summary = study.run(executor, progress, specs=specs)
        echo(f"{what}: {summary.format()}")
        failures.extend(f"{f.network}: {f.summary}" for f in summary.failed)

    try:
        echo(f"mtlgroup: {settings.estimator} on {settings.dataset} "
             f"({', '.join(tasks)}), budgets {_budget_list(settings.budgets)}")
        selection_rows, affinity_path = _estimate_and_select(
            settings, study, tasks, costs, out, run_jobs, echo, progress
        )
        chosen = sorted({n for row in selection_rows if row.feasible for n in row.networks})
        if chosen:
            run_jobs(study.add_plan(chosen), "finalize (train the chosen networks)")
        baselines = _baseline_candidates(settings, tasks, costs)
        if baselines:
            specs = study.add_plan([c for pair in baselines.values() for c in pair[0] + pair[1]])
            run_jobs(specs, "baselines (all-task and independent networks)")
        test = study.losses("test")
        _score_rows(selection_rows, test, baselines)
        if affinity_path is None:
            affinity_path = _pairwise_heat_map(study, costs, out)
        records = study.records("done")
        report = PipelineReport(
            dataset=settings.dataset,
            tasks=tasks,
            estimator=settings.estimator,
            rows=selection_rows,
            trainings=len(records),
            training_seconds=sum(r.wall_time or 0.0 for r in records),
            wall_seconds=time.perf_counter() - started,
            out=str(out),
            failures=failures,
        )
        _write_report(report, settings, study, costs, out, affinity_path)
        return report
    finally:
        executor.close()
        study.close()


# -- estimation and selection --------------------------------------------------------------------


def _estimate_and_select(settings, study, tasks, costs, out, run_jobs, echo, progress):
    """Per budget, the selection on the estimator's numbers (rows without test scores yet)."""
    if settings.estimator in STUDY_PLAN:
        specs = study.add_plan(STUDY_PLAN[settings.estimator])
        run_jobs(specs, f"study ({STUDY_PLAN[settings.estimator]} plan, {len(specs)} networks)")
        table = _plan_table(study, specs, costs, settings)
        if settings.estimator == "hoa":
            table = _hoa_with_costs(table, costs, settings)
        return [_select_on_table(table, b, settings) for b in settings.budgets], None
    return _select_on_affinity(settings, study, tasks, costs, out, echo, progress)


def _plan_table(study, specs, costs, settings):
    """The selection table: the plan's networks on validation (``early`` for ESA)."""
    from mtlgroup.selection import LossTable

    split = "early" if settings.estimator == "esa" else "val"
    keys = [s.key for s in specs]
    losses = study.store.losses(split, keys=keys)
    if not losses:
        raise RuntimeError(f"no {split} losses: every job of the study failed")
    candidates = {s.candidate.name: s.candidate for s in specs}
    table_costs = {name: _cost(candidates[name], costs, settings) for name in losses}
    return LossTable.from_losses(losses, table_costs, source=f"study {split} table")


def _hoa_with_costs(table, costs, settings):
    """HOA predictions for every network of 3+ tasks, each costed like the real network
    would be (its FLOPs grow with its heads), not at one flat cost."""
    from mtlgroup.selection import LossTable, hoa_table

    predicted = hoa_table(table).by_network()
    losses = {name: per_task for name, (_, per_task) in predicted.items()}
    network_costs = {name: _cost(_full(name), costs, settings) for name in predicted}
    return LossTable.from_losses(losses, network_costs, source="HOA-predicted study table")


def _cost(candidate, costs, settings) -> float:
    if settings.cost == "nominal":
        return float(candidate.size)
    return costs.cost(candidate.tasks, candidate.size)


def _select_on_table(table, budget: float, settings: PipelineSettings) -> BudgetRow:
    from mtlgroup.selection import InfeasibleError, problem_from_table, solve

    try:
        solution = solve(problem_from_table(table, budget=budget), settings.solver)
    except InfeasibleError as error:
        return BudgetRow(budget, feasible=False, note=str(error))
    return BudgetRow(
        budget, feasible=True, networks=list(solution.names),
        served_by=dict(solution.served_by), cost=solution.cost, objective=solution.objective,
    )


def _select_on_affinity(settings, study, tasks, costs, out, echo, progress):
    """Affinity estimators: one joint run gives ``A``; at each budget, the best grouping (§2.1)
    with the most groups whose networks fit the budget."""
    from mtlgroup.affinity import estimate_affinity
    from mtlgroup.affinity.plot import plot_affinity
    from mtlgroup.data import load_dataset
    from mtlgroup.selection import InfeasibleError, problem_from_affinity, solve
    from mtlgroup.training import TrainConfig

    data = load_dataset(settings.dataset, **settings.data_options)
    config = TrainConfig(**{**settings.train, "seed": settings.seed, "device": settings.device,
                            "progress": progress})
    echo(f"affinity: one joint training of {len(tasks)} tasks with {settings.estimator} probes")
    options = {"every": settings.affinity_every} if settings.estimator in ("tag", "cs") else {}
    affinity = estimate_affinity(data, tasks, method=settings.estimator, config=config, **options)
    affinity.to_csv(out / "affinity.csv")
    heat_map = plot_affinity(affinity, out / "affinity.png")
    rows = []
    for budget in settings.budgets:
        row = BudgetRow(budget, feasible=False,
                        note=f"infeasible: no grouping of at least 2 tasks per group fits {budget}")
        for groups in range(len(tasks), 0, -1):
            try:
                problem = problem_from_affinity(affinity.tasks, affinity.matrix, max_groups=groups)
                solution = solve(problem, "milp")
            except (InfeasibleError, ValueError):
                continue
            names = [c.name for c in solution.networks]
            cost = sum(_cost(_full(name), costs, settings) for name in names)
            if cost <= budget + 1e-9:
                row = BudgetRow(budget, feasible=True, networks=names,
                                served_by=dict(solution.served_by), cost=cost,
                                objective=solution.objective)
                break
        rows.append(row)
    return rows, heat_map


def _full(name: str):
    from mtlgroup.study.plans import parse_candidate

    return parse_candidate(name)


# -- baselines and scoring -----------------------------------------------------------------------


def _baseline_candidates(settings, tasks, costs):
    """``{budget: ([all-task network], [one network per task])}``, each list costing ``b``."""
    from mtlgroup.study.plans import Candidate

    budgets = settings.budgets if settings.baseline_budgets is None else settings.baseline_budgets
    plans = {}
    for budget in budgets:
        all_task = Candidate(tuple(tasks), costs.size_for_cost(tasks, budget))
        singles = [Candidate((t,), costs.size_for_cost([t], budget / len(tasks))) for t in tasks]
        plans[budget] = ([all_task], singles)
    return plans


def _score_rows(rows: Sequence[BudgetRow], test: dict[str, dict[str, float]], baselines) -> None:
    """Fill test totals: the chosen networks by the honest rule, and the baselines."""
    from mtlgroup.study.plans import parse_candidate

    canonical = {parse_candidate(name).name: losses for name, losses in test.items()}
    for row in rows:
        if row.feasible:
            per_network = {n: canonical.get(parse_candidate(n).name) for n in row.networks}
            if all(v is not None for v in per_network.values()):
                row.test_per_task = {t: per_network[n][t] for t, n in row.served_by.items()}
                row.test_total = sum(row.test_per_task.values())
                row.test_total_min_rule = sum(
                    min(v[t] for v in per_network.values() if t in v) for t in row.served_by
                )
        if row.budget in baselines:
            (all_task,), singles = baselines[row.budget]
            if all_task.name in canonical:
                row.all_task_total = sum(canonical[all_task.name].values())
            if all(s.name in canonical for s in singles):
                row.independent_total = sum(canonical[s.name][s.tasks[0]] for s in singles)


def _pairwise_heat_map(study, costs, out: Path) -> Path | None:
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


def _write_report(report, settings, study, costs, out: Path, affinity_path) -> None:
    from mtlgroup.report import plot_tradeoff, write_html_report

    budgets = [row.budget for row in report.rows]
    curves = {
        f"chosen networks ({settings.estimator})": [row.test_total for row in report.rows],
        "one all-task network": [row.all_task_total for row in report.rows],
        "independent single-task networks": [row.independent_total for row in report.rows],
    }
    curve = plot_tradeoff(budgets, curves, out / "curve.png",
                          title=f"{settings.dataset}: test total loss vs budget")
    tables = study.tables(out / "tables", cost=settings.cost)
    report.files = sorted(
        str(p.relative_to(out)) for p in [curve, *tables.values()] + (
            [affinity_path] if affinity_path else [])
    ) + ["report.html", "report.json", "study.sqlite"]
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    context = {
        "dataset": settings.dataset,
        "tasks": report.tasks,
        "estimator": settings.estimator,
        "cost_unit": "forward FLOPs" if settings.cost == "flops" else "nominal: 1 and 0.5",
        "curve_png": curve.name,
        "rows": report.rows,
        "affinity_png": affinity_path.name if affinity_path else None,
        "affinity_caption": "Relative performance R[t,u] = L(t alone, half size) / "
        "L(t trained with u) - 1, drawn with the source u as row and the target t as column: "
        "blue = training with the row task helps the column task."
        if settings.estimator in STUDY_PLAN else f"{settings.estimator} affinity, row = source.",
        "costs": [
            ("networks trained", report.trainings),
            ("training time (sum over networks)", f"{report.training_seconds:.0f} s"),
            ("wall time of this run", f"{report.wall_seconds:.0f} s"),
        ],
        "files": report.files,
    }
    write_html_report(out / "report.html", context)


def _input_shape(settings: PipelineSettings) -> tuple[int, ...]:
    from mtlgroup.data import load_dataset

    # Loading is cached (scenes) or instant (synthetic); the shape defines the cost unit.
    return tuple(load_dataset(settings.dataset, **settings.data_options).input_shape)


def _executor_options(settings: PipelineSettings) -> dict[str, Any]:
    if settings.executor == "ray":
        return {"address": settings.address, "workers": settings.workers}
    if settings.executor == "local":
        return {"workers": settings.workers}
    return {}


def _budget_list(budgets: Sequence[float]) -> str:
    return ", ".join(f"{b:g}" for b in budgets)
