"""Proximal inter-task affinity (Jeong & Yoon, ICLR 2025; ALGORITHMS §3): tracking and grouping.

During selective task group updates, group ``G`` takes one optimizer step; the per-task losses
on the same batch before and after that step give, for every source ``s ∈ G`` and target ``t``,
the sample ``a = (1 − L_t^after / L_t^before) / |G|``, with two rules from the paper's code:

- ``t = s``: only non-negative samples count (a negative one is skipped);
- ``t ∈ G, t ≠ s``: if ``a_t · a_s < 0`` the sample is ``−max(a_t, a_s)``.

Each sample moves the affinity by an exponential moving average
``A[s, t] ← (1 − β)·A[s, t] + β·a``. The sample is credited to the group whose step caused the
change (the released code credits the next group in the visiting order: a bug, fixed here).

Grouping normalises column ``t`` by ``A[t, t]``, symmetrises, and clusters the tasks with
scikit-learn's affinity propagation.

Example:
    >>> tracker = ProximalAffinityTracker(["a", "b", "c"], beta=0.5)
    >>> tracker.update(["a"], {"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 0.5, "b": 0.8, "c": 1.2})
    >>> tracker.matrix[0].round(3).tolist()  # row = source a
    [0.25, 0.1, -0.1]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from mtlgroup.affinity.matrix import normalize_by_self, symmetrize

Groups = list[tuple[str, ...]]


def proximal_samples(
    tasks: Sequence[str],
    group: Sequence[str],
    before: Mapping[str, float],
    after: Mapping[str, float],
) -> np.ndarray:
    """``[n, n]`` samples of one group step (row = source); ``NaN`` where there is no sample
    (sources outside ``group``, skipped self-samples, targets with a zero or non-finite loss)."""
    tasks = list(tasks)
    unknown = [s for s in group if s not in tasks]
    if unknown or not group:
        raise ValueError(f"group {list(group)} must be a non-empty subset of {tasks}")
    gain = np.array([_relative_gain(before[t], after[t]) for t in tasks]) / len(group)
    samples = np.full((len(tasks), len(tasks)), np.nan)
    members = {tasks.index(s) for s in group}
    for s in members:
        for t in range(len(tasks)):
            a = gain[t]
            if t == s:
                if not a >= 0:  # also skips NaN
                    continue
            elif t in members and a * gain[s] < 0:
                a = -max(a, gain[s])
            samples[s, t] = a
    return samples


def _relative_gain(before: float, after: float) -> float:
    before, after = float(before), float(after)
    if not (math.isfinite(before) and math.isfinite(after) and before > 0):
        return math.nan
    return 1.0 - after / before


class ProximalAffinityTracker:
    """The moving-average proximal affinity ``A`` (row = source, column = target), from zero.

    Attributes:
        tasks: task names; ``beta``: moving-average rate; ``matrix``: ``A``;
        n_updates: group steps credited so far.
    """

    def __init__(self, tasks: Sequence[str], beta: float = 1e-3):
        if not 0 < beta <= 1:
            raise ValueError(f"proximal affinity: beta must be in (0, 1], got {beta}")
        self.tasks = tuple(tasks)
        self.beta = beta
        self.matrix = np.zeros((len(self.tasks), len(self.tasks)))
        self.n_updates = 0

    def update(
        self, group: Sequence[str], before: Mapping[str, float], after: Mapping[str, float]
    ) -> None:
        """Credit ``group``'s step: ``before``/``after`` are every task's loss on the same batch
        just before and just after that step."""
        samples = proximal_samples(self.tasks, group, before, after)
        seen = np.isfinite(samples)
        self.matrix[seen] = (1 - self.beta) * self.matrix[seen] + self.beta * samples[seen]
        self.n_updates += 1


def group_tasks(
    matrix: np.ndarray,
    tasks: Sequence[str],
    preference: float | None = None,
    random_state: int = 0,
) -> Groups | None:
    """Partition ``tasks`` by affinity propagation on the normalised, symmetrised ``matrix``.

    Returns the groups (each in task order, groups ordered by their first task), or ``None`` when
    affinity propagation does not converge or the matrix is not finite: the caller keeps its
    current groups. ``preference`` is affinity propagation's (default: median similarity).
    """
    from sklearn.cluster import AffinityPropagation
    from sklearn.exceptions import ConvergenceWarning

    similarity = symmetrize(normalize_by_self(matrix))
    if not np.isfinite(similarity).all():
        return None
    clusterer = AffinityPropagation(
        affinity="precomputed", preference=preference, random_state=random_state
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            labels = clusterer.fit(similarity).labels_
        except ConvergenceWarning:
            return None
    if (labels < 0).any():
        return None
    blocks: dict[int, list[str]] = {}
    for task, label in zip(tasks, labels, strict=True):
        blocks.setdefault(int(label), []).append(task)
    return [tuple(block) for block in blocks.values()]


def singletons(tasks: Sequence[str]) -> Groups:
    """Every task alone (the warm-up grouping)."""
    return [(t,) for t in tasks]
