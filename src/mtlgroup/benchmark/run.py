"""Run a benchmark: train every method's networks at every seed in one resumable study, then
build its table and figure (see :mod:`mtlgroup.benchmark.plan` for the methods).

Two rounds of jobs, both in the study store ``OUT/study.sqlite``:

1. the single-task networks and the all-task network under each strategy, at every seed, and
   the one joint training with affinity probes that chooses the grouping (first seed);
2. the grouping's networks at every seed, once the affinity is known.

A rerun of the same benchmark trains nothing that finished (a killed one resumes), and a
benchmark with more seeds or strategies trains only what is new.

Example:
    >>> import tempfile
    >>> table = run_benchmark("synthetic", ["bright", "parity"], ["joint"], seeds=[0, 1],
    ...                       out=tempfile.mkdtemp(), executor="inline", progress=False,
    ...                       data_options={"n_train": 32, "n_val": 16, "n_test": 16, "size": 8},
    ...                       train_config={"max_steps": 2, "batch_size": 16},
    ...                       grouping=None, echo=lambda line: None)
    >>> [row.method for row in table.rows], table.row("single-task").seeds
    (['single-task', 'joint'], [0, 1])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mtlgroup.benchmark.plan import (
    GROUPING,
    SINGLE_TASK,
    BenchmarkPlan,
    Method,
    grouping_networks,
)
from mtlgroup.benchmark.table import BenchmarkTable, Trained, build_table
from mtlgroup.delta_m import MetricChoice, task_metrics
from mtlgroup.study import Candidate, Executor, JobSpec, Study, create_executor
from mtlgroup.study.jobs import make_strategy
from mtlgroup.study.weights import KeepWeights


def check_strategies(methods: Sequence[Method]) -> None:
    """Create each strategy once before anything trains: an unknown name is the registry's
    error (it lists the valid names), a strategy whose extra is missing says how to install
    it (:class:`~mtlgroup.study.jobs.StrategyUnavailable`)."""
    for method in methods:
        try:
            make_strategy(method.strategy)
        except TypeError as error:  # an option the strategy does not take
            raise ValueError(f"strategy {method.label}: {error}") from None


def run_benchmark(
    dataset: str,
    tasks: Sequence[str] | None,
    strategies: Sequence[str | Mapping[str, Any]],
    seeds: Sequence[int] = (0, 1, 2),
    out: str | Path = "benchmark",
    *,
    data_options: Mapping[str, Any] | None = None,
    train_config: Any = None,
    model: Any = None,
    device: str = "auto",
    executor: Executor | str | None = None,
    grouping: str | None = "tag",
    max_groups: int = 2,
    grouping_options: Mapping[str, Any] | None = None,
    metric: MetricChoice = "metric",
    size: float = 1.0,
    keep_weights: KeepWeights = "all",
    progress: bool | None = None,
    echo: Callable[[str], None] = print,
) -> BenchmarkTable:
    """Train the benchmark's networks (resumably, in ``OUT/study.sqlite``), write
    ``OUT/benchmark.{json,csv,md}`` and ``OUT/delta_m.png``, and return the table.

    Args:
        dataset, data_options, tasks, model, device: as for :class:`~mtlgroup.study.Study`
            (``tasks=None``: every task of the dataset).
        strategies: the all-task network's update strategies, each a name (``"pcgrad"``) or
            ``{"name": ..., "options": {...}}``; ``"joint"`` is the plain sum of losses.
        seeds: the seeds every network is trained with (weights and data order).
        train_config: one :class:`~mtlgroup.training.TrainConfig` (or a dict of its fields)
            for every network: every method gets the same training budget.
        executor: an executor or its name (default ``local``), used for both rounds.
        grouping: the affinity method that chooses the grouping (``tag``, ``cs``), from one
            joint training at the first seed; ``None``: no grouping row. ``max_groups``: the
            most groups; ``grouping_options``: the method's options (``{"every": 10}``).
        metric: which metric of each task Δm compares (:func:`mtlgroup.delta_m.task_metric`).
        size: the encoder size of the single-task and all-task networks (1: standard).
    """
    out = Path(out)
    with Study(out / "study.sqlite", dataset, data_options, tasks, train_config,
               seed=seeds[0] if seeds else 0, device=device, model=model,
               keep_weights=keep_weights) as study:
        plan = BenchmarkPlan(study.tasks, tuple(strategies), tuple(seeds), grouping, max_groups,
                             dict(grouping_options or {}), size)
        methods = plan.methods()
        check_strategies(methods)
        metrics = task_metrics(study.dataset_tasks, study.tasks, metric)
        runner = executor if isinstance(executor, Executor) else create_executor(
            executor or "local")
        with runner:
            first = _first_round(study, plan, methods)
            echo(f"benchmark on {dataset} ({', '.join(study.tasks)}): {len(methods)} methods x "
                 f"{len(plan.seeds)} seeds; round 1: {len(_flat(first))} jobs "
                 f"({runner.describe()}, store {study.store.path})")
            _report(study.run(runner, progress, specs=_flat(first)), echo)
            costs = _cost_model(study)
            notes: dict[str, str] = {}
            if plan.grouping is not None:
                networks, notes[GROUPING] = _grouping(study, plan, first, costs)
                first[GROUPING] = {s: [_spec(study, c, s) for c in networks] for s in plan.seeds}
                echo(f"round 2: the grouping {', '.join(c.name for c in networks)} at "
                     f"{len(plan.seeds)} seeds")
                _report(study.run(runner, progress, specs=_flat({GROUPING: first[GROUPING]})),
                        echo)
        runs = {label: {seed: _trained(study, specs, costs.reference_flops)
                        for seed, specs in by_seed.items()}
                for label, by_seed in first.items() if label != _AFFINITY}
        table = build_table([m.label for m in methods], runs, metrics,
                            _settings(study, plan, metric), notes)
    paths = table.write(out)
    from mtlgroup.benchmark.plot import plot_delta_m

    figure = plot_delta_m(table, out / "delta_m.png", f"{dataset} ({', '.join(plan.tasks)})")
    echo(table.format())
    echo(f"wrote {', '.join(str(p) for p in [*paths.values(), figure])}")
    return table


_AFFINITY = "_affinity"
"""The round-one entry of the affinity job (no method of the table)."""

Specs = dict[str, dict[int, list[JobSpec]]]


def _spec(study: Study, candidate: Candidate, seed: int,
          strategy: Mapping[str, Any] | None = None,
          affinity: Mapping[str, Any] | None = None) -> JobSpec:
    """The study's job of ``candidate`` at ``seed`` under ``strategy``: the same setting but
    for the seed and the strategy, both of which are part of the setting's hash."""
    return dataclasses.replace(study.spec(candidate, affinity), seed=int(seed),
                               strategy=None if strategy is None else dict(strategy))


