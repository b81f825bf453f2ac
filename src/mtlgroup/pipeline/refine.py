"""The ``finalize`` stage's work: train the chosen networks, refine the choice on their real
losses (``pipeline.refine``, ALGORITHMS §1.7), and serve every task by the chosen trained
network with its lowest validation loss (§1 and §2.1).

Why refinement lives in ``finalize`` and not in a stage of its own: its first round *is*
finalize (train what the selection chose), and each later round only trains more of the same
kind; the rows a run is evaluated on are the rows after its networks were trained, so
``finalize`` saves them (``rows``) and ``evaluate`` reads them there. The ``select`` stage's
rows stay what the estimate chose, so the report can show both.

The loop (:func:`refine`), on a loss table whose predicted or early-stopped rows are replaced
one by one by real ones:

1. select at every budget on the current table;
2. the chosen networks whose rows are not real yet are trained in full;
3. their rows become their real validation losses (a network whose training failed leaves the
   table: it cannot serve a task); back to 1,

until every chosen network at every budget is real, or ``max_trainings`` networks were trained:
then the last selection is made among the real networks only (so every row can be served by
trained networks) and each row says so. The store makes every training resumable: a killed
refinement, run again, repeats its rounds without training anything that finished.

Example (a fake trainer; ``a+b+c``'s real losses are worse than its prediction)::

    >>> from mtlgroup.selection import LossTable, problem_from_table
    >>> from mtlgroup.pipeline.stages import select_row
    >>> table = LossTable.from_rows([("a", 1, "a", 1.0), ("b", 1, "b", 1.0), ("c", 1, "c", 1.0),
    ...     ("a+b", 1, "a", 0.5), ("a+b", 1, "b", 0.5), ("a+b+c", 1, "a", 0.1),
    ...     ("a+b+c", 1, "b", 0.1), ("a+b+c", 1, "c", 0.1)])
    >>> solve = lambda t: [select_row(problem_from_table(t, budget=2.0), "dp")]
    >>> done = refine(table, {"a", "b", "c", "a+b"}, solve,
    ...               lambda names: {n: {"a": 2.0, "b": 2.0, "c": 2.0} for n in names})
    >>> [r.trained for r in done.rounds], done.rows[0].networks
    ([['a+b+c'], []], ['c', 'a+b'])
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mtlgroup.pipeline.rows import BudgetRow

if TYPE_CHECKING:
    from mtlgroup.pipeline.context import RunContext
    from mtlgroup.selection import LossTable

Losses = dict[str, dict[str, float]]
REFINED_TABLE = "refined_table.csv"
"""The table the last round of refinement selected on (under the run directory)."""


@dataclass
class Round:
    """One selection of a refinement: its objective at each budget (``None``: infeasible), the
    networks it chose, and those then trained (``failed``: whose training failed)."""

    objectives: dict[float, float | None]
    chosen: list[str]
    trained: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class Refinement:
    """What :func:`refine` did: the final rows, its rounds, the real validation losses of the
    networks it trained and the table of its last selection; ``stopped`` says why it ended."""

    rows: list[BudgetRow]
    rounds: list[Round]
    real: Losses
    table: LossTable
    stopped: str

    def to_dict(self) -> dict[str, Any]:
        """The part of ``finalize``'s saved value that describes the rounds (JSON)."""
        return {"rounds": [{**asdict(r), "objectives": [[b, v] for b, v in r.objectives.items()]}
                           for r in self.rounds],
                "trained": sorted(self.real), "stopped": self.stopped}


def refine(
    table: LossTable,
    real: Collection[str],
    solve: Callable[[LossTable], list[BudgetRow]],
    train: Callable[[list[str]], Mapping[str, Mapping[str, float]]],
    max_trainings: int | None = None,
) -> Refinement:
    """Refine the selection on ``table`` (see the module's docstring).

    Args:
        table: the estimate's loss table (real, predicted and early-stopped rows).
        real: the networks whose rows are real already (trained in full by the estimate).
        solve: the selection at every budget on a table: one row per budget.
        train: trains networks in full; their real validation losses (``{network: {task:
            loss}}``, a failed one left out).
        max_trainings: at most this many networks trained (``None``: no cap).
    """
    known = set(real)
    trained: Losses = {}
    failed: set[str] = set()
    rounds: list[Round] = []
    while True:
        rows = solve(table)
        chosen = list(dict.fromkeys(n for row in rows if row.feasible for n in row.networks))
        rounds.append(Round({row.budget: row.objective for row in rows}, chosen))
        pending = [n for n in chosen if n not in known]
        if not pending:
            return Refinement(rows, rounds, trained, table,
                              f"every chosen network is trained, after {len(rounds)} "
                              f"selection{'s' if len(rounds) > 1 else ''}")
        left = None if max_trainings is None else max_trainings - len(trained) - len(failed)
        if left is not None and left <= 0:
            return _capped(table, known, solve, rounds, trained, pending, max_trainings or 0)
        batch = pending if left is None else pending[:left]  # the lowest budgets' first
        found = train(batch)
        rounds[-1].trained = [n for n in batch if n in found]
        rounds[-1].failed = [n for n in batch if n not in found]
        trained.update({n: dict(found[n]) for n in rounds[-1].trained})
        failed.update(rounds[-1].failed)
        known.update(rounds[-1].trained)
        table = replace_losses(table, trained, drop=failed)


