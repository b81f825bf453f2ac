"""Training budgets that name their unit: batches or optimizer steps.

A joint step takes one optimizer step per batch; a group-sequential strategy (STGU) takes one per
task group, so "100 steps" is ambiguous. :class:`Budget` says which unit a run's length counts,
and :class:`StepCounter` counts both units during a run. Optimizer steps are counted with the
optimizer's own step hook, so whatever calls ``optimizer.step()`` counts, once per call; the
private optimizers some strategies keep for their loss weights (FAMO, GradNorm) are other
objects and do not.

Example:
    >>> import torch
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> counter = StepCounter(optimizer, "optimizer_steps")
    >>> counter.batches += 1; optimizer.step(); optimizer.step()
    >>> counter.batches, counter.optimizer_steps, counter.done
    (1, 2, 2)
    >>> counter.close()
    >>> Budget(64, "optimizer_steps").batches(steps_per_batch=4)
    16
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

BudgetUnit = Literal["batches", "optimizer_steps"]
BUDGET_UNITS: tuple[str, ...] = ("batches", "optimizer_steps")


@dataclass(frozen=True)
class Budget:
    """A run's planned length: ``total`` ``unit``\\ s (what a strategy learns before setup)."""

    total: int
    unit: BudgetUnit = "batches"

    def batches(self, steps_per_batch: int = 1) -> int:
        """The planned number of batches when each batch takes ``steps_per_batch`` optimizer
        steps (exact for a ``batches`` budget, whatever the strategy; at least 1)."""
        if self.unit == "batches":
            return self.total
        return max(1, self.total // max(1, steps_per_batch))


class StepCounter:
    """Counts the batches of a run (the trainer increments :attr:`batches`) and the optimizer
    steps taken (through ``optimizer``'s step post-hook; :meth:`close` removes the hook).

    ``on_step`` is called after each optimizer step (the trainer steps its learning-rate
    schedule there when the budget counts optimizer steps).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        unit: BudgetUnit = "batches",
        on_step: Callable[[], None] | None = None,
    ):
        self.unit = unit
        self.batches = 0
        self.optimizer_steps = 0
        self._on_step = on_step
        self._handle = optimizer.register_step_post_hook(self._count)

    def _count(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.optimizer_steps += 1
        if self._on_step is not None:
            self._on_step()

    @property
    def done(self) -> int:
        """How much of the budget is spent, in its unit."""
        return self.batches if self.unit == "batches" else self.optimizer_steps

    def close(self) -> None:
        self._handle.remove()
