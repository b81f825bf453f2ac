"""Candidate networks and the plans that list them (ALGORITHMS §1, §1.1, §1.2).

A :class:`Candidate` is one network to train: a task subset, an encoder size and a share of the
training budget. A *plan* names a standard list of candidates for ``n`` tasks:

========  =============================================================  ==================
plan      candidates                                                     trainings
========  =============================================================  ==================
``all``   every non-empty subset at size 1, plus the half-size singles   ``2^n − 1 + n``
``pairs`` subsets of at most two tasks at size 1, plus the half-size     ``n(n+1)/2 + n``
          singles (HOA predicts the larger networks from these)
``esa``   the candidates of ``all``, each trained for 20% of the budget  ``2^n − 1 + n``
========  =============================================================  ==================

ALGORITHMS §1.1 counts HOA as ``n(n+1)/2`` trainings: the singles and pairs. The ``n`` half-size
singles are candidates of the selection that HOA cannot predict, so ``pairs`` trains them too and
lists them separately: ``n(n+1)/2 + n`` jobs in all.

Example:
    >>> [c.name for c in plan_candidates("pairs", ["a", "b"])]
    ['a/2', 'b/2', 'a', 'b', 'a+b']
    >>> parse_candidates(["b+a", "c/2", "a+c@0.5"])[0].tasks
    ('b', 'a')
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from mtlgroup.registry import Registry

ESA_FRACTION = 0.2
"""Share of the full training budget an ESA candidate is trained for (ALGORITHMS §1.2)."""

HALF = 0.5
"""Encoder size of the paper's cheap single-task networks (named ``task/2``)."""


@dataclass(frozen=True)
class Candidate:
    """One network to train: its tasks, encoder size and share of the training budget.

    ``budget_fraction`` is not part of :attr:`name`: an ESA candidate (fraction 0.2) is the same
    network as the full one, trained for less time, and fills the ``early`` loss table.
    """

    tasks: tuple[str, ...]
    size: float = 1.0
    budget_fraction: float = 1.0

    def __post_init__(self) -> None:
        tasks = tuple(self.tasks)
        object.__setattr__(self, "tasks", tasks)
        object.__setattr__(self, "size", float(self.size))
        object.__setattr__(self, "budget_fraction", float(self.budget_fraction))
        if not tasks:
            raise ValueError("a candidate network needs at least one task")
        repeated = sorted({t for t in tasks if tasks.count(t) > 1})
        if repeated:
            raise ValueError(f"candidate lists task {', '.join(repeated)} twice")
        bad = [t for t in tasks if not t or any(c in t for c in "+/@,")]
        if bad:
            raise ValueError(f"bad task name {bad[0]!r} in a candidate: no '+', '/', '@' or ','")
        if not self.size > 0:
            raise ValueError(f"candidate {'+'.join(tasks)}: size must be > 0, got {self.size}")
        if not 0 < self.budget_fraction <= 1:
            raise ValueError(
                f"candidate {'+'.join(tasks)}: budget_fraction must be in (0, 1], "
                f"got {self.budget_fraction}"
            )

    @property
    def name(self) -> str:
        """``a+b`` at size 1, ``a/2`` for a half-size single, else ``a+b@0.25`` (the size in
        full precision when it has more than six significant digits)."""
        joined = "+".join(self.tasks)
        if self.size == 1.0:
            return joined
        if self.size == HALF and len(self.tasks) == 1:
            return f"{joined}/2"
        size = f"{self.size:g}"
        # Short when exact (0.25), every digit otherwise: a name always parses back to its size.
        return f"{joined}@{size if float(size) == self.size else repr(self.size)}"

    @property
    def is_full_budget(self) -> bool:
        return self.budget_fraction == 1.0

    def ordered(self, task_order: Sequence[str]) -> Candidate:
        """The same candidate with its tasks in ``task_order`` (the dataset's order).

        Raises ``ValueError`` naming a task that is not in ``task_order``.
        """
        position = {t: i for i, t in enumerate(task_order)}
        unknown = [t for t in self.tasks if t not in position]
        if unknown:
            raise ValueError(
                f"network {self.name!r}: unknown task {unknown[0]!r}; "
                f"valid tasks: {', '.join(task_order)}"
            )
        return replace(self, tasks=tuple(sorted(self.tasks, key=position.__getitem__)))

    def with_budget(self, fraction: float) -> Candidate:
        return replace(self, budget_fraction=fraction)

    def __str__(self) -> str:
        suffix = "" if self.is_full_budget else f" ({self.budget_fraction:.0%} budget)"
        return self.name + suffix


