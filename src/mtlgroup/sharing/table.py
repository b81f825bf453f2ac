"""The table of a sharing run: independent ViTs, the multi-task ViT, the shared model per level.

One :class:`SharingRow` per model that serves every task: its test loss and metrics per task,
Δm against the independent single-task ViTs (ALGORITHMS §6, positive = better), its forward
FLOPs per image (counted: FlopCounterMode for dense networks, the actual non-zeros of each
input for the shared model), its stored parameters (the shared model: the base, the non-zero
deltas and their indices) and its measured CPU latency on one batch. The ``*_ratio`` columns
divide by the independent networks' value, so 1 means "as costly as one single-task ViT per
task".

Example:
    >>> from mtlgroup.delta_m import TaskMetric
    >>> metrics = {"a": TaskMetric("a", "accuracy", False)}
    >>> rows = [SharingRow("independent", "independent", {"a": {"loss": 1.0, "accuracy": 0.5}},
    ...                    flops=100.0, params=10, latency_s=0.02),
    ...         SharingRow("shared d=0.05 s=0.9", "shared", {"a": {"loss": 0.9, "accuracy": 0.55}},
    ...                    flops=60.0, params=6, latency_s=0.015)]
    >>> table = SharingTable(rows, metrics)
    >>> row = table.row("shared d=0.05 s=0.9")
    >>> round(table.ratio(row, "flops"), 2), round(table.delta_m(row), 2)
    (0.6, 10.0)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mtlgroup.delta_m import TaskMetric, delta_m_of_scores

RowKind = Literal["independent", "multi-task", "shared"]
INDEPENDENT = "independent"
Scores = dict[str, dict[str, float]]


@dataclass
class SharingRow:
    """One model of the table (see the module's docstring).

    Attributes:
        label: the method column (``independent``, ``multi-task@1.31``, ``shared d=0.05 s=0.9``).
        kind: ``independent``, ``multi-task`` or ``shared``.
        test: ``{task: {"loss": ..., metric: ...}}`` on the test split.
        flops: forward FLOPs of one image (multiply-add = 2), every task's output.
        params: parameters stored to serve every task.
        latency_s: median seconds of one forward of the latency batch (CPU).
        flops_per_task: FLOPs of each task's own computation (the shared model: the base task
            is the base network, a sub-task its sparse layers and decoder).
        weight_density, activation_sparsity: the shared model's level (``None`` otherwise).
        size: the encoder size of a dense network (multi-task: the size at equal FLOPs).
        extra: anything else measured (the shared model's dense-equivalent FLOPs, parameter
            breakdown, the measured activation sparsity).
    """

    label: str
    kind: RowKind
    test: Scores
    flops: float
    params: int
    latency_s: float | None = None
    flops_per_task: dict[str, float] = field(default_factory=dict)
    weight_density: float | None = None
    activation_sparsity: float | None = None
    size: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SharingTable:
    """The rows (the first one of kind ``independent`` is the reference of every ratio and of
    Δm) and each task's headline metric."""

    rows: list[SharingRow]
    metrics: dict[str, TaskMetric]

    def row(self, label: str) -> SharingRow:
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(f"no row {label!r} in the table; it has: "
                       f"{', '.join(r.label for r in self.rows)}")

    @property
    def reference(self) -> SharingRow:
        return next(r for r in self.rows if r.kind == INDEPENDENT)

    def ratio(self, row: SharingRow, what: Literal["flops", "params", "latency_s"]
              ) -> float | None:
        """``row``'s ``what`` over the independent networks' (``None`` if not measured)."""
        mine, theirs = getattr(row, what), getattr(self.reference, what)
        return None if mine is None or not theirs else float(mine) / float(theirs)

    def delta_m(self, row: SharingRow) -> float:
        """Δm (percent, positive = better) of ``row`` against the independent networks."""
        return delta_m_of_scores(row.test, self.reference.test, self.metrics).overall

    # -- output -----------------------------------------------------------------------------

    def columns(self) -> list[str]:
        arrows = {t: "↓" if m.lower_is_better else "↑" for t, m in self.metrics.items()}
        return ["method", "Δm %", *(f"{t} {m.name} {arrows[t]}" for t, m in self.metrics.items()),
                "total loss", "FLOPs ×", "params ×", "latency ×"]

    def cells(self, row: SharingRow) -> list[str]:
        def fmt(value: float | None, digits: str = ".3f") -> str:
            return "n/a" if value is None else format(value, digits)

        total = sum(row.test[t]["loss"] for t in self.metrics)
        return [row.label, f"{self.delta_m(row):+.2f}",
                *(f"{row.test[t][m.name]:.4g}" for t, m in self.metrics.items()),
                f"{total:.4g}", fmt(self.ratio(row, "flops")), fmt(self.ratio(row, "params")),
                fmt(self.ratio(row, "latency_s"))]

    def format(self) -> str:
        """The table for a terminal or a log, then what its columns mean."""
        reference = self.reference
        lines = aligned([self.columns(), *(self.cells(r) for r in self.rows)])
        lines.append(
            f"Δm: percent against the independent ViTs on each task's test metric (positive = "
            f"better); ↓ lower / ↑ higher is better. ×: ratio to the independent ViTs "
            f"({reference.flops / 1e6:.2f} MFLOPs per image counted, {reference.params:,} "
            f"parameters, {1e3 * (reference.latency_s or 0):.1f} ms per batch measured on CPU).")
        return "\n".join(lines)

    def csv(self) -> str:
        """One line per model: every task's loss and metrics, the costs and their ratios."""
        names = {t: [k for k in self.reference.test[t]] for t in self.metrics}
        header = ["method", "kind", "weight_density", "activation_sparsity", "size", "delta_m",
                  *(f"{t}_{k}" for t, keys in names.items() for k in keys),
                  "flops", "params", "latency_s", "flops_ratio", "params_ratio",
                  "latency_ratio"]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for r in self.rows:
            writer.writerow([r.label, r.kind, r.weight_density, r.activation_sparsity, r.size,
                             self.delta_m(r),
                             *(r.test[t].get(k) for t, keys in names.items() for k in keys),
                             r.flops, r.params, r.latency_s, self.ratio(r, "flops"),
                             self.ratio(r, "params"), self.ratio(r, "latency_s")])
        return buffer.getvalue()

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [{**asdict(r), "delta_m": self.delta_m(r),
                          "flops_ratio": self.ratio(r, "flops"),
                          "params_ratio": self.ratio(r, "params"),
                          "latency_ratio": self.ratio(r, "latency_s")} for r in self.rows],
                "metrics": {t: {"name": m.name, "lower_is_better": m.lower_is_better}
                            for t, m in self.metrics.items()}}


def aligned(grid: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as lines of aligned columns (the first left-aligned, the others right).

    >>> aligned([["a", "10"], ["bcd", "2"]])
    ['a    10', 'bcd   2']
    """
    widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
            for line in grid]


def ranking(scores: Mapping[str, float] | None, higher_is_better: bool = True) -> list[str]:
    """Tasks from the best base candidate to the worst.

    >>> ranking({"a": 0.2, "b": 0.9, "c": 0.5}), ranking({"a": 0.2, "b": 0.9}, False)
    (['b', 'c', 'a'], ['a', 'b'])
    """
    found = dict(scores or {})
    sign = -1.0 if higher_is_better else 1.0
    return sorted(found, key=lambda t: sign * float(found[t]))
