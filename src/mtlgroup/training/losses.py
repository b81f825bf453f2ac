"""Per-task losses and evaluation over a split, shared by the trainer, strategies and probes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from mtlgroup.data.base import Batch, Split
from mtlgroup.errors import NonFiniteLossError  # defined without torch; re-exported here
from mtlgroup.tasks import TaskSet


def task_losses(
    outputs: Mapping[str, Tensor], batch: Batch, tasks: TaskSet, names: Sequence[str] | None = None
) -> dict[str, Tensor]:
    """The masked loss of each task (``names``, default all of ``tasks``) on one batch."""
    names = tasks.names if names is None else names
    return {
        t: tasks[t].masked_loss(outputs[t], batch.targets[t], batch.mask(t)) for t in names
    }


def check_finite(losses: Mapping[str, Tensor], step: int) -> float:
    """Return the summed loss; raise :class:`NonFiniteLossError` naming the first task whose
    loss is not finite. (One host sync for the sum; per-task values only on failure.)"""
    total = float(torch.stack([v.detach() for v in losses.values()]).sum())
    if math.isfinite(total):
        return total
    for task, value in losses.items():
        if not math.isfinite(float(value)):
            raise NonFiniteLossError(task, step, float(value))
    return total


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: Split,
    tasks: TaskSet,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """Per task: mean loss and each metric over the samples that carry that task's label.

    Returns ``{task: {"loss": ..., metric_name: ...}}``. The model is put in eval mode and
    restored to its previous mode afterwards.
    """
    was_training = model.training
    model.eval()
    sums: dict[str, dict[str, float]] = {t.name: {} for t in tasks}
    counts = dict.fromkeys(tasks.names, 0)
    try:
        for batch in split.batches(batch_size, tasks=tasks.names):
            batch = batch.to(device)
            outputs = model(batch.inputs)
            for task in tasks:
                mask = batch.mask(task.name)
                pred, target = outputs[task.name], batch.targets[task.name]
                if mask is not None:
                    if not bool(mask.any()):
                        continue
                    pred, target = pred[mask], target[mask]
                n = int(target.shape[0])
                counts[task.name] += n
                values = {"loss": task.per_sample_loss(pred, target)}
                values.update({m.name: m.fn(pred, target) for m in task.metrics})
                for name, per_sample in values.items():
                    sums[task.name][name] = sums[task.name].get(name, 0.0) + float(per_sample.sum())
    finally:
        model.train(was_training)
    return {
        t: {name: s / counts[t] for name, s in metric_sums.items()} if counts[t] else {}
        for t, metric_sums in sums.items()
    }


def total_loss(scores: Mapping[str, Mapping[str, float]]) -> float:
    """Unweighted sum of per-task losses (ALGORITHMS §6)."""
    return float(sum(s["loss"] for s in scores.values() if "loss" in s))


@torch.no_grad()
def measure_losses(model: nn.Module, batch: Batch, tasks: TaskSet) -> dict[str, Tensor]:
    """Every task's loss on ``batch`` in the model's current mode, leaving normalisation buffers
    (running statistics) exactly as they were (a measurement after a step, not a training pass)."""
    saved = {k: v.clone() for k, v in model.named_buffers()}
    try:
        return task_losses(model(batch.inputs), batch, tasks)
    finally:
        for name, buffer in model.named_buffers():
            buffer.copy_(saved[name])


def labelled_tasks(batch: Batch, names: Sequence[str]) -> list[str]:
    """The tasks among ``names`` with at least one labelled sample in ``batch`` (the others'
    :meth:`~mtlgroup.tasks.Task.masked_loss` is a constant zero: they have no gradient there)."""
    present = []
    for name in names:
        mask = batch.mask(name)
        if mask is None or bool(mask.any()):
            present.append(name)
    return present