def _capped(table: LossTable, known: set[str], solve: Callable[[LossTable], list[BudgetRow]],
            rounds: list[Round], trained: Losses, pending: Sequence[str], cap: int
            ) -> Refinement:
    """The last selection of a refinement that reached its cap: among real networks only."""
    only_real = replace_losses(table, {}, drop=set(table.networks) - known)
    rows = solve(only_real)
    note = (f"refinement stopped at its cap of {cap} training{'s' if cap != 1 else ''} with "
            f"{len(pending)} chosen network(s) still predicted ({', '.join(pending)}): chosen "
            "among the trained networks only")
    for row in rows:
        row.add_note(note)
    rounds.append(Round({row.budget: row.objective for row in rows},
                        list(dict.fromkeys(n for r in rows if r.feasible for n in r.networks))))
    return Refinement(rows, rounds, trained, only_real, note)


def replace_losses(table: LossTable, real: Mapping[str, Mapping[str, float]],
                   drop: Collection[str] = ()) -> LossTable:
    """``table`` with the rows of the networks in ``real`` replaced by their real losses (each
    keeps its cost) and the networks in ``drop`` left out.

    >>> from mtlgroup.selection import LossTable
    >>> table = LossTable.from_rows([("a", 1, "a", 0.3), ("a+b", 1.5, "a", 0.2),
    ...                              ("a+b", 1.5, "b", 0.4), ("b", 1, "b", 0.5)])
    >>> refined = replace_losses(table, {"a+b": {"a": 0.35, "b": 0.45}}, drop={"b"})
    >>> refined.networks, refined.losses("a+b"), refined.cost("a+b")
    (('a', 'a+b'), {'a': 0.35, 'b': 0.45}, 1.5)
    """
    from mtlgroup.selection import LossTable

    kept = {n: found for n, found in table.by_network().items() if n not in drop}
    return LossTable.from_losses(
        {n: dict(real[n]) if n in real else losses for n, (_, losses) in kept.items()},
        {n: cost for n, (cost, _) in kept.items()}, source=f"{table.source} (refined)")


def serve_by_validation(row: BudgetRow, val: Mapping[str, Mapping[str, float]],
                        name: Callable[[str], str] = str) -> BudgetRow:
    """``row`` with each task served by the chosen network with its lowest validation loss in
    ``val`` (``{network: {task: loss}}`` of the trained networks; ``name`` maps a row's network
    names to ``val``'s), ALGORITHMS §1 and §2.1; a tie keeps the row's choice, a task none of
    whose networks was trained keeps its server, and a change is noted in the row.

    >>> row = BudgetRow(2.0, True, networks=["a+b", "b+c"],
    ...                 served_by={"a": "a+b", "b": "a+b", "c": "b+c"})
    >>> served = serve_by_validation(row, {"a+b": {"a": 0.3, "b": 0.5},
    ...                                    "b+c": {"b": 0.4, "c": 0.2}})
    >>> served.served_by["b"], served.note
    ('b+c', 'served by the validation losses of the trained networks: b by b+c')
    """
    if not row.feasible:
        return row
    served = dict(row.served_by)
    for task, current in row.served_by.items():
        options = [n for n in row.networks if task in val.get(name(n), {})]
        if options:
            best = min(options, key=lambda n: (val[name(n)][task], n != current))
            served[task] = best
    moved = [f"{t} by {n}" for t, n in served.items() if n != row.served_by[t]]
    if moved:
        row.served_by = served
        row.add_note(f"served by the validation losses of the trained networks: "
                     f"{', '.join(moved)}")
    return row


# -- the finalize stage's work on a run ----------------------------------------------------------


