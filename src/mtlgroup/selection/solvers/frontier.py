"""Exact selection at every budget at once: the Pareto frontier of covers (ALGORITHMS §1, §2.1).

The tasks a minimal solution's networks serve partition the task set, each block served by one
network carrying it (the partition DP, :mod:`~mtlgroup.selection.solvers.partition_dp`). Run
without a budget, the same recursion gives the *frontier*: every cover whose (objective, cost,
number of networks) no other cover matches or beats on all three. The best solution within a
budget ``B`` is then the best frontier entry costing at most ``B`` (any better-ranked cover
within ``B`` would be dominated by a frontier entry that is also within ``B``). One pass answers
a whole budget sweep, and the least cost on the frontier is the least cost of any cover, so an
infeasible budget is known exactly without a set-cover program.

Dominance is tested with exact ``<=`` on all three (sums are monotone in floating point), so a
tie within :data:`~mtlgroup.selection.ranking.REL_TOL` is never lost; the final pick applies the
order of :mod:`~mtlgroup.selection.ranking` (objective, cost, count, then earliest positions).

Example:
    >>> from mtlgroup.selection import Candidate, SelectionProblem
    >>> problem = SelectionProblem(("a", "b"), (
    ...     Candidate("a", 1, {"a": 0.3}), Candidate("b", 1, {"b": 0.5}),
    ...     Candidate("a+b", 1, {"a": 0.35, "b": 0.4})), budget=2)
    >>> frontier = CoverFrontier.of(problem)
    >>> frontier.min_cost, frontier.best(1.0), frontier.best(2.0)
    (1.0, (2,), (0, 2))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtlgroup.selection.problem import InfeasibleError, SelectionError, SelectionProblem, Solution
from mtlgroup.selection.ranking import close, make_solution, within_budget
from mtlgroup.selection.solvers.clock import Clock
from mtlgroup.selection.solvers.partition_dp import lowest_blocks

MAX_TASKS = 16
"""Beyond this many tasks the ``3^n`` block pairs are out of reach (auto never asks for it)."""
MAX_CELLS = 1 << 23
"""Most (candidate, block) pairs whose losses are tabulated at once (each table ~64 MB); a
larger problem is refused with a message instead of exhausting memory."""

_Entry = tuple[float, int, float, tuple[int, ...]]
"""``(cost, count, loss, networks)``: a cover of a set of tasks, its networks' positions
in the order the recursion added them (in this order, plain tuple sorting is the order the
Pareto filter needs)."""


class FrontierTooLarge(SelectionError):
    """The frontier grew past ``max_entries`` (many distinct costs), or its table of block losses
    would pass :data:`MAX_CELLS`: another solver is cheaper."""


@dataclass(frozen=True)
class CoverFrontier:
    """Every Pareto-best cover of all the tasks of ``problem`` (its budget is ignored).

    Attributes:
        problem: the problem (any budget).
        entries: ``(cost, count, loss, networks)`` in ascending cost.
    """

    problem: SelectionProblem
    entries: tuple[_Entry, ...]

    @classmethod
    def of(cls, problem: SelectionProblem, *, time_limit: float | None = None,
           max_entries: int | None = None) -> CoverFrontier:
        """Compute the frontier.

        Raises:
            SelectionError: more than :data:`MAX_TASKS` tasks.
            FrontierTooLarge: the states together held more than ``max_entries`` entries, or
                the candidates times ``2^n`` blocks exceed :data:`MAX_CELLS`.
            SolverTimeLimit: ``time_limit`` seconds passed first.
        """
        n = len(problem.tasks)
        if n > MAX_TASKS:
            raise SelectionError(f"the frontier solver handles at most {MAX_TASKS} tasks, "
                                 f"got {n}")
        cells = len(problem.candidates) << n
        if cells > MAX_CELLS:
            raise FrontierTooLarge(
                f"the frontier solver would tabulate {len(problem.candidates)} candidates x "
                f"2^{n} task blocks ({cells:.3g} losses, over {MAX_CELLS:.3g}); use milp")
        clock = Clock(time_limit)
        blocks = _block_options(problem)
        frontier: list[list[_Entry]] = [[] for _ in range(1 << n)]
        frontier[0] = [(0.0, 0, 0.0, ())]
        held = 0
        for served in range(1, 1 << n):
            clock.check()
            options: list[_Entry] = []
            for block in lowest_blocks(served):
                # a block option is (loss, cost, network); the rest of the cover comes from
                # the state without the block
                tails = frontier[served ^ block]
                for loss, cost, network in blocks[block]:
                    options.extend((cost + t_cost, t_count + 1, loss + t_loss, (*t_nets, network))
                                   for t_cost, t_count, t_loss, t_nets in tails)
            frontier[served] = _pareto(options, n)
            held += len(frontier[served])
            if max_entries is not None and held > max_entries:
                raise FrontierTooLarge(f"the cover frontier exceeds {max_entries} entries")
        return cls(problem, tuple(frontier[-1]))

    @property
    def min_cost(self) -> float:
        """The least cost of networks serving every task (the frontier's cheapest entry)."""
        return self.entries[0][0]

    def best(self, budget: float) -> tuple[int, ...] | None:
        """Positions (ascending) of the best cover costing at most ``budget``; ``None`` if none.

        The order of :mod:`~mtlgroup.selection.ranking`: least objective, then among those
        within tolerance of it the least cost, then fewest networks, then earliest positions.
        """
        fitting = [e for e in self.entries if within_budget(e[0], budget)]
        if not fitting:
            return None
        least = min(e[2] for e in fitting)
        fitting = [e for e in fitting if close(e[2], least)]
        cheapest = min(e[0] for e in fitting)
        fitting = [e for e in fitting if close(e[0], cheapest)]
        fewest = min(e[1] for e in fitting)
        return min(tuple(sorted(e[3])) for e in fitting if e[1] == fewest)

    def solution(self, budget: float, problem: SelectionProblem | None = None) -> Solution:
        """The best solution within ``budget``, of ``problem`` (default: the frontier's own
        problem with that budget).

        Raises:
            InfeasibleError: every cover costs more than ``budget``.
        """
        chosen = self.best(budget)
        if chosen is None:
            raise InfeasibleError(self.min_cost, budget)
        if problem is None:
            problem = self.problem.with_budget(budget)
        return make_solution(problem, chosen, "frontier")


def solve_frontier(problem: SelectionProblem, *, time_limit: float | None = None,
                   max_entries: int | None = None) -> Solution:
    """Exact best selection from the cover frontier (any costs; at most :data:`MAX_TASKS`
    tasks; fast for few tasks, see :mod:`~mtlgroup.selection.solvers.auto`).

    Raises:
        InfeasibleError: every cover costs more than the budget.
        FrontierTooLarge: past ``max_entries`` entries (see :meth:`CoverFrontier.of`).
    """
    frontier = CoverFrontier.of(problem, time_limit=time_limit, max_entries=max_entries)
    return frontier.solution(problem.budget, problem)


def _block_options(problem: SelectionProblem) -> list[list[tuple[float, float, int]]]:
    """For each block of tasks (bit mask), the candidates carrying it that no other candidate
    matches or beats on (loss over the block, cost): ``(loss, cost, position)`` in ascending
    cost; of identical ones the earliest stays."""
    matrix = problem.matrix
    n = matrix.n_tasks
    size = 1 << n
    # loss of every candidate on every block in one product; inf where it does not carry it
    bits = (np.arange(size)[:, None] >> np.arange(n)[None, :]) & 1
    carried = np.isfinite(matrix.losses)
    block_loss = np.where(carried, matrix.losses, 0.0) @ bits.T.astype(float)
    masks = (carried * (1 << np.arange(n))).sum(axis=1)
    valid = (masks[:, None] & np.arange(size)[None, :]) == np.arange(size)[None, :]
    block_loss = np.where(valid, block_loss, np.inf)
    # candidates by ascending cost (stable: earliest first among equal costs), in cost groups
    order = np.argsort(matrix.costs, kind="stable")
    costs = matrix.costs[order]
    table = block_loss[order]
    starts = np.flatnonzero(np.r_[True, costs[1:] != costs[:-1]])
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(costs)]))
    group_min = np.minimum.reduceat(table, starts, axis=0)
    cheaper_min = np.vstack([np.full((1, size), np.inf),
                             np.minimum.accumulate(group_min, axis=0)[:-1]])
    # kept: the first of its cost group to reach the group's least loss on the block, and
    # strictly below every cheaper candidate's loss there
    lowest = table == group_min[group]
    seen = np.cumsum(lowest, axis=0)
    seen_before = np.vstack([np.zeros((1, size), dtype=seen.dtype), seen])[starts][group]
    keep = lowest & (seen - seen_before == 1) & (table < cheaper_min[group])
    keep[:, 0] = False  # the empty block
    blocks, rows = np.nonzero(keep.T)  # block-major, each block's rows by ascending cost
    options: list[list[tuple[float, float, int]]] = [[] for _ in range(size)]
    for block, loss, cost, position in zip(blocks.tolist(), table[rows, blocks].tolist(),
                                           costs[rows].tolist(), order[rows].tolist(),
                                           strict=True):
        options[block].append((loss, cost, position))
    return options


def _pareto(entries: list[_Entry], n: int) -> list[_Entry]:
    """Entries that no other entry matches or beats on loss, cost and count (exact ``<=``),
    in ascending cost; of identical ones that with the earliest networks stays."""
    entries.sort()
    kept: list[_Entry] = []
    # best_loss[c]: least loss among kept entries (all cost no more) with at most c networks
    best_loss = [np.inf] * (n + 2)
    for entry in entries:
        _, count, loss, _ = entry
        if best_loss[count] <= loss:
            continue
        kept.append(entry)
        for c in range(count, n + 2):
            if loss < best_loss[c]:
                best_loss[c] = loss
    return kept
