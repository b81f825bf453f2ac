"""``mtlgroup share``: computation sharing between single-task ViTs, measured against
independent ViTs and a multi-task ViT at equal FLOPs (see docs/sharing.md and
:mod:`mtlgroup.sharing.run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mtlgroup.cli.app import UsageError, app, run_command
from mtlgroup.cli.options import (
    BATCH_SIZE,
    CONFIG,
    DATA_OPTION,
    DATA_SEED,
    DATASET,
    DEVICE,
    EPOCHS,
    EXECUTOR,
    IMAGE_SIZE,
    LR,
    MODEL,
    MODEL_OPTION,
    N_TEST,
    N_TRAIN,
    N_VAL,
    PROGRESS,
    SEED,
    TASKS,
    THREADS,
    WORKERS,
    load_settings,
    overrides,
    study_out,
)

SCALE_KEYS = {"data": {"n_train": "data.n_train", "n_val": "data.n_val", "n_test": "data.n_test",
                       "size": "data.image_size", "tasks": "data.tasks"},
              "training": {"epochs": "training.epochs", "batch_size": "training.batch_size",
                           "lr": "training.lr"}}
"""Where each demo-scale default of :data:`mtlgroup.sharing.run.SHARE_SCALE` goes (the data
ones only for ``scenes``, the dataset they are sized for)."""


def _with_scale(config: Path | None, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` plus the demo-scale defaults of the keys neither a flag nor the config file
    sets (the file wins over them, a flag over both), and ``model: vit`` when neither names
    a model."""
    from mtlgroup.config import ConfigError, raw_config
    from mtlgroup.sharing.run import SHARE_SCALE

    try:
        written = raw_config(config, given)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    scaled = dict(given)
    if written.get("model") is None:  # sharing's family, so that --model-option applies to it
        scaled["model"] = "vit"
    dataset = (written.get("data") or {}).get("dataset", "scenes")
    for section, keys in SCALE_KEYS.items():
        if section == "data" and dataset != "scenes":
            continue
        for name, dotted in keys.items():
            part, leaf = dotted.split(".")
            found = written.get(part) or {}
            if not (isinstance(found, dict) and {leaf, name} & set(found)):  # size = image_size
                scaled[dotted] = SHARE_SCALE[section][name]
    return scaled


