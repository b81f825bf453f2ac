"""Pairwise affinity from a study's loss table (ALGORITHMS §1.3), as an :class:`Affinity`.

With the single-task baseline ``L_1(t)`` (the half-size single ``t/2`` by default, or the
full-size single ``t``), the relative gain of ``t`` when trained with ``u`` is

    ``R[t, u] = L_1(t) / L({t, u}, t) − 1``      (positive: ``u`` helps ``t``).

The affinity uses the same convention as every other method, row = source, column = target:
``A[u, t]`` is the effect of ``u`` onto ``t``, so **``A[u, t] = R[t, u]``** (``A = Rᵀ``). The
diagonal is ``L_1(t) / L({t}, t) − 1``: the gain of the full-size single network over the
baseline (0 with ``baseline="full"``, ``NaN`` if the full single is missing). A pair missing
from the table gives ``NaN``.

Example:
    >>> rows = [("a/2", 0.5, "a", 1.0), ("b/2", 0.5, "b", 2.0),
    ...         ("a+b", 1.0, "a", 0.8), ("a+b", 1.0, "b", 2.5)]
    >>> affinity = pairwise_affinity(rows)
    >>> round(affinity.get("b", "a"), 3), round(affinity.get("a", "b"), 3)  # b helps a
    (0.25, -0.2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mtlgroup.affinity.matrix import Affinity
from mtlgroup.selection.table import LossTable, read_loss_table

Baseline = Literal["half", "full"]


def pairwise_affinity(
    table: str | Path | LossTable | Iterable[Sequence[Any] | Mapping[str, Any]],
    baseline: Baseline = "half",
    tasks: Sequence[str] | None = None,
) -> Affinity:
    """The §1.3 relative-performance matrix of a loss table, transposed to row = source.

    Args:
        table: a loss-table CSV (``network,cost,task,loss``), a
            :class:`~mtlgroup.selection.LossTable`, or rows ``(network, cost, task, loss)``.
        baseline: ``"half"`` (``t/2`` networks, the paper's) or ``"full"`` (``t`` networks).
        tasks: the tasks, in order (default: every task of the table, in order of appearance).
    """
    if baseline not in ("half", "full"):
        raise ValueError(f"baseline must be 'half' or 'full', got {baseline!r}")
    if isinstance(table, str | Path):
        table = read_loss_table(table)
    elif not isinstance(table, LossTable):
        table = LossTable.from_rows(table, source="loss table")
    losses = {(r.network, r.task): r.loss for r in table.rows}
    single_name = (lambda t: f"{t}/2") if baseline == "half" else (lambda t: t)
    tasks = list(dict.fromkeys(tasks if tasks is not None else table.tasks))
    if not tasks:
        raise ValueError(f"{table.source}: the loss table is empty")
    missing = [t for t in tasks if (single_name(t), t) not in losses]
    if missing:
        raise ValueError(f"{table.source}: no {baseline}-size single-task baseline for "
                         f"{', '.join(missing)} (expected a network named "
                         f"{single_name(missing[0])!r})")
    pair_loss = {(frozenset(net.split("+")), t): v for (net, t), v in losses.items()}
    n = len(tasks)
    matrix = np.full((n, n), np.nan)
    pairs = 0
    for i, t in enumerate(tasks):
        base = losses[(single_name(t), t)]
        for j, u in enumerate(tasks):
            joint = pair_loss.get((frozenset((t, u)), t))
            if joint is not None and joint > 0:
                matrix[j, i] = base / joint - 1.0  # A[u, t] = R[t, u]
                pairs += i != j
    return Affinity(tuple(tasks), matrix, method="pairwise",
                    settings={"baseline": baseline, "source": table.source}, n_probes=pairs)
