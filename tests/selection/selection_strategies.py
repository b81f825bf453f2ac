"""Hypothesis strategies and helpers shared by the selection tests."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from mtlgroup.selection import Candidate, SelectionProblem, Solution
from mtlgroup.selection.ranking import close

TASK_NAMES = ("semseg", "depth", "normals", "keypoints", "edges2d", "reshading")

losses = st.one_of(st.sampled_from([0.1, 0.2, 0.25, 0.3, 0.5]),
                   st.floats(0.01, 1.0, allow_nan=False).map(lambda v: round(v, 4)))
costs = st.sampled_from([0.0, 0.5, 1.0, 1.0, 1.5, 2.0])
# two values each, so that ties in objective and cost (the hard part of tie-breaking) abound
tied_losses = st.sampled_from([0.1, 0.2])
tied_costs = st.sampled_from([0.5, 1.0])


@st.composite
def problems(draw, max_tasks: int = 6, max_candidates: int = 10, sense: str = "min",
             ties: bool = False):
    """Random problems small enough for brute force; every task has a carrier and the budget
    lets some choice serve every task. ``ties``: values and costs from two levels each."""
    loss_values, cost_values = (tied_losses, tied_costs) if ties else (losses, costs)
    n = draw(st.integers(1, max_tasks))
    tasks = TASK_NAMES[:n]
    subsets = draw(st.lists(st.lists(st.sampled_from(tasks), min_size=1, unique=True),
                            min_size=1, max_size=max_candidates))
    carried = {t for s in subsets for t in s}
    subsets += [[t] for t in tasks if t not in carried]
    candidates = []
    for i, subset in enumerate(subsets):
        values = {t: draw(loss_values) for t in sorted(subset, key=tasks.index)}
        if sense == "max":
            values = {t: v - 0.5 for t, v in values.items()}
        candidates.append(Candidate(f"net{i}", draw(cost_values), values))
    cover = _cheapest_cover_upper_bound(tasks, candidates)
    budget = draw(st.sampled_from([cover, cover + 0.5, cover + 1.0, cover * 2, 100.0]))
    return SelectionProblem(tasks, tuple(candidates), budget, sense)


def _cheapest_cover_upper_bound(tasks, candidates) -> float:
    return sum(min(c.cost for c in candidates if t in c.values) for t in tasks)


def all_subsets_problem(values, n: int, budget: float) -> SelectionProblem:
    """Every non-empty subset of ``n`` tasks at cost 1 plus half-size singles at 0.5, with
    losses drawn from ``values`` (a callable ``(subset, task) -> loss``)."""
    tasks = TASK_NAMES[:n] if n <= len(TASK_NAMES) else tuple(f"t{i}" for i in range(n))
    candidates = [Candidate(f"{t}/2", 0.5, {t: values((t,), t) * 1.05}) for t in tasks]
    for size in range(1, n + 1):
        for subset in itertools.combinations(tasks, size):
            candidates.append(Candidate("+".join(subset), 1.0,
                                        {t: values(subset, t) for t in subset}))
    return SelectionProblem(tasks, tuple(candidates), budget)


def signature(solution: Solution) -> tuple[float, float, int]:
    """What every exact solver must agree on: objective, then cost, then count."""
    return solution.objective, solution.cost, len(solution.networks)


def same_signature(a: Solution, b: Solution) -> bool:
    return (close(a.objective, b.objective) and close(a.cost, b.cost)
            and len(a.networks) == len(b.networks))