def finalize(context: RunContext, rows: list[BudgetRow]) -> dict[str, Any]:
    """Train the chosen networks of ``rows`` (the ``select`` stage's), refined when the run's
    estimator refines; the value the ``finalize`` stage saves: the networks trained, their
    ``keys`` and ``failures``, the final ``rows`` (each served by validation loss) and the
    ``refinement`` (its rounds; ``None`` when the run does not refine)."""
    from mtlgroup.pipeline.stages import _canonical_name

    keys: list[str] = []
    failures: list[str] = []

    def train(networks: list[str]) -> Losses:
        """Train in full (the store skips what finished); their real validation losses."""
        if not networks:
            return {}
        jobs = context.record("finalize (train the chosen networks)",
                              context.study.finalize(networks, context.executor,
                                                     context.progress))
        keys.extend(k for k in jobs["keys"] if k not in keys)
        failures.extend(jobs["failures"])
        val = context.study.store.losses("val", keys=jobs["keys"])
        return {n: val[name(n)] for n in networks if name(n) in val}

    name = _canonical_name(context)
    refinement = None
    options = context.settings.get("pipeline", {})
    if options.get("refine"):
        refinement = _refine_run(context, train, options.get("refine_max_trainings"))
        rows = refinement.rows
        context.echo(f"refine: {refinement.stopped}")
    else:
        train(list(dict.fromkeys(n for row in rows if row.feasible for n in row.networks)))
    trained = {**context.study.store.losses("val", keys=keys), **_estimate_val(context)}
    rows = [serve_by_validation(row, trained, name) for row in rows]
    chosen = sorted({n for row in rows if row.feasible for n in row.networks})
    return {"networks": chosen, "keys": keys, "failures": failures,
            "rows": [row.to_dict() for row in rows],
            "refinement": None if refinement is None else refinement.to_dict()}


def _refine_run(context: RunContext, train: Callable[[list[str]], Losses],
                max_trainings: int | None) -> Refinement:
    """:func:`refine` on the run's estimate, each round selecting as the ``select`` stage does
    (:func:`~mtlgroup.pipeline.stages.selection_problems` on the current table)."""
    from mtlgroup.pipeline.stages import _canonical_name, select_rows, selection_problems
    from mtlgroup.selection import read_loss_table

    estimate = context.load("estimate")

    def solve(table: LossTable) -> list[BudgetRow]:
        table.write_csv(context.out / REFINED_TABLE)
        problems = selection_problems(context, {**estimate, "table": REFINED_TABLE})
        return select_rows(problems, context.solver)  # as the select stage: one sweep

    table = read_loss_table(context.out / estimate["table"])
    _check_listed(context, table)
    # Real from the start: what the estimate trained in full (HOA's pairs) and the trained
    # baselines, which the selection may choose too (they are candidates, not refinements).
    real = trained_in_full(context, [*estimate["keys"], *_baseline_keys(context)])
    name = _canonical_name(context)
    known = {n for n in table.networks if name(n) in real} | real
    return refine(table, known, solve, train, max_trainings)


def _check_listed(context: RunContext, table: LossTable) -> None:
    """Refuse HOA's implicit predictions (§1.6, many tasks): they are rebuilt from the pairs
    for every selection, so a trained network's real losses could not replace them."""
    from mtlgroup.errors import RunFailure
    from mtlgroup.pipeline.estimators import HoaEstimator, _hoa_implicit

    if isinstance(context.estimator, HoaEstimator) and _hoa_implicit(context, table):
        raise RunFailure(f"refine with hoa on {len(table.tasks)} tasks is not supported: its "
                         "predictions are implicit (never listed), so real losses cannot "
                         "replace them; run without refine, or with esa")


def _baseline_keys(context: RunContext) -> list[str]:
    from mtlgroup.pipeline.context import StageMissing

    try:
        keys: list[str] = context.load("baselines")["keys"]
    except StageMissing:  # a run directory from before baselines ran ahead of select
        return []
    return keys


def trained_in_full(context: RunContext, keys: Sequence[str]) -> set[str]:
    """The (store) names of the networks the jobs of ``keys`` trained in full (not ESA's
    short runs, not affinity jobs)."""
    return {r.network for r in context.study.store.jobs("done", keys=keys)
            if r.is_network and r.candidate.is_full_budget}


def _estimate_val(context: RunContext) -> Losses:
    """Validation losses of the networks the estimate trained in full (HOA's pairs: chosen
    networks the finalize stage need not train)."""
    keys = context.load("estimate").get("keys", [])
    return context.study.store.losses("val", keys=keys) if keys else {}


def final_rows(context: RunContext) -> list[BudgetRow]:
    """The rows a run is evaluated on: ``finalize``'s (trained, refined, served by validation
    loss); a run directory from before ``finalize`` saved rows falls back to ``select``'s."""
    from mtlgroup.pipeline.stages import rows_of

    saved = context.load("finalize")
    return rows_of(saved if "rows" in saved else context.load("select"))
