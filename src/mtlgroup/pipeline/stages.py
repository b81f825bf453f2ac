"""The stages of a run, each behind one interface: :class:`Stage` (``name``, ``run(context)``).

==============  ===================================================  =========================
stage           reads                                                writes (under ``OUT``)
==============  ===================================================  =========================
``estimate``    the study / the joint affinity job (trains them)      ``stages/estimate.json``,
                                                                     ``selection_table.csv`` or
                                                                     ``affinity.csv``
``baselines``   the budgets (trains all-task and independent nets)    ``stages/baselines.json``
``select``      ``estimate``, ``baselines`` (candidates too)          ``stages/select.json``
``finalize``    ``select`` (trains the chosen, refines; final rows)   ``stages/finalize.json``
``evaluate``    ``finalize``'s rows, ``baselines``, the test losses   ``stages/evaluate.json``
``report``      ``estimate``, ``evaluate``, ``finalize``,             ``report.json``,
                ``baselines``, the store                              ``report.html``,
                                                                     ``curve.png``,
                                                                     ``affinity.png``,
                                                                     ``tables/*.csv``
==============  ===================================================  =========================

Every stage's value is saved, so any stage can be run again alone on a run directory
(:func:`mtlgroup.pipeline.run_stage`); the store makes a rerun of a training stage train
nothing that finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mtlgroup.delta_m import TaskMetric, task_metrics
from mtlgroup.pipeline.rows import BudgetRow
from mtlgroup.registry import Registry

if TYPE_CHECKING:
    from mtlgroup.cost import CostModel
    from mtlgroup.pipeline.context import RunContext
    from mtlgroup.selection import InfeasibleError, SelectionProblem, Solution


@runtime_checkable
class Stage(Protocol):
    """One step of a run: ``run`` reads the saved values of earlier stages from the context's
    run directory, does its work, saves its own value and returns it."""

    @property
    def name(self) -> str:
        """The stage's name: its saved value is ``OUT/stages/<name>.json``."""
        ...

    def run(self, context: RunContext) -> Any: ...


STAGES: Registry[Stage] = Registry("pipeline stage", builtins=("mtlgroup.pipeline.report",))
"""The stages by name, in the order a run runs them."""


def rows_of(value: dict[str, Any]) -> list[BudgetRow]:
    """The budget rows of a saved ``select`` or ``evaluate`` value."""
    return [BudgetRow.from_dict(row) for row in value["rows"]]


@dataclass(frozen=True)
class Estimate:
    """Train what the run's estimator needs (see :mod:`mtlgroup.pipeline.estimators`)."""

    name: str = "estimate"

    def run(self, context: RunContext) -> dict[str, Any]:
        estimator = context.estimator
        value = estimator.estimate(context)
        return context.save(self.name, {
            **value, "estimator": estimator.name, "chosen_on": estimator.chosen_on(),
            "affinity_caption": estimator.affinity_caption(),
        })


@dataclass(frozen=True)
class Select:
    """Solve the selection problem at every budget; an infeasible budget is a row that says
    why, not an error."""

    name: str = "select"

    def run(self, context: RunContext) -> dict[str, Any]:
        estimate = context.load("estimate")
        if estimate["estimator"] != context.estimator.name:
            raise ValueError(f"{context.path('estimate')} was written by the "
                             f"{estimate['estimator']} estimator, this run uses "
                             f"{context.estimator.name}: run the estimate stage first")
        rows = select_rows(selection_problems(context, estimate), context.solver)
        return context.save(self.name, {"rows": [row.to_dict() for row in rows]})


def selection_problems(context: RunContext, estimate: dict[str, Any]) -> list[SelectionProblem]:
    """The selection problem of every budget of the run, from the estimate's saved value (the
    one place the ``select`` stage and a refinement build them)."""
    return context.estimator.problems(context, estimate, context.budgets)


def select_rows(problems: list[SelectionProblem], solver: str) -> list[BudgetRow]:
    """Solve every budget's problem into its row; neighbours that differ only in the budget
    are solved in one sweep (:func:`~mtlgroup.selection.solve_budgets` shares the work)."""
    from mtlgroup.selection import SelectionProblem, solve_budgets

    rows: list[BudgetRow] = []
    start = 0
    while start < len(problems):
        first = problems[start]
        end = start + 1
        if isinstance(first, SelectionProblem):
            while end < len(problems) and _same_but_budget(first, problems[end]):
                end += 1
        if end - start == 1:
            rows.append(select_row(first, solver))
        else:
            budgets = [p.budget for p in problems[start:end]]
            rows.extend(_row(b, found) for b, found in
                        zip(budgets, solve_budgets(first, budgets, solver), strict=True))
        start = end
    return rows


