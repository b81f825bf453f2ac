"""``mtlgroup affinity``: measure inter-task affinity in one training run (or from a loss table).

Writes ``OUT/affinity.csv`` (row = source), its sidecar ``OUT/affinity.json`` and a heat map
``OUT/affinity.png``, and prints the matrix. ``mtlgroup select --affinity OUT/affinity.csv``
then groups the tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from mtlgroup.cli.app import UsageError, app, run_command, stdout_console
from mtlgroup.cli.options import (
    BATCH_SIZE,
    CONFIG,
    DATA_OPTION,
    DATA_SEED,
    DATASET,
    DEVICE,
    EPOCHS,
    IMAGE_SIZE,
    LR,
    MAX_STEPS,
    MODEL,
    MODEL_OPTION,
    N_TEST,
    N_TRAIN,
    N_VAL,
    OPTIMIZER,
    SCHEDULE,
    SEED,
    SIZE,
    STRATEGY,
    TASKS,
    TRACK,
    check_writable,
    load_settings,
    overrides,
    prepare_training,
)

METHODS = ("tag", "cs", "proximal", "pairwise")
_GROUP_CHANGES_SHOWN = 10


@app.command("affinity")
def affinity_command(
    out: Path = typer.Option(..., "--out", "-o",
                             help="Directory for affinity.csv, affinity.json, affinity.png."),
    tasks: str | None = TASKS,
    config: Path | None = CONFIG,
    model: str | None = MODEL,
    model_option: list[str] | None = MODEL_OPTION,
    method: str = typer.Option(
        "tag", "--method", "-m",
        help="tag (lookahead), cs (gradient cosine), proximal (selective group updates), or "
        "pairwise (from a loss table, see --table).",
    ),
    every: int = typer.Option(10, "--every", min=1, help="tag/cs: probe every N steps."),
    step: str = typer.Option("sgd", "--step",
                             help="tag: lookahead step rule, sgd or optimizer."),
    divide_by_lr: bool = typer.Option(False, "--divide-by-lr",
                                      help="tag: divide by the learning rate (released code)."),
    first_order: bool = typer.Option(
        False, "--first-order",
        help="tag: first-order TAG from the gradients alone (no lookahead passes, the cost of "
        "cs); default exact."),
    beta: float = typer.Option(1e-3, "--beta", help="proximal: moving-average rate."),
    warmup: int | None = typer.Option(
        None, "--warmup", min=0,
        help="proximal: batches with every task alone (default: 10% of the run's batches, "
        "1 to 100)."),
    regroup_every: int = typer.Option(1, "--regroup-every", min=1,
                                      help="proximal: batches between regroupings."),
    table: Path | None = typer.Option(None, "--table",
                                      help="pairwise: a loss-table CSV (e.g. a study's val.csv)."),
    baseline: str = typer.Option("half", "--baseline",
                                 help="pairwise: single-task baseline, half or full."),
    size: float = SIZE,
    epochs: int | None = EPOCHS,
    max_steps: int | None = MAX_STEPS,
    batch_size: int | None = BATCH_SIZE,
    lr: float | None = LR,
    optimizer: str | None = OPTIMIZER,
    schedule: str | None = SCHEDULE,
    seed: int | None = SEED,
    device: str | None = DEVICE,
    dataset: str | None = DATASET,
    data: list[str] | None = DATA_OPTION,
    n_train: int | None = N_TRAIN,
    n_val: int | None = N_VAL,
    n_test: int | None = N_TEST,
    image_size: int | None = IMAGE_SIZE,
    data_seed: int | None = DATA_SEED,
    track: str | None = TRACK,
    strategy: str | None = STRATEGY,
) -> None:
    """Measure task affinity (row = source, column = target); write OUT/affinity.{csv,json,png}."""

    flags = dict(locals())

    def body() -> None:
        from mtlgroup.affinity import create_estimator, pairwise_affinity, plot_affinity

        if method not in METHODS:
            raise UsageError(f"unknown --method {method!r}; expected one of {', '.join(METHODS)}")
        if method == "pairwise":
            if table is None:
                raise UsageError("--method pairwise needs --table LOSS_TABLE.csv")
            if track is not None:
                raise UsageError("--track logs a training: --method pairwise trains nothing")
            names = (None if tasks in (None, "all")
                     else [t.strip() for t in tasks.split(",") if t.strip()])
            check_writable(out)
            affinity = pairwise_affinity(table, baseline, names)  # type: ignore[arg-type]
        else:
            if table is not None:
                raise UsageError("--table is for --method pairwise only")
            settings = load_settings(config, overrides(flags, data), model_option)
            estimator = create_estimator(method, **_estimator_options(settings.training.seed),
                                         **_strategy_option(settings.strategy))
            affinity = _train(settings, estimator)
        csv_path = affinity.to_csv(out / "affinity.csv")
        plot_affinity(affinity, out / "affinity.png")
        _print(affinity)
        typer.echo(f"wrote {csv_path}, {out / 'affinity.json'} and {out / 'affinity.png'}")

    def _estimator_options(training_seed: int) -> dict[str, Any]:
        if first_order and method != "tag":
            raise UsageError("--first-order is for --method tag only")
        if method == "tag":
            return {"every": every, "step": step, "divide_by_lr": divide_by_lr,
                    **({"first_order": True} if first_order else {})}
        if method == "cs":
            return {"every": every}
        return {"beta": beta, "warmup": warmup, "regroup_every": regroup_every,
                "seed": training_seed}

    def _strategy_option(request: dict[str, Any] | None) -> dict[str, Any]:
        # tag and cs probe a training of any strategy; proximal is its own (STGU)
        if request is None:
            return {}
        if method not in ("tag", "cs"):
            raise UsageError(f"--strategy is for --method tag or cs: {method} trains with "
                             "its own strategy")
        return {"strategy": request}

    def _train(settings, estimator):
        from mtlgroup.study.plans import Candidate
        from mtlgroup.tracking import finish_on_error, start_tracking, tracking_callbacks

        names = settings.data.task_names()  # data loaded here is reused (per-process cache)
        if len(names) < 2:
            raise UsageError(f"affinity needs at least two tasks, got {', '.join(names)}")
        run = prepare_training(settings, size, out)
        config_ = settings.training.to_train_config()
        callbacks = tracking_callbacks(
            start_tracking(settings.track, out, typer.echo),
            f"{Candidate(tuple(run.tasks), size).name} ({method} affinity)",
            {"size": size, "dataset": settings.data.dataset, "model": run.factory.describe(),
             "affinity": method,
             **{f"affinity.{k}": v for k, v in estimator.get_params().items()}},
        )
        with finish_on_error(callbacks):
            return estimator.fit(run.data, run.tasks, config_, size, run.factory,
                                 callbacks).affinity_

    run_command(body)


def _print(affinity) -> None:
    """The matrix as a table (rows = sources), then what was measured and how long it took."""
    console = stdout_console()
    table = Table(title=f"{affinity.method} affinity (row = source, column = target)",
                  title_justify="left")
    table.add_column("source \\ target")
    for task in affinity.tasks:
        table.add_column(task, justify="right")
    for task, row in zip(affinity.tasks, affinity.matrix, strict=True):
        table.add_row(task, *(f"{v:.4g}" for v in row))
    console.print(table)
    details = [f"{affinity.n_probes} probes" if affinity.method != "pairwise"
               else f"{affinity.n_probes} ordered pairs"]
    if affinity.result is not None:
        details.append(f"{affinity.result.steps} steps in {affinity.result.wall_time:.1f} s")
    console.print(", ".join(details))
    groups = affinity.extra.get("groups_over_time")
    if groups:
        shown = groups[:1] + groups[1:][-_GROUP_CHANGES_SHOWN:]
        hidden = len(groups) - len(shown)
        note = f"; {hidden} earlier changes in affinity.json" if hidden else ""
        console.print(f"groups over time (batch: groups{note}):")
        for entry in shown:
            text = " | ".join("+".join(g) for g in entry["groups"])
            console.print(f"  {entry['step']:>6}: {text}")
