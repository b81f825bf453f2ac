"""``mtlgroup benchmark``: update strategies and a chosen grouping against single-task
networks, by Δm over seeds (see docs/benchmark.md and :mod:`mtlgroup.benchmark`)."""

from __future__ import annotations

from pathlib import Path

import typer

from mtlgroup.cli.app import UsageError, app, run_command
from mtlgroup.cli.options import (
    ADDRESS,
    BATCH_SIZE,
    CONFIG,
    DATA_OPTION,
    DATA_SEED,
    DATASET,
    DEVICE,
    EPOCHS,
    EXECUTOR,
    IMAGE_SIZE,
    KEEP_WEIGHTS,
    LR,
    MAX_STEPS,
    MODEL,
    MODEL_OPTION,
    N_TEST,
    N_TRAIN,
    N_VAL,
    OPTIMIZER,
    PATIENCE,
    PROGRESS,
    SCHEDULE,
    TASKS,
    THREADS,
    WORKERS,
    load_settings,
    overrides,
    study_out,
)


def parse_seeds(text: str | None) -> int | list[int] | None:
    """``--seeds 3`` (seeds 0, 1, 2) or ``--seeds 0,5,7`` (those).

    >>> parse_seeds("3"), parse_seeds("0, 5,7"), parse_seeds(None)
    (3, [0, 5, 7], None)
    """
    if text is None:
        return None
    try:
        if "," not in text:
            return int(text)
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"bad --seeds {text!r}: expected a count such as 3 or a list such "
                         "as 0,1,2") from None


@app.command("benchmark")
def benchmark_command(
    config: Path | None = CONFIG,
    dataset: str | None = DATASET,
    data: list[str] | None = DATA_OPTION,
    tasks: str | None = TASKS,
    model: str | None = MODEL,
    model_option: list[str] | None = MODEL_OPTION,
    strategies: str | None = typer.Option(
        None, "--strategies", "-s",
        help="Update strategies of the all-task network, comma-separated, e.g. "
        "joint,uw,gradnorm,pcgrad,mgda,cagrad,nashmtl,upgrad,famo,stgu (`mtlgroup strategies` "
        "lists them; options as NAME:KEY=VALUE, e.g. cagrad:c=0.4). Default: joint.",
    ),
    seeds: str | None = typer.Option(
        None, "--seeds", help="How many seeds (3: seeds 0, 1, 2; the default) or which "
        "(0,5,7). Every network is trained at each; Δm is given as mean ± std over them."),
    grouping: str | None = typer.Option(
        None, "--grouping", help="Affinity method whose one joint run (first seed) chooses "
        "the grouping row: tag (default), cs, or none (no grouping row)."),
    max_groups: int | None = typer.Option(
        None, "--max-groups", min=2, help="The grouping's most groups (default 2); its "
        "networks are scaled to cost the all-task network's inference budget."),
    grouping_every: int | None = typer.Option(
        None, "--grouping-every", min=1, help="Probe period of the grouping's affinity run "
        "(steps, default 10)."),
    metric: str | None = typer.Option(
        None, "--metric", help="Which metric of each task Δm compares: metric (each task's "
        "headline metric, default), loss, or a metric name."),
    benchmark_size: float | None = typer.Option(
        None, "--size", help="Encoder size of the single-task and all-task networks "
        "(default 1: standard networks)."),
    executor: str | None = EXECUTOR,
    workers: int | None = WORKERS,
    threads: int | None = THREADS,
    address: str | None = ADDRESS,
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Directory for study.sqlite, benchmark.{json,csv,md} and "
        "delta_m.png; a rerun into it resumes."),
    keep_weights: str | None = KEEP_WEIGHTS,
    progress: bool | None = PROGRESS,
    epochs: int | None = EPOCHS,
    max_steps: int | None = MAX_STEPS,
    batch_size: int | None = BATCH_SIZE,
    lr: float | None = LR,
    optimizer: str | None = OPTIMIZER,
    schedule: str | None = SCHEDULE,
    patience: int | None = PATIENCE,
    device: str | None = DEVICE,
    n_train: int | None = N_TRAIN,
    n_val: int | None = N_VAL,
    n_test: int | None = N_TEST,
    image_size: int | None = IMAGE_SIZE,
    data_seed: int | None = DATA_SEED,
) -> None:
    """Benchmark update strategies against single-task networks and a chosen grouping.

    On one dataset and task set it trains, at every seed and with one training budget: the
    single-task networks, the all-task network under each strategy, and the networks of the
    grouping an affinity run chooses at the all-task network's inference cost (each task
    served by its network with the lowest validation loss). All are jobs of one study store
    (OUT/study.sqlite): a killed benchmark resumes, a rerun trains nothing that finished.

    It prints and writes (OUT/benchmark.json, .csv, .md, OUT/delta_m.png) one row per
    method: Δm in percent against the single-task networks (ALGORITHMS §6, positive =
    better; mean ± std over seeds), each task's test metric, the batches and optimizer steps
    the method took (STGU takes one optimizer step per task group and batch), its inference
    cost and its training time. See docs/benchmark.md.
    """
    flags = dict(locals())

    def body() -> None:
        flags["seeds"] = parse_seeds(seeds)  # here: a bad value is one line, exit code 2
        from mtlgroup.benchmark import run_benchmark
        from mtlgroup.study import StoreError
        from mtlgroup.study.executors import ExecutorUnavailable, create_executor

        settings = load_settings(config, overrides(flags, data), model_option)
        out = study_out(settings)
        spec = settings.benchmark
        try:
            runner = create_executor(settings.study.executor,
                                     **settings.study.executor_options())
            run_benchmark(
                settings.data.dataset, settings.data.task_names(), spec.strategies,
                spec.seed_list(), out, data_options=settings.data.loader_options(),
                train_config=settings.training.to_train_config(), model=settings.model,
                device=settings.training.device, executor=runner, grouping=spec.grouping,
                max_groups=spec.max_groups,
                grouping_options={"every": spec.grouping_every}, metric=spec.metric,
                size=spec.size, keep_weights=settings.study.keep_weights, progress=progress,
                echo=typer.echo,
            )
        except (StoreError, ExecutorUnavailable, ConnectionError) as error:
            raise UsageError(str(error)) from None

    run_command(body)
