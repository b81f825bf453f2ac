"""Dominance presolve: drop candidates that an optimal solution never needs.

Candidate ``G`` is *dominated* by ``H`` when ``H`` costs no more and is at least as good on every
task ``G`` carries (so ``H`` carries all of them). Replacing ``G`` by ``H`` in any solution keeps
it within budget and loses nothing; if ``H`` is already chosen, ``G`` can simply go. So some best
solution (under the full order of :mod:`~mtlgroup.selection.ranking`, up to its last tie-break
on positions) avoids every dominated candidate. Of two identical candidates the earlier stays.
"""

from __future__ import annotations

import numpy as np

from mtlgroup.selection.matrix import CandidateMatrix


def undominated(matrix: CandidateMatrix) -> np.ndarray:
    """Positions (ascending) of the candidates no other candidate dominates.

    Candidates are visited so that a dominator always comes before what it dominates (more
    tasks first, then cheaper, then lower total loss, then earlier), and each is compared only
    with the kept ones whose task set contains its own (bit masks), which keeps the pass fast
    for the ``2^n`` candidates of an all-subsets study.
    """
    losses, costs = matrix.losses, matrix.costs
    members = matrix.members
    finite_sum = np.where(members, losses, 0.0).sum(axis=1)
    order = np.lexsort((np.arange(len(costs)), finite_sum, costs, -members.sum(axis=1)))
    words = _bit_words(members)
    kept_rows = np.empty(len(costs), dtype=np.intp)
    n_kept = 0
    for i in order:
        rows = kept_rows[:n_kept]
        contains = np.all((words[rows] & words[i]) == words[i], axis=1)
        if contains.any():
            rivals = rows[contains]
            dominated = (costs[rivals] <= costs[i]) & np.all(losses[rivals] <= losses[i], axis=1)
            if dominated.any():
                continue
        kept_rows[n_kept] = i
        n_kept += 1
    return np.sort(kept_rows[:n_kept])


def _bit_words(members: np.ndarray) -> np.ndarray:
    """Task sets as rows of 64-bit words, for fast superset tests."""
    n_words = max(1, -(-members.shape[1] // 64))
    padded = np.zeros((members.shape[0], n_words * 64), dtype=bool)
    padded[:, : members.shape[1]] = members
    bits = padded.reshape(members.shape[0], n_words, 64).astype(np.uint64)
    return (bits << np.arange(64, dtype=np.uint64)).sum(axis=2, dtype=np.uint64)