def parse_candidate(name: str) -> Candidate:
    """Parse one network name: ``a+b``, ``a/2`` (half-size single) or ``a+b@0.5``.

    Example:
        >>> parse_candidate("depth@0.5").name
        'depth/2'
    """
    text = name.strip()
    size = 1.0
    if "@" in text:
        text, _, size_text = text.partition("@")
        try:
            size = float(size_text)
        except ValueError:
            raise ValueError(
                f"bad network name {name!r}: the size after '@' must be a number"
            ) from None
    elif text.endswith("/2"):
        text, size = text[:-2], HALF
        if "+" in text:
            raise ValueError(f"bad network name {name!r}: '/2' names a single-task network; "
                             f"write a half-size multi-task network as 'a+b@0.5'")
    tasks = tuple(t.strip() for t in text.split("+"))
    if any(not t for t in tasks):
        raise ValueError(f"bad network name {name!r}: expected tasks joined by '+'")
    return Candidate(tasks, size)


def parse_candidates(names: Iterable[str]) -> list[Candidate]:
    """Parse a user's list of network names (see :func:`parse_candidate`); duplicates are
    dropped, order is kept."""
    seen: dict[Candidate, None] = {}
    for name in names:
        seen.setdefault(parse_candidate(name), None)
    if not seen:
        raise ValueError("the list of networks is empty")
    return list(seen)


def half_size_singles(tasks: Sequence[str]) -> list[Candidate]:
    return [Candidate((t,), HALF) for t in tasks]


def subsets(tasks: Sequence[str], max_size: int | None = None) -> list[Candidate]:
    """Full-size networks for every non-empty subset with at most ``max_size`` tasks, by size
    then in the order of ``itertools.combinations``."""
    largest = len(tasks) if max_size is None else min(max_size, len(tasks))
    return [
        Candidate(combo)
        for k in range(1, largest + 1)
        for combo in itertools.combinations(tasks, k)
    ]


def _all(tasks: Sequence[str]) -> list[Candidate]:
    return half_size_singles(tasks) + subsets(tasks)


def _pairs(tasks: Sequence[str]) -> list[Candidate]:
    return half_size_singles(tasks) + subsets(tasks, max_size=2)


def _esa(tasks: Sequence[str]) -> list[Candidate]:
    return [c.with_budget(ESA_FRACTION) for c in _all(tasks)]


PlanFn = Callable[[Sequence[str]], list[Candidate]]
"""``plan(tasks) -> candidates``."""

PLANS: Registry[PlanFn] = Registry("plan")
"""Plans by name (``all``, ``pairs``, ``esa``, and any registered one)."""
PLANS.register("all", _all)
PLANS.register("pairs", _pairs)
PLANS.register("esa", _esa)


def available_plans() -> list[str]:
    """The registered plan names, built-ins first."""
    return PLANS.names()


def with_sizes(candidates: Sequence[Candidate], sizes: Sequence[float]) -> list[Candidate]:
    """Each task set of ``candidates`` at each of ``sizes`` (ALGORITHMS §1.4), its share of
    the training budget kept: a plan at several encoder sizes, by task set then size.

    Example:
        >>> [c.name for c in with_sizes(plan_candidates("pairs", ["a", "b"]), [0.5, 1])]
        ['a/2', 'a', 'b/2', 'b', 'a+b@0.5', 'a+b']
    """
    task_sets = dict.fromkeys((c.tasks, c.budget_fraction) for c in candidates)
    return [Candidate(tasks, size, fraction)
            for tasks, fraction in task_sets for size in sizes]


def plan_candidates(
    plan: str, tasks: Sequence[str], sizes: Sequence[float] | None = None
) -> list[Candidate]:
    """The candidates of a named plan (``all``, ``pairs``, ``esa``) over ``tasks``, in the
    order given (pass the dataset's task order); with ``sizes``, each of its task sets at each
    size (:func:`with_sizes`) instead of the paper's sizes."""
    make = PLANS.get(plan)  # UnknownNameError (a ValueError) lists the plans
    tasks = list(tasks)
    if not tasks:
        raise ValueError("a plan needs at least one task")
    repeated = sorted({t for t in tasks if tasks.count(t) > 1})
    if repeated:
        raise ValueError(f"task listed twice: {', '.join(repeated)}")
    return make(tasks) if sizes is None else with_sizes(make(tasks), sizes)
