"""Loss-weighting strategies: torchjd's scalarizers turn the task losses into one loss.

Per batch: one forward pass, the scalarizer combines the per-task losses, one backward pass and
one optimizer step, at the cost of a joint step. The state of each scalarizer is kept up to date
here:

- ``uw`` and ``imtll``: their learned per-task parameters join the optimizer in :meth:`setup`
  (a parameter group without weight decay, on the model's device; a learning-rate schedule made
  before setup does not reach that group);
- ``dwa``: its epoch history rolls in :meth:`~ScalarizerStrategy.end_epoch`;
- ``famo``: after the optimizer step, its weights learn from the losses recomputed on the same
  batch without gradient and without touching normalisation statistics
  (:func:`~mtlgroup.training.losses.measure_losses`).

A task with no labelled sample in the batch has no gradient in that step: the scalarizer sees its
last known loss (detached; ``1.0`` before it had one) in its place, so that FAMO's logarithms and
DWA's epoch averages stay finite and FAMO sees no change for it, and its learned parameters (UW,
IMTL-L) get no gradient from that step.

Loss weights (``TrainConfig.loss_weights``) scale each loss before the scalarizer sees it. The
weight of each task's loss in the combined loss (``d total / d L_t``) at every step is in
:meth:`ScalarizerStrategy.weights_over_time`.

Example (it needs torchjd, and says ``0.5`` without running where torchjd is missing):
    >>> from mtlgroup.data import load_dataset
    >>> from mtlgroup.training import TrainConfig, create_strategy, train_network
    >>> from mtlgroup.training.torchjd_support import torchjd_available
    >>> def first_uw_weight():
    ...     data = load_dataset("synthetic", n_train=32, n_val=8, n_test=8)
    ...     uw = create_strategy("uw")
    ...     _ = train_network(data.tasks.names, data, 0.25,
    ...                       TrainConfig(max_steps=2, batch_size=16), strategy=uw)
    ...     return uw.weights_over_time()[0]["weights"]["bright"]
    >>> first_uw_weight() if torchjd_available() else 0.5  # ½·exp(−s) at s = 0
    0.5
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from mtlgroup.data.base import Batch
from mtlgroup.tasks import TaskSet
from mtlgroup.training.losses import labelled_tasks, measure_losses
from mtlgroup.training.strategies import UpdateStrategy, register_variant
from mtlgroup.training.torchjd_support import check_options, option_values, require_torchjd


@dataclass(frozen=True)
class ScalarizerSpec:
    """One torchjd scalarizer as a strategy.

    ``shaped``: it takes the number of tasks; ``learned``: its parameters are trained with the
    model by the optimizer; ``per_epoch``: its ``step()`` runs after each epoch; ``after_step``:
    its ``update(losses)`` runs after each optimizer step with the losses on the same batch.
    """

    name: str
    scalarizer: str
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)
    shaped: bool = False
    learned: bool = False
    per_epoch: bool = False
    after_step: bool = False


SCALARIZERS: tuple[ScalarizerSpec, ...] = (
    ScalarizerSpec("uw", "UW", "uncertainty weighting: Σ ½e^(−s)·L + ½s with learned "
                   "log-variances s (Kendall et al. 2018)", shaped=True, learned=True),
    ScalarizerSpec("dwa", "DWA", "dynamic weight average: K·softmax(L(t−1)/L(t−2) / T) from "
                   "epoch averages (Liu et al. 2019)", {"temperature": 2.0}, per_epoch=True),
    ScalarizerSpec("famo", "FAMO", "fast adaptive multitask optimisation: balanced log-loss "
                   "decrease, weights learned from each step's loss change (Liu et al. 2023)",
                   {"min_losses": None, "lr": 0.025, "weight_decay": 0.001}, shaped=True,
                   after_step=True),
    ScalarizerSpec("imtll", "IMTLL", "IMTL-L: Σ e^s·L − s with learned scales "
                   "(Liu et al. 2021)", shaped=True, learned=True),
    ScalarizerSpec("geomean", "GeometricMean", "geometric mean of the losses "
                   "(Chennupati et al. 2019)"),
)
"""The scalarizers registered as strategies (``mtlgroup strategies`` lists them)."""


class ScalarizerStrategy(UpdateStrategy):
    """One optimizer step per batch on a torchjd scalarization of the task losses.

    Subclasses (one per :data:`SCALARIZERS` entry) set :attr:`spec`; ``options`` override its
    defaults.

    Attributes (set by :meth:`setup`): ``scalarizer_``: the torchjd scalarizer (e.g. UW's
    ``scalarizer_.log_var``); ``steps_``: batches seen.
    """

    kind: ClassVar[str] = "scalarizer"
    source: ClassVar[str] = "torchjd"
    spec: ClassVar[ScalarizerSpec]

    def __init__(self, **options: Any):
        check_options(self.name, options, self.spec.options)
        self.options = {**self.spec.options, **options}
        require_torchjd(self.name, "torchjd.scalarization")

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        return dict(cls.spec.options)

    def setup(self, model: nn.Module, optimizer: torch.optim.Optimizer, tasks: TaskSet) -> None:
        scalarization = require_torchjd(self.name, "torchjd.scalarization")
        options = option_values(self.options)
        if self.spec.shaped:
            options["shape"] = len(tasks)
        try:
            scalarizer = getattr(scalarization, self.spec.scalarizer)(**options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"strategy {self.name!r}: bad options {self.options}: {error}") \
                from error
        device = next(iter(model.parameters())).device
        self.scalarizer_ = scalarizer.to(device)
        self._learned = list(self.scalarizer_.parameters()) if self.spec.learned else []
        if self._learned:
            # No weight decay: it would pull the log-variances towards uniform weights.
            optimizer.add_param_group({"params": self._learned, "weight_decay": 0.0})
        self._last: dict[str, Tensor] = {}
        self.steps_ = 0
        self.weights_history_: list[tuple[int, Tensor]] = []
        self._names = tasks.names

    def step(
        self,
        model: nn.Module,
        batch: Batch,
        optimizer: torch.optim.Optimizer,
        tasks: TaskSet,
        weights: Mapping[str, float] | None = None,
    ) -> dict[str, Tensor]:
        self.steps_ += 1
        optimizer.zero_grad(set_to_none=True)
        losses = self.forward_losses(model, batch, tasks)
        present = set(labelled_tasks(batch, tasks.names))
        scale = torch.tensor([weights.get(t, 1.0) if weights else 1.0 for t in tasks.names],
                             device=batch.inputs.device)
        values = self._values(losses, present) * scale
        values.retain_grad()
        self.scalarizer_(values).backward()
        missing = [i for i, t in enumerate(tasks.names) if t not in present]
        if missing:  # no gradient for an unlabelled task's learned parameters
            for p in self._learned:
                if p.grad is not None:
                    p.grad[missing] = 0.0
        optimizer.step()
        for t in present:
            self._last[t] = losses[t].detach()
        if values.grad is not None:
            self.weights_history_.append((self.steps_, (values.grad * scale).detach()))
        if self.spec.after_step:
            self.scalarizer_.update(self._values(measure_losses(model, batch, tasks), present)
                                    * scale)
        return {t: loss.detach() for t, loss in losses.items()}

    def end_epoch(self) -> None:
        if self.spec.per_epoch:
            self.scalarizer_.step()

    def weights_over_time(self) -> list[dict[str, Any]]:
        """The weight of each task's loss in the combined loss (``d total / d L_t``) at every
        step, ``[{"step": …, "weights": {task: w}}]``."""
        return [{"step": step, "weights": dict(zip(self._names, w.tolist(), strict=True))}
                for step, w in self.weights_history_]

    def _values(self, losses: Mapping[str, Tensor], present: set[str]) -> Tensor:
        def placeholder(task: str) -> Tensor:
            return self._last.get(task, torch.ones((), device=losses[task].device))

        return torch.stack([losses[t] if t in present else placeholder(t) for t in self._names])


def scalarizer_strategy(spec: ScalarizerSpec) -> type[ScalarizerStrategy]:
    """The registered strategy class of one scalarizer."""
    return cast(type[ScalarizerStrategy], register_variant(
        ScalarizerStrategy, spec.name, spec.scalarizer, spec.description, __name__, spec=spec))


SCALARIZER_STRATEGIES: dict[str, type[ScalarizerStrategy]] = {
    spec.name: scalarizer_strategy(spec) for spec in SCALARIZERS
}
"""Strategy class by name, one per scalarizer."""
