"""One lookahead probe (TAG, ALGORITHMS §2) and the gradient cosines that come with it.

On one batch ``X`` at the current weights ``θ``, :func:`probe` computes

1. every task's loss ``L_j(X; θ)`` and, per source task ``i``, the gradient ``g_i`` of ``L_i``
   with respect to the *shared* parameters only (``torch.autograd.grad``: the training's
   ``.grad`` buffers are never touched);
2. the lookahead weights ``θ_s − η·g_i`` (or the optimizer's own step, see
   :mod:`mtlgroup.affinity.steps`) stacked over ``i``;
3. every task's loss at each lookahead: ``torch.func.functional_call`` with the stacked weights,
   all ``n`` forward passes at once under ``torch.func.vmap`` on an accelerator, or one
   ``functional_call`` per source on the CPU (no copies of the model either way). On the CPU,
   ``vmap`` turns each convolution into a grouped one, which measured about 25% *slower* than
   the loop (``bench/affinity.py`` prints both), so ``batched=None`` picks by device.

Normalisation layers: every forward pass runs in the model's current mode (the trainer's
training mode, i.e. BatchNorm uses the batch's statistics, as the TAG paper computes) but on
*copies* of the buffers, so running statistics and ``num_batches_tracked`` are never changed.
The global RNG state is saved and restored, so dropout in a probe cannot shift the training's
random stream either.

Example:
    >>> import torch
    >>> from mtlgroup.data import load_dataset
    >>> from mtlgroup.models import make_network
    >>> data = load_dataset("synthetic", n_train=16)
    >>> net = make_network(data.tasks, data.input_shape).train()
    >>> outcome = probe(net, next(data.train.batches(8)), data.tasks, lr=0.01)
    >>> tuple(outcome.lookahead_affinity().shape), tuple(outcome.cosine().shape)
    ((4, 4), (4, 4))
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from mtlgroup.affinity.steps import (
    STEP_RULES,
    StepRule,
    learning_rates,
    optimizer_lookahead,
    sgd_lookahead,
)
from mtlgroup.data.base import Batch
from mtlgroup.tasks import TaskSet
from mtlgroup.training.losses import task_losses
from mtlgroup.training.parameters import shared_parameters  # re-exported (moved to training)

logger = logging.getLogger(__name__)


@dataclass
class ProbeOutcome:
    """What one probe measured (rows/columns in ``tasks`` order; the gradients stay on the
    model's device, everything else is on the CPU).

    Attributes:
        tasks: task names.
        losses: ``[n]``, ``L_j(X; θ)``.
        gradients: ``[n, P]``, each task's flattened gradient w.r.t. the shared parameters.
        lookahead_losses: ``[n_source, n_target]``, ``L_j(X; θ'_i)``; ``None`` if not computed.
        learning_rate: ``η`` of the step (the first shared parameter's learning rate).
    """

    tasks: tuple[str, ...]
    losses: Tensor
    gradients: Tensor
    lookahead_losses: Tensor | None
    learning_rate: float

    def lookahead_affinity(self, divide_by_lr: bool = False) -> Tensor:
        """``Z[i, j] = 1 − L_j(θ'_i) / L_j(θ)`` (row = source); ``NaN`` for a target whose loss
        on this batch is zero or not finite (e.g. no labelled sample)."""
        if self.lookahead_losses is None:
            raise ValueError("this probe did not compute lookahead losses (lookahead=False)")
        base = self.losses
        z = 1.0 - self.lookahead_losses / base.unsqueeze(0)
        undefined = ~(torch.isfinite(base) & (base > 0))
        z[:, undefined] = float("nan")
        return z / self.learning_rate if divide_by_lr else z

    def cosine(self) -> Tensor:
        """``cos(g_i, g_j)``; ``NaN`` in the row and column of a task with a zero gradient."""
        norms = self.gradients.norm(dim=1)
        unit = self.gradients / norms.clamp_min(torch.finfo(norms.dtype).tiny).unsqueeze(1)
        cos = (unit @ unit.T).clamp(-1.0, 1.0).float().cpu()
        zero = (norms == 0).cpu()
        cos[zero, :] = float("nan")
        cos[:, zero] = float("nan")
        return cos


def probe(
    model: nn.Module,
    batch: Batch,
    tasks: TaskSet,
    optimizer: torch.optim.Optimizer | None = None,
    step: StepRule = "sgd",
    lr: float | None = None,
    lookahead: bool = True,
    batched: bool | None = None,
) -> ProbeOutcome:
    """Measure one lookahead probe on ``batch`` without changing anything in ``model``.

    Args:
        model: maps ``batch.inputs`` to ``{task: prediction}``; its shared parameters are found
            by :func:`shared_parameters`.
        tasks: the tasks to probe (sources and targets).
        optimizer: the training optimizer; gives the learning rate(s) and, for
            ``step="optimizer"``, the state of its next step (read only).
        step: ``"sgd"`` (``θ − η·g``) or ``"optimizer"`` (see :mod:`mtlgroup.affinity.steps`).
        lr: learning rate when no optimizer is given (``step="sgd"`` only).
        lookahead: compute the lookahead losses (``False``: gradients only, for cosines).
        batched: evaluate the lookaheads in one ``vmap``-ed pass (``True``) or in a loop of
            ``functional_call`` (``False``; same numbers); ``None``: ``vmap`` except on the CPU.
    """
    if step not in STEP_RULES:
        raise ValueError(f"unknown lookahead step {step!r}; expected one of {STEP_RULES}")
    shared = shared_parameters(model)
    if optimizer is not None:
        lrs = learning_rates(optimizer, shared)
    elif step == "optimizer" or lr is None:
        raise ValueError("probe needs the optimizer (step='optimizer') or a learning rate 'lr'")
    else:
        lrs = dict.fromkeys(shared, float(lr))
    names = tasks.names
    with _rng_untouched(batch.inputs.device):
        params: dict[str, Tensor] = dict(model.named_parameters())
        outputs = functional_call(model, (params, _buffer_copies(model)), (batch.inputs,))
        losses = task_losses(outputs, batch, tasks, names)
        grads = _stacked_gradients([losses[t] for t in names], shared)
        base = torch.stack([losses[t].detach() for t in names])
        del outputs, losses  # free the graph before the lookahead passes
        lookahead_losses = None
        if lookahead:
            if step == "optimizer":
                assert optimizer is not None
                moved = optimizer_lookahead(optimizer, shared, grads)
            else:
                moved = sgd_lookahead(shared, grads, lrs)
            if batched is None:
                batched = batch.inputs.device.type != "cpu"
            lookahead_losses = _lookahead_losses(model, batch, tasks, moved, batched)
    flat = torch.cat([g.reshape(len(names), -1) for g in grads.values()], dim=1)
    return ProbeOutcome(
        tasks=names,
        losses=base.float().cpu(),
        gradients=flat.detach(),  # n × P can be large: no copy to the host
        lookahead_losses=None if lookahead_losses is None else lookahead_losses.float().cpu(),
        learning_rate=next(iter(lrs.values())),
    )


def _stacked_gradients(losses: list[Tensor], shared: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``{name: [n, *shape]}``: the gradient of each loss w.r.t. each shared parameter."""
    inputs = list(shared.values())
    per_task = []
    for k, loss in enumerate(losses):
        grads = torch.autograd.grad(
            loss, inputs, retain_graph=k < len(losses) - 1, allow_unused=True
        )
        # A task whose loss does not reach a shared parameter has a zero gradient there.
        per_task.append([torch.zeros_like(p) if g is None else g for g, p in zip(grads, inputs,
                                                                                strict=True)])
    return {
        name: torch.stack([grads[j] for grads in per_task])
        for j, name in enumerate(shared)
    }


def _lookahead_losses(
    model: nn.Module, batch: Batch, tasks: TaskSet, moved: Mapping[str, Tensor], batched: bool
) -> Tensor:
    """``[n_source, n_target]`` losses with the shared weights replaced by each stacked row."""
    n = next(iter(moved.values())).shape[0]
    fixed = {k: v.detach() for k, v in model.named_parameters() if k not in moved}

    def forward(weights: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor):
        return functional_call(model, ({**fixed, **weights}, buffers), (x,))

    with torch.no_grad():
        outputs = None
        if batched:
            stacked_buffers = {
                k: v.detach().unsqueeze(0).expand(n, *v.shape).clone()
                for k, v in model.named_buffers()
            }
            try:
                outputs = vmap(forward, in_dims=(0, 0, None), randomness="same")(
                    dict(moved), stacked_buffers, batch.inputs
                )
            except RuntimeError as error:  # an op without a vmap rule: same numbers, in a loop
                logger.warning("lookahead probe: vmap failed (%s); evaluating in a loop", error)
        rows = []
        for i in range(n):
            if outputs is not None:
                out_i = {t: outputs[t][i] for t in tasks.names}
            else:
                out_i = forward({k: v[i] for k, v in moved.items()}, _buffer_copies(model),
                                batch.inputs)
            losses = task_losses(out_i, batch, tasks)
            rows.append(torch.stack([losses[t] for t in tasks.names]))
    return torch.stack(rows)


def _buffer_copies(model: nn.Module) -> dict[str, Tensor]:
    """Copies of every buffer: a train-mode forward updates these, not the model's."""
    return {k: v.detach().clone() for k, v in model.named_buffers()}


@contextlib.contextmanager
def _rng_untouched(device: torch.device) -> Iterator[None]:
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
