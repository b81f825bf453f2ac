"""Grouping tasks from an affinity matrix (ALGORITHMS §2.1) as a selection problem.

Score of task ``t`` in group ``G`` (``|G| ≥ 2``): ``s(t, G) = mean_{i ∈ G∖{t}} A[i, t]``, the
affinity onto ``t`` from its group-mates (``A`` row = source, column = target). At most ``k``
groups cover every task; each task takes its best score among the chosen groups containing it;
the sum is maximised. That is §1 with every group costing 1, budget ``k`` and maximisation, so
every solver answers it. Singletons are not candidates unless allowed, with a given score.

The affinity itself (TAG, CS, proximal, from a table) comes from :mod:`mtlgroup.affinity`;
this module needs only its task names and matrix.

Example:
    >>> import numpy as np
    >>> from mtlgroup.selection import solve
    >>> A = np.array([[0.0, 0.5, -0.2], [0.4, 0.0, -0.1], [-0.3, -0.2, 0.0]])
    >>> solve(problem_from_affinity(("a", "b", "c"), A, max_groups=2)).names
    ('a+b', 'b+c')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from mtlgroup.selection.problem import Candidate, SelectionError, SelectionProblem

if TYPE_CHECKING:
    from mtlgroup.selection.implicit import ImplicitProblem


def group_scores(matrix: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``[len(groups), n]``: ``s(t, G)`` for each group (rows of task positions, all of one
    size ``≥ 2``) and task; columns of tasks outside the group are meaningless."""
    size = groups.shape[1]
    members = np.zeros((len(groups), matrix.shape[0]))
    np.put_along_axis(members, groups, 1.0, axis=1)
    off_diagonal = np.array(matrix, dtype=float)
    np.fill_diagonal(off_diagonal, 0.0)
    return members @ off_diagonal / (size - 1)


def problem_from_affinity(
    tasks: Sequence[str],
    matrix: ArrayLike,
    *,
    max_groups: int,
    allow_singletons: bool = False,
    singleton_score: float = 0.0,
) -> SelectionProblem | ImplicitProblem:
    """The grouping problem of §2.1: candidates are all groups of two or more tasks (and the
    singletons, scored ``singleton_score``, if allowed), each costing 1; budget ``max_groups``.
    From :data:`~mtlgroup.selection.implicit.IMPLICIT_FROM` tasks on, the groups are not
    listed: an :class:`~mtlgroup.selection.implicit.ImplicitProblem` (solved by ``colgen``).

    Args:
        tasks: task names, the order of the matrix's rows and columns.
        matrix: ``A[i, j]``, the effect of a step on task ``i`` onto task ``j`` (row = source).
            The diagonal is not used (it may hold NaN).
        max_groups: the largest number of groups (``k``).
        allow_singletons: also offer each task alone.
        singleton_score: the score of a task alone (0: neither helped nor hurt).

    Raises:
        SelectionError: a non-square matrix, a size that does not match ``tasks``, a NaN off the
            diagonal, ``max_groups < 1``.
    """
    tasks = tuple(tasks)
    values = np.asarray(matrix, dtype=float)
    n = len(tasks)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise SelectionError(f"the affinity matrix must be square, got shape {values.shape}")
    if values.shape[0] != n:
        raise SelectionError(f"affinity matrix of {values.shape[0]} rows for {n} tasks")
    off_diagonal = ~np.eye(n, dtype=bool)
    if not np.isfinite(values[off_diagonal]).all():
        i, j = np.argwhere(~np.isfinite(values) & off_diagonal)[0]
        raise SelectionError(f"affinity A[{tasks[i]}, {tasks[j]}] is {values[i, j]}; "
                             "every entry off the diagonal must be a finite number")
    if max_groups < 1:
        raise SelectionError(f"max_groups must be at least 1, got {max_groups}")
    if not math.isfinite(singleton_score):
        raise SelectionError(f"singleton_score must be finite, got {singleton_score}")
    from mtlgroup.selection.implicit import ImplicitProblem, PairFamily, listed_if_small

    if n < 2 and not allow_singletons:
        raise SelectionError("grouping needs at least two tasks (or allow_singletons)")
    singles = tuple(Candidate(t, 1.0, {t: singleton_score}) for t in tasks) if allow_singletons \
        else ()
    family = PairFamily(values, min_size=2, encoder=1.0)
    return listed_if_small(ImplicitProblem(tasks, singles, (family,) if n >= 2 else (),
                                           float(max_groups), "max"))
