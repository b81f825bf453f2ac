"""HOA at several encoder sizes (ALGORITHMS §1.1, §1.4): a size-``s`` network is predicted
from the size-``s`` pairs.

The table of a study trained at several sizes (``pipeline.sizes``) holds networks named
``a+b@0.5``, ``a/2``, ``a+b``. :func:`hoa_by_size` groups them by size, strips the size from the
names, predicts with :func:`~mtlgroup.selection.hoa_table` and puts the size back, so that the
pairs of one size never predict a network of another. A size whose pairs are incomplete (some
failed to train, or a table that has them at size 1 only) is predicted from the size-1 pairs,
costed at its own size, and reported as an extrapolation.

Example (pairs at size 1, only singles at size 0.5)::

    >>> from mtlgroup.selection import LossTable
    >>> rows = [(pair, 1.2, t, 0.2) for pair in ("a+b", "a+c", "b+c") for t in pair.split("+")]
    >>> table = LossTable.from_rows(rows + [("a/2", 0.5, "a", 0.4)])
    >>> sized = hoa_by_size(table, [0.5, 1.0], lambda tasks, size: size * len(tasks))
    >>> sized.extrapolated, sized.table.losses("a+b+c@0.5"), sized.table.cost("a+b+c@0.5")
    ([0.5], {'a': 0.2, 'b': 0.2, 'c': 0.2}, 1.5)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mtlgroup.selection import LossTable, hoa_table
from mtlgroup.selection.table import LossRow, TableError
from mtlgroup.study.plans import Candidate, parse_candidate

SizedCost = Callable[[tuple[str, ...], float], float]
"""``cost(tasks, size)`` of a network in the run's unit."""


@dataclass(frozen=True)
class SizedHoa:
    """The table with every size's predictions, and the sizes predicted from size-1 pairs."""

    table: LossTable
    extrapolated: list[float]


def hoa_by_size(table: LossTable, sizes: Sequence[float], cost: SizedCost) -> SizedHoa:
    """HOA within each of ``sizes`` (networks at other sizes are kept as they are).

    Raises:
        TableError: a size lacks some pair and so does size 1.
    """
    by_size = _by_size(table)
    tasks = table.tasks
    rows = [row for size, group in by_size.items() if size not in sizes for row in group]
    extrapolated = sizes_without_pairs(table, sizes)
    for size in sizes:
        own = by_size.get(size, [])
        source = own if size not in extrapolated else by_size.get(1.0, [])
        if size in extrapolated:
            if 1.0 in extrapolated or not source:
                missing = _missing_pairs(own, tasks) or ["every pair"]
                raise TableError(f"{table.source}: HOA at size {size:g} needs its pairs or the "
                                 f"size-1 pairs; missing {', '.join(missing)}")
            # the size's own networks stay real; only the larger ones come from size 1
            rows.extend(_named(r, r.network, size) for r in own
                        if len(parse_candidate(r.network).tasks) <= 2)
        stripped = LossTable(tuple(_named(r, "+".join(parse_candidate(r.network).tasks), None)
                                   for r in source), f"{table.source} at size {size:g}")
        for row in hoa_table(stripped, cost=functools.partial(_at_size, cost, size)).rows:
            if size not in extrapolated or len(row.network.split("+")) > 2:
                rows.append(_named(row, row.network, size))
    return SizedHoa(LossTable(tuple(rows), f"HOA by size({table.source})"), extrapolated)


def _at_size(cost: SizedCost, size: float, tasks: tuple[str, ...]) -> float:
    return cost(tasks, size)


def sizes_without_pairs(table: LossTable, sizes: Sequence[float]) -> list[float]:
    """The sizes of ``sizes`` at which the table lacks some pair of its tasks: HOA predicts
    them from the size-1 pairs (an extrapolation, which the estimate says)."""
    by_size = _by_size(table)
    return [s for s in sizes if _missing_pairs(by_size.get(s, []), table.tasks)]


def _by_size(table: LossTable) -> dict[float, list[LossRow]]:
    by_size: dict[float, list[LossRow]] = {}
    for row in table.rows:
        by_size.setdefault(parse_candidate(row.network).size, []).append(row)
    return by_size


def _named(row: LossRow, network: str, size: float | None) -> LossRow:
    """``row`` as the network of ``network``'s tasks at ``size`` (``None``: the tasks alone,
    ``a+b``), under its canonical name (``a`` at 0.5 → ``a/2``)."""
    tasks = tuple(parse_candidate(network).tasks)
    name = "+".join(tasks) if size is None else Candidate(tasks, size).name
    return LossRow(name, row.cost, row.task, row.loss)


def _missing_pairs(rows: Sequence[LossRow], tasks: Sequence[str]) -> list[str]:
    carried: dict[str, set[str]] = {}
    for row in rows:
        carried.setdefault(row.network, set()).add(row.task)
    pairs = {frozenset(found) for found in carried.values() if len(found) == 2}
    return [f"{t}+{u}" for t, u in itertools.combinations(tasks, 2)
            if frozenset((t, u)) not in pairs]
