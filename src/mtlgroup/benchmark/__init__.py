"""Benchmarks: update strategies and a chosen grouping against single-task networks, by Δm.

On one dataset and task set, :func:`run_benchmark` trains the single-task networks, the
all-task network under each update strategy (joint sum, UW, PCGrad, …, STGU) and the networks
of the grouping an affinity estimate chooses at the all-task network's inference cost, each at
several seeds and with one training budget, in one resumable study; its
:class:`BenchmarkTable` gives Δm (ALGORITHMS §6) with its spread over seeds, each task's
metric, the batches and optimizer steps each method took, its inference cost and its wall
time. ``mtlgroup benchmark`` is the command line (docs/benchmark.md).
"""

from mtlgroup.benchmark.plan import BenchmarkPlan, Method, grouping_networks, strategy_label
from mtlgroup.benchmark.plot import plot_delta_m
from mtlgroup.benchmark.run import run_benchmark
from mtlgroup.benchmark.table import BenchmarkRow, BenchmarkTable, Trained, build_table

__all__ = [
    "BenchmarkPlan",
    "BenchmarkRow",
    "BenchmarkTable",
    "Method",
    "Trained",
    "build_table",
    "grouping_networks",
    "plot_delta_m",
    "run_benchmark",
    "strategy_label",
]