def _same_but_budget(a: SelectionProblem, b: object) -> bool:
    return (isinstance(b, type(a)) and a.sense == b.sense and a.tasks == b.tasks
            and (a.candidates is b.candidates or a.candidates == b.candidates))


def select_row(problem: SelectionProblem, solver: str) -> BudgetRow:
    """Solve one budget's problem into its row."""
    from mtlgroup.selection import InfeasibleError, solve

    try:
        solution = solve(problem, solver)
    except InfeasibleError as error:
        return _row(problem.budget, error)
    return _row(problem.budget, solution)


def _row(budget: float, solution: Solution | InfeasibleError) -> BudgetRow:
    from mtlgroup.selection import InfeasibleError

    if isinstance(solution, InfeasibleError):
        return BudgetRow(budget, feasible=False, note=str(solution))
    return BudgetRow(
        budget, feasible=True, networks=list(solution.names),
        served_by=dict(solution.served_by), cost=solution.cost, objective=solution.objective,
    )


@dataclass(frozen=True)
class Finalize:
    """Train for real every chosen network that was only predicted (HOA), trained briefly
    (ESA) or never trained (affinity groupings); with ``pipeline.refine``, reselect on their
    real losses until every chosen network is trained. Saves the final ``rows`` (each task
    served by its chosen network's lowest validation loss), which ``evaluate`` reads: see
    :mod:`mtlgroup.pipeline.refine`."""

    name: str = "finalize"

    def run(self, context: RunContext) -> dict[str, Any]:
        from mtlgroup.pipeline.refine import finalize

        return context.save(self.name, finalize(context, rows_of(context.load("select"))))


@dataclass(frozen=True)
class Baselines:
    """At each baseline budget ``b``: one all-task network whose encoder is scaled to cost
    ``b``, and one network per task costing ``b/n`` each (with ``cost: nominal``, sizes ``b``
    and ``b/n``, which is what they cost in that unit). A network factory that ignores
    ``size`` cannot be scaled: then they are trained at size 1 and the saved ``note`` says so
    (their costs are recorded as they are)."""

    name: str = "baselines"

    def run(self, context: RunContext) -> dict[str, Any]:
        plans = [baseline_plan(context, budget) for budget in context.baseline_budgets]
        jobs: dict[str, Any] = {"keys": [], "failures": []}
        if plans:
            names = [n for plan in plans for n in (plan["all_task"],
                                                   *plan["independent"].values())]
            specs = context.study.add_plan(names)
            jobs = context.record("baselines (all-task and independent networks)",
                                  context.study.run(context.executor, context.progress,
                                                    specs=specs))
        return context.save(self.name, {"budgets": plans, **jobs})


def baseline_plan(context: RunContext, budget: float) -> dict[str, Any]:
    """The baselines of one budget: their network names, costs and a note."""
    from mtlgroup.study.plans import Candidate

    tasks = context.tasks
    if context.cost_unit == "nominal":  # a network of size s costs s (ALGORITHMS §7)
        all_size, all_note = budget, ""
        sizes = [(budget / len(tasks), "")] * len(tasks)
    else:
        all_size, all_note = scaled_size(context.costs, tasks, budget)
        sizes = [scaled_size(context.costs, [t], budget / len(tasks)) for t in tasks]
    all_task = Candidate(tuple(tasks), all_size)
    singles = [Candidate((t,), size) for t, (size, _) in zip(tasks, sizes, strict=True)]
    notes = dict.fromkeys(note for note in [all_note, *(n for _, n in sizes)] if note)
    return {
        "budget": budget, "all_task": all_task.name,
        "independent": {s.tasks[0]: s.name for s in singles},
        "all_task_cost": context.cost_of(all_task),
        "independent_cost": sum(context.cost_of(s) for s in singles),
        "note": "; ".join(notes),
    }


def scaled_size(costs: CostModel, tasks: list[str], target: float) -> tuple[float, str]:
    """The encoder size at which ``tasks``' network costs at most ``target``, and a note
    (empty when it could be scaled). A factory whose cost does not change with ``size`` (a
    user's that ignores it), or a target no size reaches, gives size 1 and a note that says
    why: a baseline is then still trained, at the cost it has."""
    if costs.cost(tasks, 0.5) == costs.cost(tasks, 1.0):
        return 1.0, (f"the network factory {costs.factory.describe()} ignores size: "
                     "baselines trained at size 1, costs as built")
    try:
        return costs.size_for_cost(tasks, target), ""
    except ValueError as error:
        return 1.0, f"baselines not scaled ({error}): trained at size 1"


