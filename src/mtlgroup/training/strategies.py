"""Update strategies: how one batch turns into optimizer steps.

The trainer owns the loop (data, evaluation, early stopping, callbacks); a strategy owns the
update. Call order: :meth:`UpdateStrategy.set_budget` (the run's planned length) and
:meth:`UpdateStrategy.setup` once before the first step, then :meth:`UpdateStrategy.step` once
per batch, and :meth:`UpdateStrategy.end_epoch` after each pass over the training split. The
default, :class:`JointStrategy`, sums the (weighted) task losses and takes one optimizer step.
Group-sequential strategies (selective task group updates, :mod:`mtlgroup.affinity.stgu`) plug
in here through :data:`STRATEGIES`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mtlgroup.data.base import Batch
from mtlgroup.registry import Registry
from mtlgroup.tasks import TaskSet
from mtlgroup.training.budget import Budget
from mtlgroup.training.losses import task_losses

LossObserver = Callable[[Mapping[str, Tensor]], None]
"""Sees a step's per-task losses (graph attached) before the update; see
:meth:`UpdateStrategy.add_loss_observer`."""


class UpdateStrategy(ABC):
    """One training step on one batch.

    ``step`` returns the per-task losses (detached or not) computed *before* the update; the
    trainer checks them for NaN/inf and passes them to callbacks.
    """

    name: str = "abstract"
    budget: Budget | None = None
    """The run's planned length, set by :meth:`set_budget` (``None`` outside a trainer)."""

    def set_budget(self, budget: Budget) -> None:
        """Called by the trainer just before :meth:`setup`, so that a strategy whose schedule
        depends on the run's length (STGU's warm-up) can read :attr:`budget` there."""
        self.budget = budget

    def setup(self, model: nn.Module, optimizer: torch.optim.Optimizer, tasks: TaskSet) -> None:
        """Called once before training starts."""

    def end_epoch(self) -> None:
        """Called by the trainer after each pass over the training split (epoch-based
        strategies such as DWA roll their loss history here)."""

    def add_loss_observer(self, observer: LossObserver) -> None:
        """Call ``observer(losses)`` with the graph-carrying per-task losses of the first
        forward pass of every step, before any backward pass (a lookahead probe reuses them
        instead of running a forward pass of its own)."""
        self.__dict__.setdefault("_loss_observers", []).append(observer)

    def forward_losses(self, model: nn.Module, batch: Batch, tasks: TaskSet) -> dict[str, Tensor]:
        """Every task's loss on ``batch`` at the current weights, shown to the loss observers.
        Strategies compute their step's first forward pass through this."""
        losses = task_losses(model(batch.inputs), batch, tasks)
        for observer in self.__dict__.get("_loss_observers", ()):
            observer(losses)
        return losses

    @abstractmethod
    def step(
        self,
        model: nn.Module,
        batch: Batch,
        optimizer: torch.optim.Optimizer,
        tasks: TaskSet,
        weights: Mapping[str, float] | None = None,
    ) -> dict[str, Tensor]: ...


class JointStrategy(UpdateStrategy):
    """Sum of (weighted) task losses, one backward pass, one optimizer step."""

    name = "joint"

    def step(
        self,
        model: nn.Module,
        batch: Batch,
        optimizer: torch.optim.Optimizer,
        tasks: TaskSet,
        weights: Mapping[str, float] | None = None,
    ) -> dict[str, Tensor]:
        optimizer.zero_grad(set_to_none=True)
        losses = self.forward_losses(model, batch, tasks)
        total = sum(
            (loss * (weights.get(t, 1.0) if weights else 1.0) for t, loss in losses.items()),
            start=torch.zeros((), device=batch.inputs.device),
        )
        total.backward()
        optimizer.step()
        return {t: loss.detach() for t, loss in losses.items()}


STRATEGIES: Registry[type[UpdateStrategy]] = Registry(
    # stgu lives in affinity/ beside the proximal affinity it tracks and registers itself there;
    # it is imported on first look-up, since affinity imports training.
    "strategy", builtins=("mtlgroup.affinity.stgu", "mtlgroup.training.jacobian_strategies",
                          "mtlgroup.training.scalarized_strategies", "mtlgroup.training.gradnorm")
)
"""Update strategy classes by name (``joint``, ``stgu``, torchjd's aggregators and scalarizers,
``gradnorm``, and any registered one; ``mtlgroup strategies`` lists them)."""


def register_strategy(cls: type[UpdateStrategy]) -> type[UpdateStrategy]:
    """Class decorator: make a strategy available by its ``name`` (configs and CLI)."""
    return STRATEGIES.register(cls.name, cls)


def register_variant(base: type[UpdateStrategy], name: str, title: str, description: str,
                     module: str, **attributes: Any) -> type[UpdateStrategy]:
    """Register a subclass of ``base`` named ``name`` whose class attributes are ``attributes``
    (one generic strategy class, many registered configurations: one per torchjd aggregator or
    scalarizer). Its docstring is ``"title: description."`` followed by ``base``'s."""
    cls = type(f"{title}Strategy", (base,),
               {"name": name, "__doc__": f"{title}: {description}.\n\n{base.__doc__}",
                "__module__": module, **attributes})
    register_strategy(cls)
    return cls


def create_strategy(name: str, **options: Any) -> UpdateStrategy:
    """A strategy by name (``joint``, ``stgu``, or any registered one).

    An unknown name raises :class:`~mtlgroup.registry.UnknownNameError` listing the valid ones.
    """
    return STRATEGIES.get(name)(**options)


def available_strategies() -> list[str]:
    """The registered strategy names, sorted."""
    return sorted(STRATEGIES.names())


register_strategy(JointStrategy)
