"""GradNorm (Chen et al., ICML 2018): task weights learned to balance gradient norms.

torchjd has no GradNorm, so it is written here. Per batch, with weights ``w_i`` (initially 1,
renormalised to sum to the number of tasks ``K`` after every update):

1. one forward pass; ``G_i = w_i·‖∇_W L_i‖`` on the parameters ``W`` of the last shared layer;
2. the targets ``Ḡ·r_i^α``, with ``Ḡ`` the mean of the ``G_i``, ``r_i = L̃_i / mean(L̃)`` the
   relative inverse training rate and ``L̃_i = L_i(t) / L_i(0)`` (``L_i(0)``: the task's first
   loss), held constant;
3. the model steps on ``Σ w_i·L_i`` (weights held constant), one optimizer step;
4. the weights step on ``Σ |G_i − target_i|`` with their own Adam (``lr``), are kept above
   ``1e-3`` and renormalised to sum to ``K``.

The last shared layer is found once, from the autograd graph of the first step's losses: walking
back from the losses, the first shared parameter with two dimensions or more (a weight matrix or
kernel, so a trailing normalisation layer does not count) is reached, and ``W`` is every shared
parameter of the module that owns it. ``layer="all"`` uses every shared parameter instead (a
full backward pass per task instead of one through the last layer).

Cost: one backward pass per task down to ``W`` (cheap for the last layer) plus the joint step.
A task with no labelled sample in the batch has no gradient there: it is left out of ``Ḡ`` and
of the weights' loss for that step.

Example:
    >>> from mtlgroup.data import load_dataset
    >>> from mtlgroup.training import TrainConfig, train_network
    >>> data = load_dataset("synthetic", n_train=32, n_val=8, n_test=8)
    >>> gradnorm = GradNormStrategy(alpha=1.5)
    >>> _ = train_network(data.tasks.names, data, 0.25, TrainConfig(max_steps=3, batch_size=16),
    ...                   strategy=gradnorm)
    >>> round(sum(gradnorm.weights_.values()), 6)  # renormalised to the number of tasks
    4.0
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from mtlgroup.data.base import Batch
from mtlgroup.tasks import TaskSet
from mtlgroup.training.losses import labelled_tasks
from mtlgroup.training.parameters import shared_parameters
from mtlgroup.training.strategies import UpdateStrategy, register_strategy

MIN_WEIGHT = 1e-3
"""Weights are kept above this before renormalising (a weight at 0 would stop its task)."""


@register_strategy
class GradNormStrategy(UpdateStrategy):
    """GradNorm: loss weights that equalise the tasks' gradient norms on the last shared layer,
    scaled by their relative training rates.

    Args:
        alpha: asymmetry ``α`` (paper: 1.5; 0 equalises the weighted gradient norms).
        lr: learning rate of the weights' Adam optimizer.
        layer: ``"last"`` (the last shared layer, found from the graph) or ``"all"`` (every
            shared parameter).

    Attributes (set by :meth:`setup`): ``weights_``: the current weights by task;
    ``layer_``: the names of the parameters the norms are taken on (known after the first
    step); ``initial_losses_``: ``L_i(0)``; ``steps_``: batches seen.
    """

    name = "gradnorm"
    kind: ClassVar[str] = "loss-weighting"
    source: ClassVar[str] = "mtlgroup"

    def __init__(self, alpha: float = 1.5, lr: float = 0.025,
                 layer: Literal["last", "all"] = "last"):
        if alpha < 0 or lr <= 0:
            raise ValueError(f"gradnorm: need alpha >= 0 and lr > 0, got alpha={alpha}, lr={lr}")
        if layer not in ("last", "all"):
            raise ValueError(f"gradnorm: layer must be 'last' or 'all', got {layer!r}")
        self.alpha, self.lr, self.layer = alpha, lr, layer

    def setup(self, model: nn.Module, optimizer: torch.optim.Optimizer, tasks: TaskSet) -> None:
        self._shared = shared_parameters(model)
        device = next(iter(self._shared.values())).device
        self._names = tasks.names
        self._w = torch.ones(len(tasks), device=device, requires_grad=True)
        self._optimizer = torch.optim.Adam([self._w], lr=self.lr)
        self._on: list[nn.Parameter] | None = None
        self.layer_: list[str] = []
        self.initial_losses_: dict[str, float] = {}
        self.steps_ = 0
        self.weights_history_: list[tuple[int, Tensor]] = []

    @property
    def weights_(self) -> dict[str, float]:
        return dict(zip(self._names, self._w.detach().tolist(), strict=True))

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
        present = labelled_tasks(batch, tasks.names)
        index = [self._names.index(t) for t in present]
        scale = {t: weights.get(t, 1.0) if weights else 1.0 for t in tasks.names}
        if self._on is None and present:
            self._on = self._norm_parameters([losses[t] for t in present])
        norms = torch.stack([
            _gradient_norm(losses[t] * scale[t], self._on or []) for t in present
        ]) if present else None
        w = self._w.detach()
        total = sum((w[i] * scale[t] * losses[t] for i, t in enumerate(tasks.names)),
                    torch.zeros((), device=w.device))
        total.backward()
        optimizer.step()
        if norms is not None:
            self._update_weights(index, norms, {t: float(losses[t].detach()) for t in present})
        return {t: loss.detach() for t, loss in losses.items()}

    def weights_over_time(self) -> list[dict[str, Any]]:
        """The weights after every step, ``[{"step": …, "weights": {task: w}}]``."""
        return [{"step": step, "weights": dict(zip(self._names, w.tolist(), strict=True))}
                for step, w in self.weights_history_]

    def _update_weights(self, index: list[int], norms: Tensor, current: dict[str, float]) -> None:
        for task, value in current.items():
            self.initial_losses_.setdefault(task, value)
        ratios = torch.tensor([current[t] / self.initial_losses_[t] if self.initial_losses_[t]
                               else 1.0 for t in current], device=norms.device)
        rates = ratios / ratios.mean()
        weighted = self._w[index] * norms  # G_i, linear in w_i (norms held constant)
        target = (weighted.mean() * rates ** self.alpha).detach()
        self._optimizer.zero_grad(set_to_none=True)
        (weighted - target).abs().sum().backward()
        self._optimizer.step()
        with torch.no_grad():
            self._w.clamp_(min=MIN_WEIGHT)
            self._w.mul_(len(self._names) / self._w.sum())
        self.weights_history_.append((self.steps_, self._w.detach().clone()))

    def _norm_parameters(self, losses: list[Tensor]) -> list[nn.Parameter]:
        if self.layer == "all":
            self.layer_ = list(self._shared)
            return list(self._shared.values())
        names = {id(p): n for n, p in self._shared.items()}
        found = _first_reached(losses, lambda p: id(p) in names and p.dim() >= 2)
        if found is None:  # no weight matrix among the shared parameters: take them all
            self.layer_ = list(self._shared)
            return list(self._shared.values())
        owner = names[id(found)].rpartition(".")[0]
        self.layer_ = [n for n in self._shared if n.rpartition(".")[0] == owner]
        return [self._shared[n] for n in self.layer_]


def _gradient_norm(loss: Tensor, params: list[nn.Parameter]) -> Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    squares = [g.pow(2).sum() for g in grads if g is not None]
    return torch.sqrt(torch.stack(squares).sum()).detach() if squares else loss.new_zeros(())


def _first_reached(roots: Iterable[Tensor], accept: Any) -> nn.Parameter | None:
    """The first leaf tensor ``accept`` takes, walking the autograd graph breadth first from
    ``roots`` (so the nearest to the losses)."""
    queue: deque[Any] = deque(r.grad_fn for r in roots if r.grad_fn is not None)
    seen: set[Any] = set()
    while queue:
        node = queue.popleft()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # an AccumulateGrad node holds its leaf
        if variable is not None and accept(variable):
            return variable
        queue.extend(next_node for next_node, _ in node.next_functions)
    return None
