"""Jacobian descent strategies: torchjd's aggregators on the Jacobian of the shared parameters.

Per batch: one forward pass, the Jacobian of the task losses with respect to the shared
parameters (one row per task), an aggregator that turns it into one update direction, and one
optimizer step. Every head gets its own task's gradient (a head only affects its task's loss).
With a model that computes its prediction through ``encode``/``decode``
(:class:`~mtlgroup.models.MultiTaskNet`), the Jacobian comes from torchjd's ``mtl_backward`` on the
encoder features (one backward pass per task through the encoder); otherwise from
``torchjd.autojac.backward`` over :func:`~mtlgroup.training.parameters.shared_parameters`, and the
heads from one ordinary backward pass of the summed losses.

A task with no labelled sample in the batch has no gradient in that step: it is left out of the
Jacobian (its zero loss would be a zero row, which changes what MGDA, Nash-MTL or IMTL-G return,
and a NaN row would poison all of them), and its head does not move. Stateful aggregators
(Nash-MTL, GradVac) keep one state per set of tasks present.

Loss weights (``TrainConfig.loss_weights``) scale the rows. The aggregation weights of each step
(for the aggregators that have them) are in :meth:`AggregatorStrategy.weights_over_time`.

One strategy is registered per aggregator in :data:`AGGREGATORS`; each forwards its options to
torchjd (``create_strategy("cagrad", c=0.4)``).

Example (it needs torchjd, and says ``True`` without running where torchjd is missing):
    >>> from mtlgroup.data import load_dataset
    >>> from mtlgroup.training import TrainConfig, create_strategy, train_network
    >>> from mtlgroup.training.torchjd_support import torchjd_available
    >>> def train_with_upgrad():
    ...     data = load_dataset("synthetic", n_train=32, n_val=8, n_test=8)
    ...     upgrad = create_strategy("upgrad")
    ...     _ = train_network(data.tasks.names, data, 0.25,
    ...                       TrainConfig(max_steps=2, batch_size=16), strategy=upgrad)
    ...     return sorted(upgrad.weights_over_time()[0]["weights"]) == sorted(data.tasks.names)
    >>> train_with_upgrad() if torchjd_available() else True
    True
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from mtlgroup.data.base import Batch
from mtlgroup.tasks import TaskSet
from mtlgroup.training.losses import labelled_tasks
from mtlgroup.training.parameters import shared_parameters
from mtlgroup.training.strategies import UpdateStrategy, register_variant
from mtlgroup.training.torchjd_support import check_options, option_values, require_torchjd


@dataclass(frozen=True)
class AggregatorSpec:
    """One torchjd aggregator as a strategy: its name here, its torchjd class, a one-line
    description with its paper, and its options with the defaults used here (``None``: torchjd's
    own default). ``n_tasks``: the aggregator takes the number of tasks (filled in here)."""

    name: str
    aggregator: str
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)
    n_tasks: bool = False


AGGREGATORS: tuple[AggregatorSpec, ...] = (
    AggregatorSpec("upgrad", "UPGrad", "each gradient projected onto the dual cone of all, "
                   "averaged (Quinton & Rey 2024)", {"pref_vector": None}),
    AggregatorSpec("mgda", "MGDA", "min-norm point of the convex hull of the gradients "
                   "(Sener & Koltun 2018)", {"epsilon": 0.001, "max_iters": 100}),
    AggregatorSpec("pcgrad", "PCGrad", "each gradient projected off the others it conflicts "
                   "with, summed (Yu et al. 2020)"),
    AggregatorSpec("cagrad", "CAGrad", "best worst-task improvement in a ball of radius "
                   "c·|mean gradient| around the mean (Liu et al. 2021)",
                   {"c": 0.4, "norm_eps": 0.0001}),
    AggregatorSpec("nashmtl", "NashMTL", "Nash bargaining solution: Gᵀ G α = 1/α "
                   "(Navon et al. 2022)",
                   {"max_norm": 1.0, "update_weights_every": 1, "optim_niter": 20}, n_tasks=True),
    AggregatorSpec("alignedmtl", "AlignedMTL", "aligns the principal components of the "
                   "Jacobian (Senushkin et al. 2023)", {"pref_vector": None, "scale_mode": "min"}),
    AggregatorSpec("imtlg", "IMTLG", "update with equal projections on every unit gradient "
                   "(IMTL-G, Liu et al. 2021)"),
    AggregatorSpec("graddrop", "GradDrop", "drops gradient signs at random by their purity "
                   "(Chen et al. 2020)", {"leak": None}),
    AggregatorSpec("dualproj", "DualProj", "mean gradient projected onto the dual cone "
                   "(Quinton & Rey 2024)", {"pref_vector": None}),
    AggregatorSpec("config", "ConFIG", "conflict-free direction with equal cosine to every "
                   "gradient (Liu et al. 2024)", {"pref_vector": None}),
    AggregatorSpec("gradvac", "GradVac", "gradient vaccine: pairwise cosines raised to moving "
                   "targets (Wang et al. 2021)", {"beta": 0.5, "eps": 1e-8}),
    AggregatorSpec("fairgrad", "FairGrad", "alpha-fair allocation of the update among tasks "
                   "(Ban & Ji 2024)", {"alpha": 1.0, "max_iters": None}),
)
"""The aggregators registered as strategies (``mtlgroup strategies`` lists them)."""


class AggregatorStrategy(UpdateStrategy):
    """One optimizer step per batch along a torchjd aggregation of the task Jacobian.

    Subclasses (one per :data:`AGGREGATORS` entry, made by :func:`aggregator_strategy`) set
    :attr:`spec`; ``options`` override its defaults.

    Attributes (set by :meth:`setup`): ``steps_``: batches seen; ``weights_history_``:
    ``[(step, tasks, weights)]`` for the aggregators that weight the rows.
    """

    kind: ClassVar[str] = "aggregator"
    source: ClassVar[str] = "torchjd"
    spec: ClassVar[AggregatorSpec]

    def __init__(self, **options: Any):
        check_options(self.name, options, self.spec.options)
        self.options = {**self.spec.options, **options}
        require_torchjd(self.name, "torchjd.aggregation")
        self.make_aggregator(2)  # a bad option value fails here, not at the first step

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        return dict(cls.spec.options)

    def make_aggregator(self, n_tasks: int) -> Any:
        """A fresh torchjd aggregator for ``n_tasks`` rows."""
        aggregation = require_torchjd(self.name, "torchjd.aggregation")
        options = option_values(self.options)
        if self.spec.n_tasks:
            options["n_tasks"] = n_tasks
        try:
            return getattr(aggregation, self.spec.aggregator)(**options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"strategy {self.name!r}: bad options {self.options}: {error}") \
                from error

    def setup(self, model: nn.Module, optimizer: torch.optim.Optimizer, tasks: TaskSet) -> None:
        self._shared = list(shared_parameters(model).values())
        self._aggregators: dict[tuple[str, ...], Any] = {}
        self.steps_ = 0
        self.weights_history_: list[tuple[int, tuple[str, ...], Tensor]] = []

    def aggregator_for(self, present: tuple[str, ...]) -> Any:
        """The aggregator for the tasks ``present`` in a batch (one per set, since stateful ones
        track their rows)."""
        if present not in self._aggregators:
            self._aggregators[present] = self.make_aggregator(len(present))
        return self._aggregators[present]

    def step(
        self,
        model: nn.Module,
        batch: Batch,
        optimizer: torch.optim.Optimizer,
        tasks: TaskSet,
        weights: Mapping[str, float] | None = None,
    ) -> dict[str, Tensor]:
        autojac = require_torchjd(self.name, "torchjd.autojac")
        self.steps_ += 1
        optimizer.zero_grad(set_to_none=True)
        with captured_features(model) as features:
            losses = self.forward_losses(model, batch, tasks)
        present = tuple(labelled_tasks(batch, tasks.names))
        if not present:  # nothing to learn from: no step
            return {t: loss.detach() for t, loss in losses.items()}
        rows = [losses[t] * (weights.get(t, 1.0) if weights else 1.0) for t in present]
        feature = features[-1] if len(features) == 1 else None
        if feature is not None and feature.requires_grad:
            autojac.mtl_backward(rows, features=feature, shared_params=self._shared)
        else:
            backward_without_features(model, rows, self._shared, autojac)
        with_jac = [p for p in self._shared if getattr(p, "jac", None) is not None]
        combined = autojac.jac_to_grad(with_jac, self.aggregator_for(present))
        if combined is not None:
            self.weights_history_.append((self.steps_, present, combined.detach()))
        optimizer.step()
        return {t: loss.detach() for t, loss in losses.items()}

    def weights_over_time(self) -> list[dict[str, Any]]:
        """The aggregation weights of every step, ``[{"step": …, "weights": {task: w}}]``
        (tasks without a label in a step are absent from it; empty for aggregators that do not
        weight the rows, such as GradDrop and ConFIG)."""
        return [{"step": step, "weights": dict(zip(names, w.tolist(), strict=True))}
                for step, names, w in self.weights_history_]


@contextlib.contextmanager
def captured_features(model: nn.Module) -> Iterator[list[Tensor]]:
    """Within the block, the outputs of ``model.encode`` are appended to the yielded list (empty
    for a model without ``encode``/``decode``)."""
    found: list[Tensor] = []
    encode = getattr(model, "encode", None)
    if not callable(encode) or not callable(getattr(model, "decode", None)):
        yield found
        return

    def recording(*args: Any, **kwargs: Any) -> Any:
        out = encode(*args, **kwargs)
        found.append(out)
        return out

    # An instance attribute shadows the method for this forward pass only.
    model.__dict__["encode"] = recording
    try:
        yield found
    finally:
        del model.__dict__["encode"]


def backward_without_features(
    model: nn.Module, rows: list[Tensor], shared: list[nn.Parameter], autojac: Any
) -> None:
    """Task parameters: the gradient of the summed rows (each head only sees its task's loss).
    Shared parameters: the Jacobian of the rows, into ``.jac``."""
    shared_ids = {id(p) for p in shared}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids]
    if others:
        grads = torch.autograd.grad(functools.reduce(operator.add, rows), others, retain_graph=True,
                                    allow_unused=True)
        for p, g in zip(others, grads, strict=True):
            if g is not None:
                p.grad = g
    autojac.backward(rows, inputs=shared)


def aggregator_strategy(spec: AggregatorSpec) -> type[AggregatorStrategy]:
    """The registered strategy class of one aggregator."""
    return cast(type[AggregatorStrategy], register_variant(
        AggregatorStrategy, spec.name, spec.aggregator, spec.description, __name__, spec=spec))


AGGREGATOR_STRATEGIES: dict[str, type[AggregatorStrategy]] = {
    spec.name: aggregator_strategy(spec) for spec in AGGREGATORS
}
"""Strategy class by name, one per aggregator."""
