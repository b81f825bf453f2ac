"""Exact selection by dynamic programming over set partitions (ALGORITHMS §2.1), ``O(3^n)``.

The tasks a solution's networks serve partition the task set; a block ``P`` is served best by the
candidate ``G ⊇ P`` that minimises ``Σ_{t∈P} L(G, t)`` for its cost. So the best solution is the
best partition, each block taking one of its Pareto-best (cost, loss) supersets. The state is the
set of tasks already served; it keeps every (loss, cost, count) that no other entry beats on all
three. Choosing a network for two blocks is never better than one block, so the optimum is exact.
Practical up to about 10 tasks (the candidates' sub-blocks are enumerated too).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mtlgroup.selection.feasibility import check_feasible
from mtlgroup.selection.problem import SelectionError, SelectionProblem, Solution
from mtlgroup.selection.ranking import Rank, close, make_solution, within_budget
from mtlgroup.selection.solvers.clock import Clock

MAX_TASKS = 16
"""Beyond this many tasks ``3^n`` is out of reach."""


@dataclass(frozen=True)
class _Entry:
    loss: float
    cost: float
    networks: tuple[int, ...]

    def covers(self, other: _Entry) -> bool:
        """At least as good as ``other`` on loss, cost and count."""
        return ((self.loss <= other.loss or close(self.loss, other.loss))
                and (self.cost <= other.cost or close(self.cost, other.cost))
                and len(self.networks) <= len(other.networks))


def solve_partition_dp(problem: SelectionProblem, *, time_limit: float | None = None) -> Solution:
    """Exact best selection by partition DP (any costs; at most :data:`MAX_TASKS` tasks)."""
    n = len(problem.tasks)
    if n > MAX_TASKS:
        raise SelectionError(f"the partition DP handles at most {MAX_TASKS} tasks, got {n}")
    check_feasible(problem)
    clock = Clock(time_limit)
    blocks = _block_options(problem)
    frontier: list[list[_Entry]] = [[] for _ in range(1 << n)]
    frontier[0] = [_Entry(0.0, 0.0, ())]
    for served in range(1, 1 << n):
        clock.check()
        options: list[_Entry] = []
        for block in lowest_blocks(served):
            for first in blocks[block]:
                for second in frontier[served ^ block]:
                    cost = first.cost + second.cost
                    if within_budget(cost, problem.budget):
                        options.append(_Entry(first.loss + second.loss, cost,
                                              second.networks + first.networks))
        frontier[served] = _pareto(options)
    matrix = problem.matrix
    best: Rank | None = None
    for entry in frontier[(1 << n) - 1]:
        rank = Rank.of(matrix, entry.networks)
        if rank.better_than(best):
            best = rank
    if best is None:  # pragma: no cover - check_feasible guarantees a cover
        raise RuntimeError("partition DP: no feasible selection although the cover fits")
    return make_solution(problem, best.members, "dp")


def lowest_blocks(served: int) -> Iterator[int]:
    """Every block of the task set ``served`` (a bit mask) that holds its lowest task: each
    partition of ``served`` is then built once, as that block plus a partition of the rest."""
    lowest = served & -served
    rest = served ^ lowest
    sub = rest
    while True:
        yield sub | lowest
        if sub == 0:
            return
        sub = (sub - 1) & rest


def _block_options(problem: SelectionProblem) -> list[list[_Entry]]:
    """For each block of tasks (bit mask), the Pareto-best (loss, cost) candidates carrying it."""
    matrix = problem.matrix
    n = len(problem.tasks)
    options: list[list[_Entry]] = [[] for _ in range(1 << n)]
    for network, mask in enumerate(matrix.masks()):
        losses = matrix.losses[network].tolist()
        cost = float(matrix.costs[network])
        block_loss = {0: 0.0}
        # ascending submasks, so block_loss[block without its top task] is already known
        for block in sorted(_submasks(mask))[1:]:
            top = block.bit_length() - 1
            block_loss[block] = block_loss[block ^ (1 << top)] + losses[top]
            options[block].append(_Entry(block_loss[block], cost, (network,)))
    return [_pareto(entries) for entries in options]


def _submasks(mask: int) -> list[int]:
    found = []
    sub = mask
    while True:
        found.append(sub)
        if sub == 0:
            return found
        sub = (sub - 1) & mask


def _pareto(entries: list[_Entry]) -> list[_Entry]:
    """Entries no other entry covers; of equal ones the first stays."""
    entries = sorted(entries, key=lambda e: (e.cost, len(e.networks), e.loss))
    kept: list[_Entry] = []
    for entry in entries:
        if not any(other.covers(entry) for other in kept):
            kept.append(entry)
    return kept