@dataclass(frozen=True)
class Evaluate:
    """Score every row on test: the chosen networks by the honest and the min rule
    (:func:`~mtlgroup.selection.evaluate.score_served`), and the baselines; at each baseline
    budget, Δm (ALGORITHMS §6) of the chosen networks and of the all-task network against the
    budget's independent single-task networks, on each task's headline test metric."""

    name: str = "evaluate"

    def run(self, context: RunContext) -> dict[str, Any]:
        from mtlgroup.pipeline.refine import final_rows
        from mtlgroup.selection.evaluate import score_served
        from mtlgroup.selection.table import TableError

        rows = final_rows(context)  # trained, refined, served by validation loss
        baselines = {b["budget"]: b for b in context.load("baselines")["budgets"]}
        name = _canonical_name(context)
        test = {name(n): losses for n, losses in context.study.losses("test").items()}
        test_scores = _test_scores(context)
        metrics = task_metrics(context.study.dataset_tasks, context.tasks)
        for row in rows:
            if row.feasible:
                served = {t: name(n) for t, n in row.served_by.items()}
                try:
                    scores = score_served(served, test, [name(n) for n in row.networks],
                                          source="test losses")
                except TableError as error:  # a chosen network's training failed
                    row.add_note(f"not scored: {error}")
                else:
                    row.test_total, row.test_total_min_rule = scores.total, scores.total_min_rule
                    row.test_per_task = dict(scores.per_task)
            if row.budget in baselines:
                _score_baselines(row, baselines[row.budget], test, name)
                _score_delta_m(row, baselines[row.budget], test_scores, metrics, name)
        return context.save(self.name, {"rows": [row.to_dict() for row in rows], "delta_m": {
            "against": DELTA_M_REFERENCE,
            "metrics": {t: {"name": m.name, "lower_is_better": m.lower_is_better}
                        for t, m in metrics.items()}}})


def _score_baselines(row: BudgetRow, plan: dict[str, Any],
                     test: dict[str, dict[str, float]], name: Callable[[str], str]) -> None:
    """Fill the baselines' totals, costs and note of one row (a baseline whose training
    failed stays ``None``: the failure is in the report)."""
    from mtlgroup.selection.evaluate import score_served
    from mtlgroup.selection.table import TableError

    independent = {t: name(n) for t, n in plan["independent"].items()}
    row.all_task_cost, row.independent_cost = plan["all_task_cost"], plan["independent_cost"]
    if plan["note"]:
        row.add_note(plan["note"])
    for field_name, served in (("all_task_total", dict.fromkeys(independent,
                                                                name(plan["all_task"]))),
                               ("independent_total", independent)):
        try:
            setattr(row, field_name, score_served(served, test, source="test losses").total)
        except TableError:
            pass


DELTA_M_REFERENCE = "the independent single-task networks of the same budget"


def _test_scores(context: RunContext) -> dict[str, dict[str, dict[str, float]]]:
    """Network → task → test scores (loss and metrics) of the setting's full trainings."""
    return {r.network: r.outcome.scores["test"]
            for r in context.study.store.jobs("done", setting=context.study.setting)
            if r.outcome is not None and r.is_network and r.candidate.is_full_budget}


def _score_delta_m(row: BudgetRow, plan: dict[str, Any],
                   scores: dict[str, dict[str, dict[str, float]]],
                   metrics: dict[str, TaskMetric], name: Callable[[str], str]) -> None:
    """Fill the row's Δm against its independent networks (left ``None`` where a network
    that serves a task has no test scores, e.g. its training failed)."""
    from mtlgroup.delta_m import delta_m_of_scores

    def served(served_by: dict[str, str]) -> dict[str, dict[str, float]] | None:
        found = {t: scores[name(n)][t] for t, n in served_by.items()
                 if t in scores.get(name(n), {})}
        return found if set(found) >= set(metrics) else None

    independent = dict(plan["independent"])
    reference = served(independent)
    if reference is None:
        return
    chosen = served(row.served_by) if row.feasible else None
    if chosen is not None:
        gain = delta_m_of_scores(chosen, reference, metrics)
        row.delta_m, row.delta_m_per_task = gain.overall, gain.per_task
    all_task = served(dict.fromkeys(independent, plan["all_task"]))
    if all_task is not None:
        row.all_task_delta_m = delta_m_of_scores(all_task, reference, metrics).overall


def _canonical_name(context: RunContext) -> Callable[[str], str]:
    """Network name → the name the store uses (tasks in the study's order)."""
    from mtlgroup.study.plans import parse_candidate

    return lambda network: parse_candidate(network).ordered(context.study.tasks).name


# Baselines before select: the trained baselines are candidates of every budget (§1.4).
for _stage in (Estimate(), Baselines(), Select(), Finalize(), Evaluate()):
    STAGES.register(_stage.name, _stage)
