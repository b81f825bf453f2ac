"""The selection problem and its solution (ALGORITHMS §1).

A :class:`SelectionProblem` lists candidate networks, each with a cost and a value per task it
carries (a loss to minimise, or a score to maximise), and a budget. A solution chooses networks
whose total cost is within the budget and serves every task with the chosen network that is best
on it; its objective is the sum of the served values.

Example:
    >>> problem = SelectionProblem(
    ...     tasks=("a", "b"),
    ...     candidates=(
    ...         Candidate("a", 1.0, {"a": 0.30}),
    ...         Candidate("b", 1.0, {"b": 0.50}),
    ...         Candidate("a+b", 1.0, {"a": 0.35, "b": 0.40}),
    ...     ),
    ...     budget=1.0,
    ... )
    >>> problem.candidate("a+b").tasks
    ('a', 'b')
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mtlgroup.selection.matrix import CandidateMatrix

Sense = Literal["min", "max"]


class SelectionError(ValueError):
    """A selection problem that cannot be posed as given (bad candidates, tasks or budget)."""


class InfeasibleError(SelectionError):
    """No choice of networks within the budget serves every task.

    Attributes:
        required: the least total cost that serves every task.
        budget: the budget that was given.
    """

    def __init__(self, required: float, budget: float):
        self.required = required
        self.budget = budget
        super().__init__(
            f"infeasible: covering all tasks costs at least {required:g}, budget is {budget:g}"
        )


@dataclass(frozen=True)
class Candidate:
    """A network that may be chosen.

    Attributes:
        name: unique name (``semseg+depth``, ``normals/2`` …).
        cost: inference cost in budget units (``>= 0``).
        values: ``{task: value}`` for every task the network carries: a loss (lower is better)
            in a minimisation problem, a score (higher is better) in a maximisation problem.
    """

    name: str
    cost: float
    values: Mapping[str, float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "cost", float(self.cost))
        object.__setattr__(
            self, "values", MappingProxyType({t: float(v) for t, v in self.values.items()})
        )

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks this network carries, in the order its values were given."""
        return tuple(self.values)


@dataclass(frozen=True)
class SelectionProblem:
    """Choose networks within ``budget`` serving every task, best total value (ALGORITHMS §1).

    Attributes:
        tasks: every task that must be served.
        candidates: the networks that may be chosen (names unique).
        budget: the largest total cost allowed (``math.inf`` for none). A maximum number of
            groups is a budget with unit costs (see :func:`problem_from_affinity`).
        sense: ``"min"`` for losses, ``"max"`` for scores.
    """

    tasks: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    budget: float
    sense: Sense = "min"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "candidates", tuple(self.candidates))
        object.__setattr__(self, "budget", float(self.budget))
        _validate(self)
        object.__setattr__(self, "_index", {c.name: i for i, c in enumerate(self.candidates)})

    def candidate(self, name: str) -> Candidate:
        """The candidate called ``name``."""
        try:
            return self.candidates[self._index[name]]
        except KeyError:
            raise KeyError(f"no candidate network named {name!r}") from None

    def index(self, name: str) -> int:
        """Position of the candidate called ``name`` in :attr:`candidates`."""
        self.candidate(name)
        return self._index[name]

    def with_budget(self, budget: float) -> SelectionProblem:
        """The same problem with another budget (only the budget is validated again: a sweep
        makes one problem per budget)."""
        budget = float(budget)
        if math.isnan(budget) or budget < 0:
            raise SelectionError(f"the budget must be a number >= 0, got {budget}")
        other = copy.copy(self)  # shares the candidates, their index and the numeric view
        object.__setattr__(other, "budget", budget)
        return other

    @cached_property
    def matrix(self) -> CandidateMatrix:
        """The numeric view the solvers work on (built once)."""
        from mtlgroup.selection.matrix import CandidateMatrix

        return CandidateMatrix.from_problem(self)


def _validate(problem: SelectionProblem) -> None:
    tasks = problem.tasks
    if not tasks:
        raise SelectionError("a selection problem needs at least one task")
    if len(set(tasks)) != len(tasks):
        raise SelectionError(f"task names repeat in {list(tasks)}")
    if problem.sense not in ("min", "max"):
        raise SelectionError(f"sense must be 'min' or 'max', got {problem.sense!r}")
    if math.isnan(problem.budget) or problem.budget < 0:
        raise SelectionError(f"the budget must be a number >= 0, got {problem.budget}")
    known = set(tasks)
    names: set[str] = set()
    covered: set[str] = set()
    for candidate in problem.candidates:
        where = f"candidate {candidate.name!r}"
        if candidate.name in names:
            raise SelectionError(f"{where} is listed twice")
        names.add(candidate.name)
        if not math.isfinite(candidate.cost) or candidate.cost < 0:
            raise SelectionError(f"{where}: cost must be a finite number >= 0, "
                                 f"got {candidate.cost}")
        if not candidate.values:
            raise SelectionError(f"{where} carries no task")
        for task, value in candidate.values.items():
            if task not in known:
                raise SelectionError(f"{where}: task {task!r} is not one of {list(tasks)}")
            if not math.isfinite(value):
                raise SelectionError(f"{where}: value of task {task!r} is {value}")
        covered.update(candidate.values)
    missing = [t for t in tasks if t not in covered]
    if missing:
        raise SelectionError(f"no candidate network carries task(s) {', '.join(missing)}")


@dataclass(frozen=True)
class Solution:
    """Chosen networks and which task each serves.

    Attributes:
        problem: the problem solved.
        networks: the chosen candidates, in the problem's candidate order. Minimal: each serves
            at least one task.
        served_by: ``{task: name of the network serving it}`` (its best chosen network).
        objective: sum over tasks of the served value, on the problem's table.
        cost: total cost of the chosen networks.
        solver: the solver that produced it.
        gap: proven distance to the optimum, in objective units (0: optimal). Only column
            generation on an implicit problem (ALGORITHMS §1.6) may stop short of 0.
    """

    problem: SelectionProblem = field(repr=False)
    networks: tuple[Candidate, ...]
    served_by: Mapping[str, str]
    objective: float
    cost: float
    solver: str = ""
    gap: float = 0.0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.networks)

    @property
    def budget(self) -> float:
        return self.problem.budget

    def serves(self, name: str) -> tuple[str, ...]:
        """The tasks the network ``name`` serves (the others it carries are auxiliary)."""
        return tuple(t for t in self.problem.tasks if self.served_by[t] == name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON fields of ``mtlgroup select`` (DESIGN.md)."""
        return {
            "objective": self.objective,
            "cost": self.cost,
            "budget": self.budget if math.isfinite(self.budget) else None,
            "networks": [
                {"name": c.name, "tasks": list(c.tasks), "cost": c.cost,
                 "serves": list(self.serves(c.name))}
                for c in self.networks
            ],
            "served_by": {t: self.served_by[t] for t in self.problem.tasks},
            "gap": self.gap,
        }

