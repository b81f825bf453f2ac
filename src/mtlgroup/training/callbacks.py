"""Callbacks: code that watches training without owning it (affinity probes, logging).

Call order for one :meth:`Trainer.fit`: ``on_train_begin`` once; per step ``on_step_begin``
(weights *before* the update, the batch already on the device) then ``on_step_end`` (the per-task
losses of that step, weights *after* the update); ``on_evaluate`` after each validation; and
``on_train_end`` once with the result. A callback must not change the training trajectory: if it
runs forward/backward passes it leaves gradients, weights, optimizer state, normalisation
statistics and the data order as it found them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from mtlgroup.data.base import Batch
from mtlgroup.tasks import TaskSet

if TYPE_CHECKING:
    from mtlgroup.training.result import TrainResult
    from mtlgroup.training.strategies import UpdateStrategy
    from mtlgroup.training.trainer import TrainConfig


@dataclass
class TrainState:
    """What a callback can see. ``losses`` is filled for ``on_step_end`` only; ``strategy`` is
    the trainer's update strategy (a probe registers a loss observer on it)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    tasks: TaskSet
    config: TrainConfig
    device: torch.device
    step: int = 0
    epoch: int = 0
    total_steps: int = 0
    batch: Batch | None = None
    losses: dict[str, Tensor] = field(default_factory=dict)
    strategy: UpdateStrategy | None = None

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])


class Callback:
    """Base class with no-op hooks; override the ones you need."""

    def on_train_begin(self, state: TrainState) -> None: ...

    def on_step_begin(self, state: TrainState) -> None: ...

    def on_step_end(self, state: TrainState) -> None: ...

    def on_evaluate(
        self, state: TrainState, split: str, scores: dict[str, dict[str, float]]
    ) -> None: ...

    def on_train_end(self, state: TrainState, result: TrainResult) -> None: ...


class LossHistory(Callback):
    """Records the per-task training loss of every ``every``-th step (handy in notebooks).

    Example:
        >>> history = LossHistory(every=10)  # Trainer(config, callbacks=[history])
    """

    def __init__(self, every: int = 1):
        self.every = every
        self.steps: list[int] = []
        self.losses: list[dict[str, float]] = []

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0:
            self.steps.append(state.step)
            self.losses.append({t: float(v) for t, v in state.losses.items()})
