"""Approximations that train fewer networks (ALGORITHMS §1.1–1.2), as table transforms.

- :func:`hoa_table`: keep the networks of one or two tasks, predict every larger one from pairs.
- :func:`esa_table`: the same candidates, with the losses of their early-stopped training.

Example:
    >>> from mtlgroup.selection.table import LossTable
    >>> pairs = LossTable.from_rows([
    ...     ("a+b", 1, "a", 0.2), ("a+b", 1, "b", 0.4), ("a+c", 1, "a", 0.3),
    ...     ("a+c", 1, "c", 0.6), ("b+c", 1, "b", 0.5), ("b+c", 1, "c", 0.8)])
    >>> hoa_table(pairs).losses("a+b+c")  # a: mean(0.2, 0.3), b: mean(0.4, 0.5), c: mean(0.6, 0.8)
    {'a': 0.25, 'b': 0.45, 'c': 0.7}
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mtlgroup.selection.affinity import group_scores
from mtlgroup.selection.implicit import ImplicitProblem, PairFamily
from mtlgroup.selection.problem import Candidate
from mtlgroup.selection.table import LossRow, LossTable, TableError


def hoa_table(
    table: LossTable, *, cost: float | Callable[[tuple[str, ...]], float] | None = None
) -> LossTable:
    """Higher-order approximation: ``L̂(G, t) = mean_{u ∈ G∖{t}} L({t, u}, t)`` for ``|G| ≥ 3``.

    Networks of one or two tasks (half-size singles, singles, pairs) keep their real losses; the
    table's networks of three or more tasks are replaced by predictions, and every other subset
    of three or more of the table's tasks is added. Where several networks carry the same pair,
    the most expensive (the full-size one) provides its losses. Every subset is listed: for
    many tasks, :func:`hoa_problem` describes them without listing (ALGORITHMS §1.6).

    Args:
        table: the losses of (at least) every pair network.
        cost: cost of a predicted network the table does not list: a number, or a function of
            its tasks (e.g. measured FLOPs, which grow with the heads) that must be an encoder
            plus one head per task. Default: inferred from the table as an encoder plus one
            head per task (:func:`additive_costs`: with the paper's costs, every full network
            costs 1; with a study's FLOP costs, the FLOPs of the predicted network). A
            predicted network the table lists keeps its name and cost.

    Raises:
        TableError: a pair network is missing, or the costs are not encoder + heads.
    """
    problem = hoa_problem(table, budget=math.inf, cost=cost)
    networks = table.by_network()
    rows = [r for r in table.rows if len(networks[r.network][1]) <= 2]
    for family in problem.families:
        rows.extend(LossRow(c.name, c.cost, t, v)
                    for c in problem.family_candidates(family) for t, v in c.values.items())
    return LossTable(tuple(rows), f"HOA({table.source})")


def hoa_problem(
    table: LossTable, *, budget: float,
    cost: float | Callable[[tuple[str, ...]], float] | None = None,
) -> ImplicitProblem:
    """:func:`hoa_table` as an :class:`~mtlgroup.selection.implicit.ImplicitProblem`: the
    networks of one or two tasks listed, every larger subset a member of one pair family
    (``M[u, t] = L({t, u}, t)``, cost encoder + heads), the table's full-size larger networks
    overriding their member's name and cost. Memory ``O(n²)`` plus the table.

    Raises:
        TableError: as :func:`hoa_table`.
    """
    tasks = table.tasks
    networks = table.by_network()
    column = {t: j for j, t in enumerate(tasks)}
    # per task set, the full-size network: named by its tasks alone (not `a/2` or `a@0.6`, e.g.
    # baselines scaled to a budget in a pipeline's table), else the most expensive one
    largest: dict[frozenset[str], tuple[str, float, dict[str, float]]] = {}
    for name, (network_cost, losses) in networks.items():
        key = frozenset(losses)
        rank = (_full_size(name), network_cost)
        if key not in largest or rank > (_full_size(largest[key][0]), largest[key][1]):
            largest[key] = (name, network_cost, losses)
    pair = np.full((len(tasks), len(tasks)), np.nan)  # pair[t, u] = L({t, u}, t)
    for key, (_, _, losses) in largest.items():
        if len(key) == 2:
            t, u = key
            pair[column[t], column[u]], pair[column[u], column[t]] = losses[t], losses[u]
    missing = [f"{tasks[t]}+{tasks[u]}" for t, u in itertools.combinations(range(len(tasks)), 2)
               if np.isnan(pair[t, u])]
    if missing:
        raise TableError(f"{table.source}: HOA needs every pair network; missing "
                         f"{', '.join(missing)}")
    np.fill_diagonal(pair, 0.0)
    if cost is None:
        model = additive_costs(table.source, tasks, largest)
    elif callable(cost):
        model = AdditiveCost.fit(table.source, tasks, cost)
    else:
        model = AdditiveCost(float(cost), dict.fromkeys(tasks, 0.0))
    # [u, t] = L({t, u}, t): the mean over the other members u, as an affinity group score
    matrix = pair.T
    # a listed full-size network keeps its name and cost (its losses are predicted); a smaller
    # one (a baseline scaled to a budget) is another network, and the full-size one is predicted
    overrides: dict[frozenset[str], Candidate] = {}
    for key, (name, network_cost, _) in largest.items():
        if len(key) >= 3 and _full_size(name):
            group = sorted(column[t] for t in key)
            values = group_scores(matrix, np.array([group]))[0]
            overrides[key] = Candidate(name, network_cost,
                                       {tasks[j]: float(values[j]) for j in group})
    listed = tuple(Candidate(name, network_cost, losses)
                   for name, (network_cost, losses) in networks.items() if len(losses) <= 2)
    family = PairFamily(matrix, min_size=3, encoder=model.encoder,
                        heads=tuple(model.heads[t] for t in tasks), overrides=overrides)
    return ImplicitProblem(tasks, listed, (family,) if len(tasks) >= 3 else (), budget, "min")


def _full_size(name: str) -> bool:
    return "/" not in name and "@" not in name


_ADDITIVE_TOLERANCE = 1e-3
"""How far (relative to the largest pair cost) the encoder costs that the pairs imply may
differ: costs read from a CSV carry a few digits."""


def additive_costs(
    source: str, tasks: tuple[str, ...],
    largest: dict[frozenset[str], tuple[str, float, dict[str, float]]],
) -> AdditiveCost:
    """The cost of any task set, ``e + Σ_t h_t``, from the full-size singles and pairs.

    A single costs ``e + h_t`` and a pair ``e + h_t + h_u``, so every pair tells the encoder's
    cost ``e = c_t + c_u − c_tu``; the pairs must agree on it. Then a group of ``m`` tasks costs
    ``Σ_t c_t − (m − 1)·e``.

    Without the singles, a table whose pairs all cost the same prices every group at that cost
    (the paper's table: every full network costs 1).

    Raises:
        TableError: a full-size single is missing and the pairs' costs differ, or the pairs
            imply different encoders (the table's costs are not encoder + heads: pass ``cost``
            explicitly).
    """
    singles = {next(iter(key)): value[1] for key, value in largest.items() if len(key) == 1}
    pair_costs = [value[1] for key, value in largest.items() if len(key) == 2]
    scale = max(value[1] for value in largest.values())
    missing = [t for t in tasks if t not in singles]
    if missing:
        # Pairs alone: only a table whose pairs all cost the same (the paper's) says the cost.
        if max(pair_costs) - min(pair_costs) <= _ADDITIVE_TOLERANCE * scale:
            return AdditiveCost(max(pair_costs), dict.fromkeys(tasks, 0.0))
        raise TableError(f"{source}: cannot price HOA-predicted networks without the "
                         f"single-task network of {', '.join(missing)}; pass a cost")
    encoders: dict[str, float] = {
        "+".join(sorted(key)): singles[min(key)] + singles[max(key)] - value[1]
        for key, value in largest.items() if len(key) == 2
    }
    low, high = min(encoders.values()), max(encoders.values())
    if high - low > _ADDITIVE_TOLERANCE * scale:
        lo_pair = min(encoders, key=encoders.__getitem__)
        hi_pair = max(encoders, key=encoders.__getitem__)
        raise TableError(
            f"{source}: the costs are not an encoder plus one head per task (pair {lo_pair} "
            f"implies an encoder of {low:.4g}, {hi_pair} of {high:.4g}), so the cost of a "
            "predicted network cannot be inferred: give the cost model (mtlgroup.cost) or a cost"
        )
    encoder = (low + high) / 2
    return AdditiveCost(encoder, {t: singles[t] - encoder for t in tasks})


@dataclass(frozen=True)
class AdditiveCost:
    """A network's cost as an encoder plus one head per task it carries."""

    encoder: float
    heads: dict[str, float]

    def __call__(self, names: tuple[str, ...]) -> float:
        return self.encoder + sum(self.heads[t] for t in names)

    @classmethod
    def fit(cls, source: str, tasks: tuple[str, ...],
            cost: Callable[[tuple[str, ...]], float]) -> AdditiveCost:
        """The encoder and heads of ``cost`` (from two singles and their pair), checked on
        every single and the all-task network.

        Raises:
            TableError: ``cost`` is not an encoder plus heads.
        """
        singles = {t: float(cost((t,))) for t in tasks}
        if len(tasks) < 2:
            return cls(0.0, singles)
        encoder = singles[tasks[0]] + singles[tasks[1]] - float(cost(tasks[:2]))
        model = cls(encoder, {t: c - encoder for t, c in singles.items()})
        full = float(cost(tasks))
        if abs(model(tasks) - full) > _ADDITIVE_TOLERANCE * max(1.0, abs(full)):
            raise TableError(f"{source}: the cost of a predicted network is not an encoder "
                             f"plus one head per task (all tasks: {full:.4g}, encoder + heads: "
                             f"{model(tasks):.4g}); HOA needs such a cost")
        return model


def esa_table(table: LossTable, early: LossTable) -> LossTable:
    """Early-stopping approximation: ``table``'s networks with their losses from ``early``
    (each network trained for a share of its budget) and their costs from ``table``.

    Raises:
        TableError: ``early`` lacks a network of ``table`` or one of its tasks.
    """
    early_losses = early.by_network()
    rows: list[LossRow] = []
    for name, (network_cost, losses) in table.by_network().items():
        if name not in early_losses:
            raise TableError(f"{early.source}: no early-stopped losses for network {name!r}")
        found = early_losses[name][1]
        missing = [t for t in losses if t not in found]
        if missing:
            raise TableError(f"{early.source}: network {name!r} has no loss for task(s) "
                             f"{', '.join(missing)}")
        rows.extend(LossRow(name, network_cost, t, found[t]) for t in losses)
    return LossTable(tuple(rows), f"ESA({early.source})")
