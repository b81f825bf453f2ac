"""The benchmark's table: one row per method, Δm over seeds, what each method cost.

:func:`build_table` turns the trained networks of every (method, seed) into a
:class:`BenchmarkTable`; the table prints itself (:meth:`BenchmarkTable.format`) and writes
JSON, CSV and Markdown (:meth:`BenchmarkTable.write`).

Columns (docs/benchmark.md): Δm (mean ± sample standard deviation over seeds; percent against
the single-task networks, positive = better, ALGORITHMS §6), each task's test metric (mean over
seeds), the training the method took (batches and optimizer steps, summed over its networks and
averaged over seeds), its inference cost (standard networks, ALGORITHMS §7) and its training
wall time (seconds, summed over its networks, averaged over seeds).

Example:
    >>> from mtlgroup.delta_m import TaskMetric
    >>> metrics = {"a": TaskMetric("a", "loss", True)}
    >>> runs = {"single-task": {0: [Trained("a", {"a": {"loss": 1.0}}, {"a": {"loss": 1.0}},
    ...                                     1.0, 10, 10, 2.0)]},
    ...         "joint": {0: [Trained("a", {"a": {"loss": 0.9}}, {"a": {"loss": 0.8}},
    ...                               1.0, 10, 10, 1.0)]}}
    >>> table = build_table(["single-task", "joint"], runs, metrics)
    >>> [(r.method, round(r.delta_m, 3)) for r in table.rows]
    [('single-task', 0.0), ('joint', 20.0)]
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mtlgroup.benchmark.plan import SINGLE_TASK
from mtlgroup.delta_m import TaskMetric, delta_m, metric_values

Scores = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Trained:
    """One trained network of a method at one seed: its name, validation and test scores
    (``{task: {"loss": ..., metric: ...}}``), inference cost, batches, optimizer steps and
    training wall time (seconds)."""

    network: str
    val: Scores
    test: Scores
    cost: float
    batches: int
    optimizer_steps: int
    wall_seconds: float


def served_scores(networks: Sequence[Trained], tasks: Sequence[str]) -> Scores:
    """Each task's test scores from the network that serves it: of the networks carrying the
    task, the one with the lowest *validation* loss (ALGORITHMS §1, §6: chosen on validation
    only). A task no network carries is missing from the result."""
    served: Scores = {}
    for task in tasks:
        carrying = [n for n in networks if task in n.val and task in n.test]
        if carrying:
            best = min(carrying, key=lambda n: n.val[task]["loss"])
            served[task] = dict(best.test[task])
    return served


def _spread(values: Sequence[float]) -> float:
    """Sample standard deviation (0 for one value: no spread measured)."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class BenchmarkRow:
    """One method's results over seeds (see the module's docstring for the columns)."""

    method: str
    seeds: list[int]
    delta_m: float | None
    delta_m_std: float | None
    delta_m_per_seed: dict[int, float]
    delta_m_per_task: dict[str, float]
    metrics: dict[str, float]
    metrics_std: dict[str, float]
    batches: float
    optimizer_steps: float
    cost: float
    wall_seconds: float
    networks: list[str] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["delta_m_per_seed"] = {str(s): v for s, v in self.delta_m_per_seed.items()}
        return data


