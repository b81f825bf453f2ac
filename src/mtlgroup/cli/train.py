"""``mtlgroup train``: train one network and report its per-task losses."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mtlgroup.cli.app import app, run_command, stdout_console
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
    PATIENCE,
    SCHEDULE,
    SEED,
    SIZE,
    STRATEGY,
    TRACK,
    load_settings,
    overrides,
    prepare_training,
)


@app.command("train")
def train_command(
    tasks: str = typer.Option(
        ..., "--tasks", "-t",
        help="Comma-separated tasks (e.g. semseg,depth), 'all', or a task set such as 'set:1'.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for result.json and model.pt."),
    size: float = SIZE,
    strategy: str | None = STRATEGY,
    config: Path | None = CONFIG,
    model: str | None = MODEL,
    model_option: list[str] | None = MODEL_OPTION,
    epochs: int | None = EPOCHS,
    max_steps: int | None = MAX_STEPS,
    batch_size: int | None = BATCH_SIZE,
    lr: float | None = LR,
    optimizer: str | None = OPTIMIZER,
    schedule: str | None = SCHEDULE,
    patience: int | None = PATIENCE,
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
) -> None:
    """Train one network on some tasks; write OUT/result.json and OUT/model.pt and print a
    per-task table."""
    flags = dict(locals())

    def body() -> None:
        import torch

        from mtlgroup.cost import CostModel
        from mtlgroup.study.jobs import make_strategy
        from mtlgroup.study.plans import Candidate
        from mtlgroup.tracking import finish_on_error, start_tracking, tracking_callbacks
        from mtlgroup.training import train_network

        settings = load_settings(config, overrides(flags, data), model_option)
        # The flag wins over the config's `strategy:`; neither means the joint sum.
        update = make_strategy(settings.strategy)
        run = prepare_training(settings, size, out)
        callbacks = tracking_callbacks(
            start_tracking(settings.track, out, typer.echo),
            Candidate(tuple(run.tasks), size).name,
            {"size": size, "dataset": settings.data.dataset, "model": run.factory.describe(),
             "strategy": (settings.strategy or {"name": "joint"})["name"]},
        )
        with finish_on_error(callbacks):
            model_net, result = train_network(
                run.tasks, run.data, size, settings.training.to_train_config(), callbacks,
                strategy=update,
                reference_flops=CostModel(run.data.tasks, run.data.input_shape,
                                          run.factory).reference_flops,
                model=run.factory,
            )
        result.save(out / "result.json")
        torch.save(model_net.state_dict(), out / "model.pt")
        print_result_table(result)
        typer.echo(f"wrote {out / 'result.json'} and {out / 'model.pt'}")

    run_command(body)


def print_result_table(result) -> None:
    """Per task: validation and test loss and the test metrics; then cost and time."""
    table = Table(title=f"network {'+'.join(result.tasks)}", title_justify="left")
    metric_names = sorted({m for s in result.test.values() for m in s if m != "loss"})
    for column in ("task", "val loss", "test loss", *(f"test {m}" for m in metric_names)):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task in result.tasks:
        test = result.test[task]
        metrics = [f"{test[m]:.4f}" if m in test else "" for m in metric_names]
        table.add_row(task, f"{result.val[task]['loss']:.4f}", f"{test['loss']:.4f}", *metrics)
    table.add_row("total", f"{result.total('val'):.4f}", f"{result.total('test'):.4f}",
                  *([""] * len(metric_names)))
    console = stdout_console()
    console.print(table)
    cost = result.extra.get("cost")
    cost_text = f"cost {cost:.3f} standard networks, " if cost is not None else ""
    console.print(
        f"{cost_text}{result.extra.get('flops', 0) / 1e6:.1f} MFLOPs/image, "
        f"{result.steps} steps (best at {result.best_step}), {result.wall_time:.1f} s on "
        f"{result.device}"
    )