@app.command("share")
def share_command(
    config: Path | None = CONFIG,
    dataset: str | None = DATASET,
    data: list[str] | None = DATA_OPTION,
    tasks: str | None = TASKS,
    model: str | None = MODEL,
    model_option: list[str] | None = MODEL_OPTION,
    base: str = typer.Option(
        "auto", "--base",
        help="The base task, whose single-task ViT the other tasks reuse; auto (default) "
        "chooses it by --base-method. A given base still gets the proxy ranking reported."),
    base_method: str = typer.Option(
        "both", "--base-method",
        help="How auto chooses the base: both (default: the measurement's choice, with the "
        "proxy's ranking and their agreement reported), measure (a one-epoch delta training "
        "for every candidate base and sub-task) or proxy (linear CKA of the single-task ViTs' "
        "representations: seconds, but it agreed with the measurement only weakly on scenes, "
        "Spearman 0.20, and not at all on fashion, -0.83)."),
    weight_density: str = typer.Option(
        "0.05", "--weight-density",
        help="Fraction of each linear weight's delta entries a sub-task keeps, in (0, 1]; a "
        "comma-separated list trains one shared model per level (e.g. 0.02,0.05,0.2)."),
    activation_sparsity: str = typer.Option(
        "0.9", "--activation-sparsity",
        help="Fraction of each layer's activation differences from the base a sub-task drops, "
        "in [0, 1); a list pairs with --weight-density's entries."),
    penalty: str | None = typer.Option(
        None, "--penalty", help="Sparsity penalty of the weight deltas: l1 (default) or l0 "
        "(hard-concrete gates)."),
    delta_epochs: int | None = typer.Option(
        None, "--delta-epochs", min=1,
        help="Epochs of each delta phase (penalised training, then fine-tuning with the mask "
        "frozen); default 2."),
    video: bool = typer.Option(
        False, "--video/--no-video",
        help="Also run a scenes clip with temporal reuse at two thresholds: FLOPs per frame "
        "and each task's metric against processing every frame in full."),
    out: Path | None = typer.Option(
        None, "--out", "-o",
        help="Directory for study.sqlite, deltas/, sharing.{json,csv,png}, report.html and "
        "export/ (the shared model as a bundle); a rerun into it reuses every finished "
        "training."),
    executor: str | None = EXECUTOR,
    workers: int | None = WORKERS,
    threads: int | None = THREADS,
    progress: bool | None = PROGRESS,
    epochs: int | None = EPOCHS,
    batch_size: int | None = BATCH_SIZE,
    lr: float | None = LR,
    seed: int | None = SEED,
    device: str | None = DEVICE,
    n_train: int | None = N_TRAIN,
    n_val: int | None = N_VAL,
    n_test: int | None = N_TEST,
    image_size: int | None = IMAGE_SIZE,
    data_seed: int | None = DATA_SEED,
) -> None:
    """Share computation between single-task ViTs (Shoouri et al., ICCV 2023).

    Trains one ViT per task (a resumable study in OUT/study.sqlite), chooses a base task,
    and learns for every other task sparse weight deltas and activation-difference thresholds
    on top of the base ViT (saved in OUT/deltas/ one by one). The shared model computes each
    sub-task layer from the base's output and the non-zeros only, so its FLOPs are counted from
    real non-zeros and its latency measured on the real model.

    It prints and writes (OUT/sharing.json, .csv, .png, OUT/report.html, OUT/export/) one row
    per model: independent ViTs, the multi-task ViT at the shared model's FLOPs, and the
    shared model at each sparsity level; per task the test metric, Δm against the independent
    ViTs, and FLOPs, stored parameters and CPU latency as ratios to them.

    What neither a flag nor the config sets runs at demo scale (scenes task set 1 at 32x32,
    600 training images, 4 epochs per ViT, 2 per delta phase): a few minutes on two CPU
    cores. See docs/sharing.md.
    """
    flags = dict(locals())

    def body() -> None:
        from mtlgroup.sharing.levels import sharing_levels
        from mtlgroup.sharing.run import run_sharing
        from mtlgroup.study import StoreError
        from mtlgroup.study.executors import ExecutorUnavailable, create_executor

        sharing_levels(weight_density, activation_sparsity)  # a bad level: one line, first
        if base_method not in ("proxy", "measure", "both"):
            raise UsageError(f"bad --base-method {base_method!r}: expected proxy, measure or "
                             "both")
        if penalty not in (None, "l1", "l0"):
            raise UsageError(f"bad --penalty {penalty!r}: expected l1 or l0")
        given = overrides(flags, data)
        settings = load_settings(config, _with_scale(config, given), model_option)
        spec = settings.model if settings.model is not None else "vit"
        name = spec if isinstance(spec, str) else spec.get("name")
        if name != "vit":
            raise UsageError(f"computation sharing needs the ViT family (--model vit), not "
                             f"{name!r}: sub-tasks reuse the base's transformer layers")
        out = study_out(settings)
        names = settings.data.task_names()  # an unknown task: one line, before any work
        if base != "auto" and base not in names:
            raise UsageError(f"unknown --base {base!r}: expected auto or one of the tasks "
                             f"({', '.join(names)})")
        delta: dict[str, Any] = {}
        if penalty is not None:
            delta["penalty"] = penalty
        if delta_epochs is not None:
            delta.update(sparse_epochs=delta_epochs, finetune_epochs=delta_epochs)
        options = {k: v for k, v in (spec if isinstance(spec, dict) else {}).items()
                   if k != "name"}
        try:
            runner = create_executor(settings.study.executor,
                                     **settings.study.executor_options())
            run_sharing(
                settings.data.dataset, names, base=base, base_method=base_method,  # type: ignore[arg-type]
                weight_density=weight_density, activation_sparsity=activation_sparsity,
                out=out, model=options, data_options=settings.data.loader_options(),
                train_config=settings.training.to_train_config(), delta_config=delta,
                executor=runner, seed=settings.training.seed,
                device=settings.training.device, video=video, progress=progress,
                echo=typer.echo)
        except (StoreError, ExecutorUnavailable, ConnectionError) as error:
            raise UsageError(str(error)) from None

    run_command(body)
