"""Selection problems whose candidates are never listed (ALGORITHMS §1.6).

With pair-based scores (HOA §1.1, affinity grouping §2.1) every subset of the tasks is a
candidate: ``2^n`` of them. An :class:`ImplicitProblem` holds listed candidates (singles, pairs,
half-size singles, any listed network) and :class:`PairFamily` families that *describe* the rest:
every subset ``G`` of at least ``min_size`` tasks, valued ``mean_{u ∈ G∖t} M[u, t]`` on each
task ``t`` and costing ``encoder + Σ_{t∈G} heads[t]``. Memory stays ``O(n²)``; the column
generation solver (``colgen``) prices the families without enumerating them, and
:meth:`ImplicitProblem.expand` lists them when that fits in memory.

Example:
    >>> import numpy as np
    >>> A = np.array([[0.0, 0.5, -0.2], [0.4, 0.0, -0.1], [-0.3, -0.2, 0.0]])
    >>> problem = ImplicitProblem(("a", "b", "c"), (), (PairFamily(A, min_size=2),), 2, "max")
    >>> problem.n_subsets, [c.name for c in problem.expand().candidates]
    (4, ['a+b', 'a+c', 'b+c', 'a+b+c'])
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from mtlgroup.selection.affinity import group_scores
from mtlgroup.selection.problem import Candidate, SelectionError, SelectionProblem, Sense

_BYTES_PER_CANDIDATE = 1200
"""Measured size of one listed candidate (object, name, values mapping, index entry, its row of
the solvers' numeric view) before its values; :data:`_BYTES_PER_VALUE` per value on top."""
_BYTES_PER_VALUE = 250
_FALLBACK_LIMIT = 2 * 1024**3
"""Expansion limit where the available memory cannot be read."""


def expand_limit() -> int:
    """Largest expansion allowed by default: half the available memory (2 GB if unknown)."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_LIMIT
    return int(available // 2) if available > 0 else _FALLBACK_LIMIT


@dataclass(frozen=True, eq=False)
class PairFamily:
    """Every subset of ``min_size`` or more tasks, scored from pairs.

    Attributes:
        matrix: ``[n, n]``, ``M[u, t]``: the value task ``t`` gets from group-mate ``u`` (row =
            source); a member's value of ``t`` is the mean over its other members. HOA:
            ``M[u, t] = L({t, u}, t)``; affinity grouping: ``M = A``. The diagonal is unused.
        min_size: smallest group (3 for HOA, 2 for affinity grouping).
        encoder: cost every member pays once.
        heads: cost per task it carries (zeros when ``None``).
        suffix: appended to members' names (``"@0.5"``: one family per encoder size).
        overrides: task sets whose member is replaced by the given candidate (a listed network
            keeps its name and cost): the family never offers them itself.
    """

    matrix: np.ndarray
    min_size: int = 3
    encoder: float = 1.0
    heads: tuple[float, ...] | None = None
    suffix: str = ""
    overrides: Mapping[frozenset[str], Candidate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        matrix = np.array(self.matrix, dtype=float)
        matrix.setflags(write=False)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        if self.heads is not None:
            object.__setattr__(self, "heads", tuple(float(h) for h in self.heads))

    def head_costs(self) -> np.ndarray:
        return np.zeros(len(self.matrix)) if self.heads is None else np.array(self.heads)

    def cost(self, group: tuple[int, ...]) -> float:
        """Cost of the member carrying the tasks at positions ``group``."""
        heads = self.head_costs()
        return float(self.encoder + sum(heads[j] for j in group))


@dataclass(frozen=True, eq=False)
class ImplicitProblem:
    """A :class:`~mtlgroup.selection.SelectionProblem` whose candidates are the listed ones plus
    every member of its families (see the module docstring).

    Attributes:
        tasks, budget, sense: as in a :class:`~mtlgroup.selection.SelectionProblem`.
        candidates: the listed candidates (they come first in :meth:`expand`).
        families: the pair-scored families.
    """

    tasks: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    families: tuple[PairFamily, ...]
    budget: float
    sense: Sense = "min"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "candidates", tuple(self.candidates))
        object.__setattr__(self, "families", tuple(self.families))
        object.__setattr__(self, "budget", float(self.budget))
        n = len(self.tasks)
        for family in self.families:
            if family.matrix.shape != (n, n):
                raise SelectionError(f"a pair family's matrix has shape {family.matrix.shape}, "
                                     f"expected ({n}, {n})")
            off_diagonal = family.matrix[~np.eye(n, dtype=bool)]
            if not np.isfinite(off_diagonal).all():
                raise SelectionError("a pair family's matrix holds a non-finite value")
            if family.min_size < 2:
                raise SelectionError(f"a pair family's min_size must be >= 2, "
                                     f"got {family.min_size}")
            if family.heads is not None and len(family.heads) != n:
                raise SelectionError(f"a pair family has {len(family.heads)} head costs for "
                                     f"{n} tasks")
            costs = [family.encoder, *family.head_costs().tolist()]
            if not all(math.isfinite(c) and c >= 0 for c in costs):
                raise SelectionError("a pair family's encoder and head costs must be finite "
                                     "numbers >= 0")
        if math.isnan(self.budget) or self.budget < 0:
            raise SelectionError(f"the budget must be a number >= 0, got {self.budget}")
        known = set(self.tasks)
        listed = self.listed()
        if len({c.name for c in listed}) != len(listed):
            raise SelectionError("a listed candidate's name repeats")
        for candidate in listed:
            if not known.issuperset(candidate.values):
                raise SelectionError(f"candidate {candidate.name!r} carries a task that is "
                                     f"not one of {list(self.tasks)}")

    def listed(self) -> tuple[Candidate, ...]:
        """The listed candidates and every family's overrides (the columns known by name)."""
        return self.candidates + tuple(c for f in self.families for c in f.overrides.values())

    def with_budget(self, budget: float) -> ImplicitProblem:
        """The same problem with another budget."""
        return replace(self, budget=budget)

    @property
    def n_subsets(self) -> int:
        """How many candidates the families describe (overridden ones included)."""
        n = len(self.tasks)
        return sum(math.comb(n, m) for f in self.families for m in range(f.min_size, n + 1))

    def estimated_bytes(self) -> int:
        """Memory that :meth:`expand` (and a solver on its result) would need, roughly."""
        n = len(self.tasks)
        values = sum(m * math.comb(n, m) for f in self.families for m in range(f.min_size, n + 1))
        return self.n_subsets * _BYTES_PER_CANDIDATE + values * _BYTES_PER_VALUE

    def member_name(self, family: PairFamily, group: tuple[int, ...]) -> str:
        """The name of a family member: its tasks (in task order) joined by ``+``, the suffix."""
        return "+".join(self.tasks[j] for j in group) + family.suffix

    def family_candidates(self, family: PairFamily) -> Iterator[Candidate]:
        """Every member of ``family`` (or its override) by size, then in combination order."""
        n = len(self.tasks)
        heads = family.head_costs()
        for size in range(family.min_size, n + 1):
            groups = np.array(list(itertools.combinations(range(n), size)))
            scores = group_scores(family.matrix, groups)
            costs = family.encoder + heads[groups].sum(axis=1)
            for group, values, cost in zip(groups, scores, costs, strict=True):
                names = tuple(self.tasks[j] for j in group)
                listed = family.overrides.get(frozenset(names))
                if listed is not None:
                    yield listed
                    continue
                yield Candidate("+".join(names) + family.suffix, float(cost),
                                {self.tasks[j]: float(values[j]) for j in group})

    def expand(self, max_bytes: int | None = None) -> SelectionProblem:
        """The ordinary problem listing every candidate.

        Raises:
            SelectionError: the expansion would need more than ``max_bytes`` (default:
                :func:`expand_limit`); the message says how many subsets, how much memory, and
                to use the ``colgen`` (or ``auto``) solver, which does not list them.
        """
        limit = expand_limit() if max_bytes is None else max_bytes
        need = self.estimated_bytes()
        if need > limit:
            raise SelectionError(
                f"listing every candidate of {len(self.tasks)} tasks means {self.n_subsets:,} "
                f"subsets and about {_gb(need)} of memory (limit {_gb(limit)}); use the solver "
                "'colgen' (or 'auto'), which prices the subsets without listing them")
        listed = list(self.candidates)
        for family in self.families:
            listed.extend(self.family_candidates(family))
        return SelectionProblem(self.tasks, tuple(listed), self.budget, self.sense)


IMPLICIT_FROM = 16
"""Problems of this many tasks or more stay implicit (:func:`listed_if_small`): listing
``2^16`` subsets takes longer than column generation takes to solve them."""


def listed_if_small(problem: ImplicitProblem) -> SelectionProblem | ImplicitProblem:
    """``problem`` expanded when it has fewer than :data:`IMPLICIT_FROM` tasks and fits in
    memory (so small problems stay ordinary ones), else ``problem`` itself."""
    if len(problem.tasks) < IMPLICIT_FROM and problem.estimated_bytes() <= expand_limit():
        return problem.expand()
    return problem


def _gb(size: float) -> str:
    return f"{size / 1024**3:.3g} GB"
