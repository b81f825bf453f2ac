"""Loss tables: what each network achieves on each task of one split (DESIGN "Loss table CSV").

CSV header ``network,cost,task,loss`` (other columns are ignored), one row per (network, task).
``cost`` is the network's inference cost in budget units, ``loss`` lower is better: any finite
number, negative ones included (a selection's choice does not change when a task's losses are
shifted by a constant; see docs/selection.md, "File formats"). Full networks
are named by their tasks joined with ``+`` (``semseg+depth``), half-size single-task networks
``normals/2``. One file per split (val, test, early).

Every problem found in a table is reported with its place (file and line, or row number) and
as a :class:`TableError` (a ``ValueError``).

Example:
    >>> table = LossTable.from_rows([
    ...     ("a", 1.0, "a", 0.3), ("b", 1.0, "b", 0.5),
    ...     ("a+b", 1.0, "a", 0.35), ("a+b", 1.0, "b", 0.4)])
    >>> table.tasks, table.networks
    (('a', 'b'), ('a', 'b', 'a+b'))
    >>> table.losses("a+b")
    {'a': 0.35, 'b': 0.4}
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlgroup.textfiles import read_text

COLUMNS = ("network", "cost", "task", "loss")


class TableError(ValueError):
    """A loss table that cannot be read: the message names the file (or source) and line."""


@dataclass(frozen=True)
class LossRow:
    """One (network, task) entry of a loss table."""

    network: str
    cost: float
    task: str
    loss: float


@dataclass(frozen=True)
class LossTable:
    """A validated loss table: each network has one cost (``>= 0``) and at most one finite loss
    per task. Build it with :func:`read_loss_table`, :meth:`from_rows` or :meth:`from_losses`.

    Attributes:
        rows: the rows, in input order.
        source: where they came from (a path, or a description), used in messages.
    """

    rows: tuple[LossRow, ...]
    source: str = "<rows>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        _validate(self.rows, lambda i: f"{self.source}, row {i + 1}", self.source)

    @classmethod
    def from_rows(cls, rows: Iterable[LossRow | Sequence[Any] | Mapping[str, Any]],
                  source: str = "<rows>") -> LossTable:
        """From ``LossRow`` objects, ``(network, cost, task, loss)`` tuples or mappings with
        those keys (e.g. rows exported from a study's store)."""
        return _parse(((i + 1, row) for i, row in enumerate(rows)), source,
                      lambda number: f"{source}, row {number}")

    @classmethod
    def from_losses(cls, losses: Mapping[str, Mapping[str, float]], costs: Mapping[str, float],
                    source: str = "<losses>") -> LossTable:
        """From ``{network: {task: loss}}`` and ``{network: cost}`` (a study's store's view)."""
        missing = [n for n in losses if n not in costs]
        if missing:
            raise TableError(f"{source}: no cost for network(s) {', '.join(missing)}")
        return cls.from_rows(
            [(network, costs[network], task, loss)
             for network, per_task in losses.items() for task, loss in per_task.items()],
            source,
        )

    @property
    def networks(self) -> tuple[str, ...]:
        """Network names in order of first appearance."""
        return tuple(dict.fromkeys(r.network for r in self.rows))

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names in order of first appearance."""
        return tuple(dict.fromkeys(r.task for r in self.rows))

    def cost(self, network: str) -> float:
        for row in self.rows:
            if row.network == network:
                return row.cost
        raise KeyError(f"network {network!r} is not in {self.source}")

    def losses(self, network: str) -> dict[str, float]:
        """``{task: loss}`` of ``network``, in row order."""
        found = {r.task: r.loss for r in self.rows if r.network == network}
        if not found:
            raise KeyError(f"network {network!r} is not in {self.source}")
        return found

    def by_network(self) -> dict[str, tuple[float, dict[str, float]]]:
        """``{network: (cost, {task: loss})}`` in order of first appearance."""
        grouped: dict[str, tuple[float, dict[str, float]]] = {}
        for row in self.rows:
            grouped.setdefault(row.network, (row.cost, {}))[1][row.task] = row.loss
        return grouped

    def write_csv(self, path: str | Path) -> Path:
        """Write the table as a loss-table CSV (values in full precision), atomically: a reader
        (or a rerun after a kill) never sees half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows((r.network, repr(r.cost), r.task, repr(r.loss)) for r in self.rows)
        tmp.replace(path)
        return path


def read_loss_table(path: str | Path) -> LossTable:
    """Read and validate a loss-table CSV.

    Raises:
        FileNotFoundError: no such file.
        TableError: a directory or a binary file, a missing column, a short row, a
            non-numeric or non-finite cost or loss, a negative cost, a network listed with two
            costs, a (network, task) listed twice.
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path, "loss table", TableError), newline=""))
    header = next(reader, None)
    if header is None:
        raise TableError(f"{path}: empty file; expected a header {','.join(COLUMNS)}")
    names = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise TableError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(header must name {','.join(COLUMNS)}; found {','.join(names)})")
    position = {c: names.index(c) for c in COLUMNS}
    numbered = []
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) < len(names):
            raise TableError(f"{path}, line {line}: {len(cells)} fields, "
                             f"expected {len(names)} ({','.join(names)})")
        numbered.append((line, {c: cells[position[c]] for c in COLUMNS}))
    return _parse(numbered, str(path), lambda line: f"{path}, line {line}")


def _parse(numbered: Iterable[tuple[int, Any]], source: str,
           where: Callable[[int], str]) -> LossTable:
    """Convert raw rows to a :class:`LossTable`, naming the place of the first bad value."""
    rows: list[LossRow] = []
    places: list[str] = []
    for number, raw in numbered:
        place = where(number)
        network, cost, task, loss = _fields(raw, place)
        rows.append(LossRow(_name(network, "network", place), _number(cost, "cost", place),
                            _name(task, "task", place), _number(loss, "loss", place)))
        places.append(place)
    _validate(rows, places.__getitem__, source)  # first, so that messages name the line
    return LossTable(tuple(rows), source)


def _fields(raw: Any, place: str) -> tuple[Any, Any, Any, Any]:
    if isinstance(raw, LossRow):
        return raw.network, raw.cost, raw.task, raw.loss
    if isinstance(raw, Mapping):
        missing = [c for c in COLUMNS if c not in raw]
        if missing:
            raise TableError(f"{place}: missing field(s) {', '.join(missing)}")
        return raw["network"], raw["cost"], raw["task"], raw["loss"]
    if isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) == 4:
        return raw[0], raw[1], raw[2], raw[3]
    raise TableError(f"{place}: expected (network, cost, task, loss), got {raw!r}")


def _name(value: Any, field: str, place: str) -> str:
    text = str(value).strip()
    if not text:
        raise TableError(f"{place}: empty {field} name")
    return text


def _number(value: Any, field: str, place: str) -> float:
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise TableError(f"{place}: {field} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise TableError(f"{place}: {field} is {value!r}; expected a finite number")
    return number


def _validate(rows: Sequence[LossRow], place: Callable[[int], str], source: str) -> None:
    if not rows:
        raise TableError(f"{source}: the table has no rows")
    cost_of: dict[str, tuple[float, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        if not (math.isfinite(row.cost) and math.isfinite(row.loss)):
            raise TableError(f"{place(i)}: cost and loss must be finite numbers")
        if row.cost < 0:
            raise TableError(f"{place(i)}: negative cost {row.cost:g} for network {row.network!r}")
        first = cost_of.setdefault(row.network, (row.cost, i))
        if first[0] != row.cost:
            raise TableError(f"{place(i)}: network {row.network!r} has cost {row.cost:g} here but "
                             f"{first[0]:g} at {place(first[1])}")
        key = (row.network, row.task)
        if key in seen:
            raise TableError(f"{place(i)}: network {row.network!r} lists task {row.task!r} twice "
                             f"(first at {place(seen[key])})")
        seen[key] = i
