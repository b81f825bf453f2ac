"""``mtlgroup study``: train every candidate network of a plan, resumably, and write loss tables.

Options come from ``--config study.yaml`` (see :class:`mtlgroup.config.StudyFileConfig`) and
flags; a flag given on the command line wins over the file. Exit codes: 0 when every job is done,
1 when some job failed (after printing the summary), 2 for bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from mtlgroup.cli.app import UsageError, app, run_command, stdout_console
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
    SEED,
    STRATEGY,
    TASKS,
    THREADS,
    TRACK,
    WORKERS,
    check_device,
    check_outputs,
    load_settings,
    overrides,
)

EXIT_FAILED_JOBS = 1
MAX_TABLE_ROWS = 60
"""Beyond this many jobs the per-network table is left out (the CSV tables have it all)."""


@app.command("study")
def study_command(
    config: Path | None = CONFIG,
    dataset: str | None = DATASET,
    data: list[str] | None = DATA_OPTION,
    tasks: str | None = TASKS,
    model: str | None = MODEL,
    model_option: list[str] | None = MODEL_OPTION,
    plan: str | None = typer.Option(
        None, "--plan", help="all (every subset + half-size singles), pairs (for HOA: "
        "n singles, n halves, n(n-1)/2 pairs; 65 jobs for scenes' 10 tasks), esa. The tasks "
        "are --tasks' (default all: every task of the dataset)."
    ),
    networks: str | None = typer.Option(
        None, "--networks",
        help="Networks to train too, e.g. 'semseg+depth,normals/2' (after HOA/ESA selection).",
    ),
    executor: str | None = EXECUTOR,
    workers: int | None = WORKERS,
    threads: int | None = THREADS,
    address: str | None = ADDRESS,
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Directory for study.sqlite and tables/*.csv."),
    cost: str | None = typer.Option(None, "--cost", help="Cost column: flops (default), nominal."),
    retry_failed: bool | None = typer.Option(None, "--retry-failed/--skip-failed",
                                             help="Retry jobs that failed before (default yes)."),
    progress: bool | None = PROGRESS,
    keep_weights: str | None = KEEP_WEIGHTS,
    prune: bool = typer.Option(
        False, "--prune",
        help="Delete the weights of every network OUT no longer needs (a run: all but the "
        "chosen networks and baselines; a study: the ESA short runs); alone, trains nothing.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="With --prune: list what would be deleted, delete nothing."),
    epochs: int | None = EPOCHS,
    max_steps: int | None = MAX_STEPS,
    batch_size: int | None = BATCH_SIZE,
    lr: float | None = LR,
    optimizer: str | None = OPTIMIZER,
    schedule: str | None = SCHEDULE,
    patience: int | None = PATIENCE,
    seed: int | None = SEED,
    device: str | None = DEVICE,
    n_train: int | None = N_TRAIN,
    n_val: int | None = N_VAL,
    n_test: int | None = N_TEST,
    image_size: int | None = IMAGE_SIZE,
    data_seed: int | None = DATA_SEED,
    track: str | None = TRACK,
    strategy: str | None = STRATEGY,
) -> None:
    """Train the networks of a plan (one job each), resumably; write OUT/study.sqlite and the
    loss tables OUT/tables/{val,test,early}.csv for `mtlgroup select`."""
    flags = dict(locals())

    def body() -> None:
        from mtlgroup.study import StoreError
        from mtlgroup.study.executors import ExecutorUnavailable

        if dry_run and not prune:
            raise UsageError("--dry-run goes with --prune (it lists what --prune would delete)")
        settings = load_settings(config, overrides(flags, data), model_option)
        train = not prune or settings.study.plan is not None or bool(settings.study.networks)
        summary_ok = not train or run_study(
            settings, progress, expected=(StoreError, ExecutorUnavailable, ConnectionError)
        )
        if prune:
            prune_weights(settings.out, dry_run)
        if not summary_ok:
            raise typer.Exit(EXIT_FAILED_JOBS)

    run_command(body)


def run_study(settings: Any, progress: bool | None, expected: tuple[type[BaseException], ...]
              ) -> bool:
    """Run the study a validated :class:`~mtlgroup.config.Settings` describes; print the table
    and summary. Returns whether every job succeeded."""
    from mtlgroup.study import Study, create_executor, parse_candidate
    from mtlgroup.tasks import UnknownTaskError
    from mtlgroup.tracking import prepare_track, resolve_track

    if settings.out is None:
        raise UsageError("no output directory: give --out DIR (or out: in the config)")
    check_outputs(Path(settings.out), settings)  # before any data is made or job trained
    from mtlgroup.cli.interrupt import keeps_work_in

    keeps_work_in(Path(settings.out) / "study.sqlite")  # what a Ctrl-C then says was kept
    spec = settings.study
    if spec.plan is None and not spec.networks:
        raise UsageError("nothing to train: give --plan all|pairs|esa and/or --networks a+b,c/2")
    names = settings.data.task_names()
    for network in spec.networks:  # before the store is opened: bad input writes nothing
        unknown = [t for t in parse_candidate(network).tasks if t not in names]
        if unknown:
            raise UsageError(f"--networks {network}: {UnknownTaskError(unknown[0], names)}")
    check_device(settings.training.device)  # fail on a bad device before any training
    train_config = settings.training.to_train_config()
    out = Path(settings.out)
    track = resolve_track(settings.track, out)
    try:
        runner = create_executor(spec.executor, **spec.executor_options())
        with Study(out / "study.sqlite", settings.data.dataset, settings.data.loader_options(),
                   names, train_config, seed=settings.training.seed,
                   device=settings.training.device, model=settings.model,
                   keep_weights=spec.keep_weights, track=track,
                   strategy=settings.strategy) as study:
            if track is not None:  # the store is created once the study's checks passed
                typer.echo(prepare_track(track))
            if spec.plan is not None:
                study.add_plan(spec.plan)
            if spec.networks:
                study.add_plan(spec.networks)
            typer.echo(f"study of {len(study.specs)} networks on {settings.data.dataset} "
                       f"({', '.join(names)}), model {study.model.describe()}, with "
                       f"{runner.describe()}; store {study.store.path}")
            typer.echo(job_forecast(study, spec.retry_failed))  # before any job starts
            with runner:
                summary = study.run(runner, progress=progress, retry_failed=spec.retry_failed)
            tables = study.tables(out / "tables", spec.cost) if study.records("done") else {}
            print_study_table(study, spec.cost)
    except expected as error:
        raise UsageError(str(error)) from None
    typer.echo(summary.format())
    for split, path in tables.items():
        typer.echo(f"wrote {path} ({split} losses)")
    return summary.ok


def job_forecast(study: Any, retry_failed: bool) -> str:
    """``12 jobs: 9 new, 3 already done; estimate …``: what the study is about to start, and
    how long that may take at the mean wall time of the store's done jobs (one worker's time:
    workers share it)."""
    from mtlgroup.study.status import format_seconds

    records = study.records()
    done = sum(r.status == "done" for r in records)
    skipped = 0 if retry_failed else sum(r.status == "failed" for r in records)
    todo = len(study.specs) - done - skipped
    kept = f", {skipped} failed kept (--skip-failed)" if skipped else ""
    total = len(study.specs)
    head = f"{total} job{'s' * (total != 1)}: {todo} new, {done} already done{kept}"
    times = [r.wall_time for r in study.store.jobs("done") if r.wall_time is not None]
    if not todo:
        return f"{head}; nothing to train"
    if not times:
        return f"{head}; no estimate yet (no job of the store is done)"
    mean = sum(times) / len(times)
    return (f"{head}; estimate {format_seconds(todo * mean)} of training ({format_seconds(mean)}"
            f" a job, the mean of {len(times)} done in the store), shared by the workers")


def prune_weights(out: Path | None, dry_run: bool) -> None:
    """``--prune``: delete (or list) the weight files OUT's run or study no longer needs."""
    from mtlgroup.study import StoreError
    from mtlgroup.study.status import prune_store

    if out is None:
        raise UsageError("--prune needs the study's directory: give --out DIR")
    try:
        typer.echo(prune_store(out, dry_run).format())
    except StoreError as error:
        raise UsageError(str(error)) from None


def print_study_table(study: Any, cost: str) -> None:
    """One row per network: status, total val and test loss, cost, time (or the error)."""
    records = study.records()
    console = stdout_console()
    if len(records) > MAX_TABLE_ROWS:
        console.print(f"({len(records)} networks: see the tables for per-network losses)")
        return
    reference = study.reference_flops() if cost == "flops" and study.records("done") else None
    table = Table(title="networks", title_justify="left")
    for column in ("network", "status", "val loss", "test loss", "cost", "time (s)"):
        table.add_column(column, justify="left" if column in ("network", "status") else "right")
    for record in records:
        name = str(record.candidate)
        outcome = record.outcome
        if outcome is None:  # pending, running elsewhere, or failed (errors follow the table)
            table.add_row(name, record.status, "", "", "", "")
            continue
        val = sum(outcome.loss("val").values())
        test = sum(outcome.loss("test").values())
        value = outcome.flops / reference if reference else record.candidate.size
        table.add_row(name, record.status, f"{val:.4f}", f"{test:.4f}", f"{value:.3f}",
                      f"{outcome.wall_time:.1f}")
    console.print(table)
