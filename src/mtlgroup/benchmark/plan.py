"""What a benchmark trains: its methods and their jobs, seed by seed.

A benchmark compares, on one dataset and task set, *methods* that each serve every task:

- ``single-task``: one standard network per task (the reference of Δm);
- one method per update strategy: the all-task network trained with it (``joint``, ``pcgrad``,
  ``stgu``…);
- ``grouping``: the networks of the task grouping an affinity estimate chooses at the
  all-task network's inference cost (see :func:`grouping_networks`).

Every network of every method is a job of one study store, so a killed benchmark resumes and
a finished one is never retrained. All jobs share one training configuration: the same
training budget (``epochs`` or ``max_steps``, counted in ``budget_unit``) for every method;
the table then states what each method spent in batches and in optimizer steps.

Example:
    >>> plan = BenchmarkPlan(("a", "b"), ("joint", {"name": "pcgrad", "options": {}}), (0, 1))
    >>> [m.label for m in plan.methods()]
    ['single-task', 'joint', 'pcgrad', 'grouping']
    >>> plan.methods()[2].strategy
    {'name': 'pcgrad', 'options': {}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mtlgroup.study.jobs import strategy_request
from mtlgroup.study.plans import Candidate

if TYPE_CHECKING:
    from mtlgroup.affinity import Affinity
    from mtlgroup.cost import CostModel

MethodKind = Literal["single-task", "strategy", "grouping"]

SINGLE_TASK = "single-task"
GROUPING = "grouping"


@dataclass(frozen=True)
class Method:
    """One row of the benchmark: its ``label``, its kind and, for a strategy, the request
    (``None``: the joint sum)."""

    label: str
    kind: MethodKind
    strategy: dict[str, Any] | None = None


def strategy_label(request: Mapping[str, Any] | None) -> str:
    """``joint``, ``pcgrad``, or ``cagrad:c=0.4`` when options are given (the form
    ``--strategies`` reads).

    >>> strategy_label({"name": "cagrad", "options": {"c": 0.4}}), strategy_label(None)
    ('cagrad:c=0.4', 'joint')
    """
    if request is None:
        return "joint"
    options = ",".join(f"{k}={v}" for k, v in sorted(request["options"].items()))
    return f"{request['name']}:{options}" if options else request["name"]


@dataclass(frozen=True)
class BenchmarkPlan:
    """The tasks, the strategies (names or ``{"name", "options"}``), the seeds and the
    grouping: ``grouping`` is the affinity method whose estimate chooses it (``tag``, ``cs``;
    ``None``: no grouping row), ``max_groups`` the most groups it may use, and
    ``grouping_options`` the method's options (``{"every": 10}``). ``size`` is the encoder
    size of the single-task and all-task networks (1: standard networks)."""

    tasks: tuple[str, ...]
    strategies: tuple[str | Mapping[str, Any], ...]
    seeds: tuple[int, ...]
    grouping: str | None = "tag"
    max_groups: int = 2
    grouping_options: Mapping[str, Any] = field(default_factory=dict)
    size: float = 1.0

    def __post_init__(self) -> None:
        if len(self.tasks) < 2:
            raise ValueError(f"a benchmark needs at least two tasks, got {list(self.tasks)}")
        if not self.strategies:
            raise ValueError("a benchmark needs at least one strategy, e.g. joint")
        if not self.seeds:
            raise ValueError("a benchmark needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must differ, got {list(self.seeds)}")
        labels = [strategy_label(strategy_request(s)) for s in self.strategies]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"strategy {repeated[0]} is listed twice")
        if self.max_groups < 2:
            raise ValueError(f"max_groups must be at least 2 (1 is the all-task network), "
                             f"got {self.max_groups}")

    def methods(self) -> list[Method]:
        """The rows, in order: single-task, each strategy, the grouping."""
        requests = [strategy_request(s) for s in self.strategies]
        return [Method(SINGLE_TASK, "single-task"),
                *(Method(strategy_label(r), "strategy", r) for r in requests),
                *([Method(GROUPING, "grouping")] if self.grouping else [])]

    def single_networks(self) -> list[Candidate]:
        """The standard single-task networks (size 1), the reference of Δm."""
        return [Candidate((t,), self.size) for t in self.tasks]

    def all_task_network(self) -> Candidate:
        return Candidate(self.tasks, self.size)

    def affinity_request(self) -> dict[str, Any] | None:
        """The affinity job that chooses the grouping (``None``: no grouping)."""
        if self.grouping is None:
            return None
        return {"method": self.grouping, "options": dict(self.grouping_options)}


def grouping_networks(
    affinity: Affinity, budget: float, costs: CostModel, max_groups: int, solver: str = "auto",
    size: float = 1.0,
) -> list[Candidate]:
    """The grouping an affinity chooses at inference ``budget``: the best grouping into at
    most ``max_groups`` groups (ALGORITHMS §2.1, :func:`~mtlgroup.selection.
    problem_from_affinity`), then each group's encoder scaled so that the networks together
    cost at most ``budget`` (each group gets the share of the budget its size-1 network has of
    their size-1 total; :meth:`~mtlgroup.cost.CostModel.size_for_cost`, to 0.01).

    Why scale: at the all-task network's cost, two full-size networks never fit (each brings
    its own encoder), so without scaling the choice would always be the all-task network. A
    grouping that is one group is the all-task network itself, at ``size`` (the encoder size
    the budget was measured at).
    """
    from mtlgroup.selection import SelectionProblem, problem_from_affinity, solve
    from mtlgroup.study.plans import parse_candidate

    problem = problem_from_affinity(affinity.tasks, affinity.matrix, max_groups=max_groups)
    if not isinstance(problem, SelectionProblem):  # ≥ 16 tasks: groups not listed (§1.6)
        problem = problem.expand()
    groups = [parse_candidate(name).tasks for name in solve(problem, solver).names]
    if len(groups) == 1:
        return [Candidate(groups[0], size)]
    full = {g: costs.cost(g, size) for g in groups}
    total = sum(full.values())
    # sizes to 0.01: names stay short (a+b@0.56) and the bisection takes fewer FLOP counts
    return [Candidate(g, costs.size_for_cost(g, budget * full[g] / total, decimals=2))
            for g in groups]