def _first_round(study: Study, plan: BenchmarkPlan, methods: Sequence[Method]) -> Specs:
    specs: Specs = {}
    for method in methods:
        if method.kind == "single-task":
            specs[method.label] = {s: [_spec(study, c, s) for c in plan.single_networks()]
                                   for s in plan.seeds}
        elif method.kind == "strategy":
            specs[method.label] = {s: [_spec(study, plan.all_task_network(), s, method.strategy)]
                                   for s in plan.seeds}
    affinity = plan.affinity_request()
    if affinity is not None:
        seed = plan.seeds[0]
        specs[_AFFINITY] = {seed: [_spec(study, plan.all_task_network(), seed,
                                         affinity=affinity)]}
    return specs


def _flat(specs: Specs) -> list[JobSpec]:
    return list(dict.fromkeys(s for by_seed in specs.values() for found in by_seed.values()
                              for s in found))


def _report(summary: Any, echo: Callable[[str], None]) -> None:
    echo(summary.format())


def _cost_model(study: Study) -> Any:
    from mtlgroup.cost import CostModel
    from mtlgroup.data.registry import cached_dataset

    data = cached_dataset(study.dataset, study.data_options)[0]
    return CostModel(study.dataset_tasks.subset(study.tasks), data.input_shape, study.model)


def _grouping(study: Study, plan: BenchmarkPlan, first: Specs, costs: Any
              ) -> tuple[list[Candidate], str]:
    """The grouping's networks and the note that says how they were chosen."""
    from mtlgroup.errors import RunFailure
    from mtlgroup.study.jobs import outcome_affinity

    (spec,) = next(iter(first[_AFFINITY].values()))
    record = study.store.job(spec.key)
    if record.outcome is None:
        raise RunFailure(f"the joint {plan.grouping} training that chooses the grouping "
                         f"failed: {record.error}")
    budget = costs.cost(plan.tasks, plan.size)
    networks = grouping_networks(outcome_affinity(record.outcome), budget, costs,
                                 plan.max_groups, size=plan.size)
    return networks, (f"{plan.grouping} affinity (one joint run, seed {plan.seeds[0]}), at "
                      f"most {plan.max_groups} groups, scaled to the all-task network's cost "
                      f"{budget:.3f}")


def _trained(study: Study, specs: Sequence[JobSpec], reference_flops: float) -> list[Trained]:
    """The finished networks of ``specs`` (a failed one is left out)."""
    records = study.store.jobs("done", keys=[s.key for s in specs])
    found = []
    for record in records:
        outcome = record.outcome
        if outcome is None:
            continue
        # Counters recorded since budgets name their unit; older outcomes counted batches
        # as ``steps`` (one optimizer step per batch for a joint step).
        batches = int(getattr(outcome, "batches", 0) or outcome.steps)
        steps = int(getattr(outcome, "optimizer_steps", 0) or outcome.steps)
        found.append(Trained(outcome.network, outcome.scores["val"], outcome.scores["test"],
                             outcome.flops / reference_flops, batches, steps,
                             float(outcome.wall_time)))
    return found


def _settings(study: Study, plan: BenchmarkPlan, metric: MetricChoice) -> dict[str, Any]:
    """What the table was measured on (saved in ``benchmark.json``)."""
    return {"dataset": study.dataset, "data_options": study.data_options,
            "tasks": list(study.tasks), "model": study.model.describe(),
            "training": study.train_config, "seeds": list(plan.seeds),
            "strategies": [m.strategy or {"name": "joint", "options": {}}
                           for m in plan.methods() if m.kind == "strategy"],
            "grouping": plan.grouping, "max_groups": plan.max_groups,
            "grouping_options": dict(plan.grouping_options), "size": plan.size,
            "metric": metric if isinstance(metric, str) else dict(metric),
            "reference": SINGLE_TASK}