@dataclass
class BenchmarkTable:
    """The benchmark's rows, the metric of each task and what was run (``settings``)."""

    rows: list[BenchmarkRow]
    metrics: dict[str, TaskMetric]
    settings: dict[str, Any] = field(default_factory=dict)

    def row(self, method: str) -> BenchmarkRow:
        for row in self.rows:
            if row.method == method:
                return row
        raise KeyError(f"no method {method!r} in the table; it has: "
                       f"{', '.join(r.method for r in self.rows)}")

    def columns(self) -> list[str]:
        arrows = {t: "↓" if m.lower_is_better else "↑" for t, m in self.metrics.items()}
        return ["method", "Δm % (mean ± std)",
                *(f"{t} {m.name} {arrows[t]}" for t, m in self.metrics.items()),
                "batches", "optimizer steps", "inference cost", "wall time (s)", "seeds"]

    def cells(self, row: BenchmarkRow) -> list[str]:
        """The row as text, in :meth:`columns`' order."""
        delta = ("n/a" if row.delta_m is None
                 else f"{row.delta_m:+.2f} ± {row.delta_m_std or 0.0:.2f}")
        metrics = [f"{row.metrics[t]:.4g}" if t in row.metrics else "n/a" for t in self.metrics]
        return [row.method, delta, *metrics, f"{row.batches:.0f}", f"{row.optimizer_steps:.0f}",
                f"{row.cost:.3f}", f"{row.wall_seconds:.1f}", str(len(row.seeds))]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict() for r in self.rows],
                "metrics": {t: {"name": m.name, "lower_is_better": m.lower_is_better}
                            for t, m in self.metrics.items()},
                "settings": self.settings}

    def markdown(self) -> str:
        """The table as GitHub Markdown (what docs/RESULTS.md takes)."""
        lines = ["| " + " | ".join(self.columns()) + " |",
                 "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns())))
                 + "|"]
        lines += ["| " + " | ".join(self.cells(r)) + " |" for r in self.rows]
        notes = [f"- {r.method}: {r.note}" for r in self.rows if r.note]
        return "\n".join(lines + ([""] + notes if notes else [])) + "\n"

    def csv(self) -> str:
        """One line per method: Δm mean, std, per seed, each task's metric mean and std."""
        seeds = sorted({s for r in self.rows for s in r.delta_m_per_seed})
        header = ["method", "delta_m", "delta_m_std",
                  *(f"delta_m_seed{s}" for s in seeds),
                  *(f"{t}_{m.name}" for t, m in self.metrics.items()),
                  *(f"{t}_{m.name}_std" for t, m in self.metrics.items()),
                  *(f"{t}_delta_m" for t in self.metrics),
                  "batches", "optimizer_steps", "cost", "wall_seconds", "seeds", "networks",
                  "note"]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for r in self.rows:
            writer.writerow([
                r.method, r.delta_m, r.delta_m_std, *(r.delta_m_per_seed.get(s) for s in seeds),
                *(r.metrics.get(t) for t in self.metrics),
                *(r.metrics_std.get(t) for t in self.metrics),
                *(r.delta_m_per_task.get(t) for t in self.metrics),
                r.batches, r.optimizer_steps, r.cost, r.wall_seconds, len(r.seeds),
                " ".join(r.networks), r.note])
        return buffer.getvalue()

    def format(self) -> str:
        """The table for a terminal or a log: aligned columns, then the metrics' directions."""
        grid = [self.columns(), *(self.cells(r) for r in self.rows)]
        widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]
        text = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                          for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
                for line in grid]
        text.append("Δm: percent against the single-task networks over every task's test metric "
                    "(ALGORITHMS §6), positive = better; ↓ lower is better, ↑ higher is better")
        text += [f"{r.method}: {r.note}" for r in self.rows if r.note]
        return "\n".join(text)

    def write(self, directory: str | Path, stem: str = "benchmark") -> dict[str, Path]:
        """Write ``STEM.json``, ``STEM.csv`` and ``STEM.md`` to ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {kind: directory / f"{stem}.{kind}" for kind in ("json", "csv", "md")}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        paths["csv"].write_text(self.csv())
        paths["md"].write_text(self.markdown())
        return paths


def build_table(
    methods: Sequence[str],
    runs: Mapping[str, Mapping[int, Sequence[Trained]]],
    metrics: Mapping[str, TaskMetric],
    settings: Mapping[str, Any] | None = None,
    notes: Mapping[str, str] | None = None,
) -> BenchmarkTable:
    """The table of ``methods`` (in order) from ``runs[method][seed]``: the networks that
    method trained at that seed (a seed whose networks do not serve every task is left out of
    that method's row, and its note says so).

    The Δm reference is each task's metric of the single-task networks (method
    ``single-task``) averaged over their seeds; Δm of a method is computed per seed against it,
    then its mean and spread are taken over seeds, so the single-task row's own spread shows
    the seed noise.
    """
    tasks = list(metrics)
    values: dict[str, dict[int, dict[str, float]]] = {}
    skipped: dict[str, list[int]] = {}
    for method in methods:
        for seed, networks in sorted(runs.get(method, {}).items()):
            served = served_scores(networks, tasks)
            if len(served) == len(tasks):
                values.setdefault(method, {})[seed] = metric_values(served, metrics)
            else:
                skipped.setdefault(method, []).append(seed)
    singles = values.get(SINGLE_TASK, {})
    reference = ({t: statistics.fmean(v[t] for v in singles.values()) for t in tasks}
                 if singles else None)
    rows = []
    for method in methods:
        found = values.get(method, {})
        per_seed = {}
        per_task: dict[str, list[float]] = {t: [] for t in tasks}
        if reference is not None:
            for seed, seed_values in found.items():
                gain = delta_m(seed_values, reference, metrics)
                per_seed[seed] = gain.overall
                for t in tasks:
                    per_task[t].append(gain.per_task[t])
        trained = [networks for seed, networks in runs.get(method, {}).items() if seed in found]
        note = "; ".join(filter(None, [
            (notes or {}).get(method, ""),
            f"seeds {', '.join(map(str, skipped[method]))} left out: a network failed"
            if method in skipped else "",
            "no single-task reference: Δm not computed" if reference is None else ""]))
        rows.append(BenchmarkRow(
            method=method, seeds=sorted(found),
            delta_m=statistics.fmean(per_seed.values()) if per_seed else None,
            delta_m_std=_spread(list(per_seed.values())) if per_seed else None,
            delta_m_per_seed=per_seed,
            delta_m_per_task={t: statistics.fmean(v) for t, v in per_task.items() if v},
            metrics={t: statistics.fmean(v[t] for v in found.values()) for t in tasks} if found
            else {},
            metrics_std={t: _spread([v[t] for v in found.values()]) for t in tasks} if found
            else {},
            batches=_mean_sum(trained, "batches"),
            optimizer_steps=_mean_sum(trained, "optimizer_steps"),
            cost=_mean_sum(trained, "cost"), wall_seconds=_mean_sum(trained, "wall_seconds"),
            networks=[n.network for n in trained[0]] if trained else [],
            note=note,
        ))
    return BenchmarkTable(rows, dict(metrics), dict(settings or {}))


def _mean_sum(trained: Sequence[Sequence[Trained]], attribute: str) -> float:
    """Over seeds, the mean of the sum over a method's networks of ``attribute``."""
    sums = [sum(float(getattr(n, attribute)) for n in networks) for networks in trained]
    return statistics.fmean(sums) if sums else 0.0
