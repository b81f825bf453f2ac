"""The trained baselines as candidates of every budget's selection (ALGORITHMS §1.4).

The ``baselines`` stage trains, at each baseline budget ``b``, the all-task network scaled to
cost ``b`` and one single-task network per task costing ``b/n``. Both are networks like any
other, so the selection may choose them: :func:`with_baselines` adds them, with their real
losses from the store and their costs in the run's unit, to the loss table of every budget.
Then at every baseline budget both baselines are feasible candidates, a budget at which a
baseline exists is never infeasible, and the choice is never worse than either baseline on the
losses the selection reads.

They are added *after* the estimate (HOA never sees them: a scaled baseline is not a pair of
its task set), and they are trained already, so the ``finalize`` stage trains nothing for them.
A baseline whose training failed is not a candidate. Affinity estimators choose on affinity
scores, not losses, and get no baseline rows.

Example (the table of a run, and a baseline plan as the ``baselines`` stage saves it)::

    >>> from mtlgroup.selection import LossTable
    >>> table = LossTable.from_rows([("a", 1, "a", 0.3), ("b", 1, "b", 0.5),
    ...                              ("a+b", 1, "a", 0.4), ("a+b", 1, "b", 0.45)])
    >>> plans = [{"all_task": "a+b@1.5", "independent": {"a": "a@0.7", "b": "b@0.7"}}]
    >>> baseline_networks(plans)
    ['a+b@1.5', 'a@0.7', 'b@0.7']
    >>> added = add_networks(table, {"a+b@1.5": {"a": 0.35, "b": 0.4}}, {"a+b@1.5": 1.6})
    >>> added.losses("a+b@1.5"), added.cost("a+b@1.5")
    ({'a': 0.35, 'b': 0.4}, 1.6)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtlgroup.pipeline.context import RunContext
    from mtlgroup.selection import LossTable


def baseline_networks(plans: Sequence[Mapping[str, Any]]) -> list[str]:
    """The network names of the ``baselines`` stage's plans: each budget's all-task network,
    then its singles (duplicates dropped, order kept)."""
    names = [n for plan in plans for n in (plan["all_task"], *plan["independent"].values())]
    return list(dict.fromkeys(names))


def with_baselines(context: RunContext, table: LossTable, split: str = "val") -> LossTable:
    """``table`` plus every trained baseline of the run (of every baseline budget), with its
    ``split`` losses from the store (the split the estimator selects on) and its cost in the
    run's unit.

    A baseline the table already lists is the same network (e.g. a half-size single of the
    paper's pool, or the all-task network at size 1 in nominal mode): its rows become its real
    losses, in place of a prediction.

    Raises:
        StageMissing: the ``baselines`` stage has not run in the run directory.
    """
    from mtlgroup.study.plans import parse_candidate

    saved = context.load("baselines")
    networks = baseline_networks(saved["budgets"])
    if not networks:
        return table
    losses = context.study.store.losses(split, keys=saved["keys"])
    trained = {n: losses[n] for n in networks if n in losses}
    costs = {n: context.cost_of(parse_candidate(n)) for n in trained}
    return add_networks(table, trained, costs)


def add_networks(table: LossTable, losses: Mapping[str, Mapping[str, float]],
                 costs: Mapping[str, float]) -> LossTable:
    """``table`` with the networks of ``losses`` (``{network: {task: loss}}``) at ``costs``;
    a network it lists already is replaced (rows of the table's tasks only)."""
    from mtlgroup.selection import LossTable
    from mtlgroup.selection.table import LossRow

    tasks = set(table.tasks)
    kept = [row for row in table.rows if row.network not in losses]
    added = [LossRow(network, costs[network], task, loss)
             for network, per_task in losses.items()
             for task, loss in per_task.items() if task in tasks]
    return LossTable(tuple(kept + added), table.source)
