"""One lookahead probe (TAG, ALGORITHMS §2) and the gradient cosines that come with it.

On one batch ``X`` at the current weights ``θ``, :func:`probe` computes

1. every task's loss ``L_j(X; θ)`` and, per source task ``i``, the gradient ``g_i`` of ``L_i``
   with respect to the *shared* parameters only (``torch.autograd.grad``: the training's
   ``.grad`` buffers are never touched). :func:`probe_losses` starts from losses already
   computed (the training step's own forward pass, see
   :class:`~mtlgroup.affinity.callback.LookaheadProbe`), :func:`probe` runs that pass itself;
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
Dropout: the RNG state of the "before" pass is replayed before every lookahead pass, so all of
them draw the same masks (with ``lr = 0`` the lookahead losses equal the base losses exactly),
and the RNG is left as it was found, so a probe cannot shift the training's random stream.

Undefined entries: a task whose loss on the batch is zero or not finite (no labelled sample)
gives a ``NaN`` column as a target and a ``NaN`` row as a source (it has no gradient; under the
``optimizer`` step rule its "step" would be momentum alone) — its lookahead pass is skipped.

First-order TAG (ALGORITHMS §2): ``Z_{i→j} ≈ ⟨θ − θ'_i, g_j⟩ / L_j`` (``= η·⟨g_i, g_j⟩ / L_j``
for the ``sgd`` rule), the first-order Taylor expansion of the lookahead, from the gradients
alone: every probe computes it (:meth:`ProbeOutcome.first_order_affinity`), with or without the
lookahead passes.

Example:
    >>> import torch
    >>> from mtlgroup.data import load_dataset
    >>> from mtlgroup.models import make_network
    >>> data = load_dataset("synthetic", n_train=16)
    >>> net = make_network(data.tasks, data.input_shape).train()
    >>> outcome = probe(net, next(data.train.batches(8)), data.tasks, lr=0.01)
    >>> tuple(outcome.lookahead_affinity().shape), tuple(outcome.cosine().shape)
    ((4, 4), (4, 4))
    >>> tuple(outcome.first_order_affinity().shape)
    (4, 4)
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
    optimizer_update,
    sgd_update,
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
        lookahead_losses: ``[n_source, n_target]``, ``L_j(X; θ'_i)``; ``None`` if not computed
            (``NaN`` rows for undefined sources).
        step_products: ``[n_source, n_target]``, ``⟨θ − θ'_i, g_j⟩`` (first-order TAG).
        learning_rate: ``η`` of the step (the first shared parameter's learning rate).
    """

    tasks: tuple[str, ...]
    losses: Tensor
    gradients: Tensor
    lookahead_losses: Tensor | None
    step_products: Tensor
    learning_rate: float

    @property
    def defined(self) -> Tensor:
        """``[n]`` bool: tasks whose loss on this batch is positive and finite (a task with no
        labelled sample has a zero loss and no gradient)."""
        return torch.isfinite(self.losses) & (self.losses > 0)

    def lookahead_affinity(self, divide_by_lr: bool = False) -> Tensor:
        """``Z[i, j] = 1 − L_j(θ'_i) / L_j(θ)`` (row = source); ``NaN`` in the row and the
        column of a task whose loss on this batch is zero or not finite (no labelled sample)."""
        if self.lookahead_losses is None:
            raise ValueError("this probe did not compute lookahead losses (lookahead=False)")
        return self._masked(1.0 - self.lookahead_losses / self.losses.unsqueeze(0), divide_by_lr)

    def first_order_affinity(self, divide_by_lr: bool = False) -> Tensor:
        """First-order TAG: ``Z[i, j] ≈ ⟨θ − θ'_i, g_j⟩ / L_j(θ)``, same ``NaN`` rule as
        :meth:`lookahead_affinity`."""
        return self._masked(self.step_products / self.losses.unsqueeze(0), divide_by_lr)

    def _masked(self, z: Tensor, divide_by_lr: bool) -> Tensor:
        undefined = ~self.defined
        z[:, undefined] = float("nan")
        z[undefined, :] = float("nan")
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
        lookahead: compute the lookahead losses (``False``: gradients only, for cosines and
            first-order TAG).
        batched: evaluate the lookaheads in one ``vmap``-ed pass (``True``) or in a loop of
            ``functional_call`` (``False``; same numbers); ``None``: ``vmap`` except on the CPU.
    """
    _check_step(step, optimizer, lr)
    shared_parameters(model)  # a model without shared parameters fails before its forward pass
    with _rng_untouched(batch.inputs.device):
        replay = RngState.capture(batch.inputs.device)
        params: dict[str, Tensor] = dict(model.named_parameters())
        outputs = functional_call(model, (params, _buffer_copies(model)), (batch.inputs,))
        losses = task_losses(outputs, batch, tasks, tasks.names)
        del outputs  # the graph lives on through the losses until the gradients are taken
        return probe_losses(model, batch, tasks, losses, optimizer, step, lr, lookahead, batched,
                            replay=replay, keep_graph=False)


def probe_losses(
    model: nn.Module,
    batch: Batch,
    tasks: TaskSet,
    losses: Mapping[str, Tensor],
    optimizer: torch.optim.Optimizer | None = None,
    step: StepRule = "sgd",
    lr: float | None = None,
    lookahead: bool = True,
    batched: bool | None = None,
    replay: RngState | None = None,
    keep_graph: bool = True,
) -> ProbeOutcome:
    """:func:`probe` from ``losses`` already computed at the current weights on ``batch`` (with
    their graph: e.g. a training step's forward pass, whose backward pass follows).

    ``replay`` is the RNG state from just before that forward pass: every lookahead pass starts
    from it, so dropout draws the same masks as the "before" pass. ``keep_graph`` keeps the
    graph for a later backward pass (the training's). The RNG is left as it was found.
    """
    return start_probe(model, batch, tasks, losses, optimizer, step, lr, lookahead, batched,
                       replay, keep_graph).finish()


def start_probe(
    model: nn.Module,
    batch: Batch,
    tasks: TaskSet,
    losses: Mapping[str, Tensor],
    optimizer: torch.optim.Optimizer | None = None,
    step: StepRule = "sgd",
    lr: float | None = None,
    lookahead: bool = True,
    batched: bool | None = None,
    replay: RngState | None = None,
    keep_graph: bool = True,
) -> PendingProbe:
    """The first half of :func:`probe_losses` (same arguments): the gradients and the lookahead
    weights. :meth:`PendingProbe.finish` runs the lookahead passes; it may run later (after the
    training's backward pass has freed the graph: less memory held during the passes), as long
    as the weights have not moved yet."""
    _check_step(step, optimizer, lr)
    shared = shared_parameters(model)
    if optimizer is not None:
        lrs = learning_rates(optimizer, shared)
    else:
        assert lr is not None  # _check_step
        lrs = dict.fromkeys(shared, float(lr))
    names = tasks.names
    with _rng_untouched(batch.inputs.device):
        grads = _stacked_gradients([losses[t] for t in names], shared, keep_graph)
    base = torch.stack([losses[t].detach() for t in names])
    if step == "optimizer":
        assert optimizer is not None
        updates = optimizer_update(optimizer, shared, grads)
    else:
        updates = sgd_update(grads, lrs)
    flat = torch.cat([g.reshape(len(names), -1) for g in grads.values()], dim=1)
    flat_updates = torch.cat([u.reshape(len(names), -1) for u in updates.values()], dim=1)
    moved = None
    if lookahead:
        moved = {k: p.detach() - updates[k] for k, p in shared.items()}
    if batched is None:
        batched = batch.inputs.device.type != "cpu"
    return PendingProbe(model, batch, tasks, replay, batched, moved, ProbeOutcome(
        tasks=names,
        losses=base.float().cpu(),
        gradients=flat.detach(),  # n × P can be large: no copy to the host
        lookahead_losses=None,
        step_products=(flat_updates @ flat.T).float().cpu(),
        learning_rate=next(iter(lrs.values())),
    ))


@dataclass
class PendingProbe:
    """A probe whose gradients are taken and whose lookahead passes are still to run."""

    model: nn.Module
    batch: Batch
    tasks: TaskSet
    replay: RngState | None
    batched: bool
    moved: dict[str, Tensor] | None  # ``None``: no lookahead passes (gradients only)
    outcome: ProbeOutcome

    def finish(self) -> ProbeOutcome:
        """Run the lookahead passes (the model's weights must still be those probed)."""
        if self.moved is None:
            return self.outcome
        n = len(self.tasks.names)
        defined = self.outcome.defined
        lookahead_losses = torch.full((n, n), float("nan"))
        if defined.any():  # an undefined source's row is NaN: skip its pass
            with _rng_untouched(self.batch.inputs.device):
                rows = _lookahead_losses(self.model, self.batch, self.tasks,
                                         {k: v[defined.to(v.device)]
                                          for k, v in self.moved.items()},
                                         self.batched, self.replay)
            lookahead_losses[defined] = rows.float().cpu()
        self.outcome.lookahead_losses = lookahead_losses
        self.moved = None
        return self.outcome


def _check_step(step: str, optimizer: torch.optim.Optimizer | None, lr: float | None) -> None:
    if step not in STEP_RULES:
        raise ValueError(f"unknown lookahead step {step!r}; expected one of {STEP_RULES}")
    if optimizer is None and (step == "optimizer" or lr is None):
        raise ValueError("probe needs the optimizer (step='optimizer') or a learning rate 'lr'")


def _stacked_gradients(
    losses: list[Tensor], shared: Mapping[str, Tensor], keep_graph: bool
) -> dict[str, Tensor]:
    """``{name: [n, *shape]}``: the gradient of each loss w.r.t. each shared parameter."""
    inputs = list(shared.values())
    per_task = []
    for k, loss in enumerate(losses):
        grads = torch.autograd.grad(
            loss, inputs, retain_graph=keep_graph or k < len(losses) - 1, allow_unused=True
        )
        # A task whose loss does not reach a shared parameter has a zero gradient there.
        per_task.append([torch.zeros_like(p) if g is None else g for g, p in zip(grads, inputs,
                                                                                strict=True)])
    return {
        name: torch.stack([grads[j] for grads in per_task])
        for j, name in enumerate(shared)
    }


def _lookahead_losses(
    model: nn.Module, batch: Batch, tasks: TaskSet, moved: Mapping[str, Tensor], batched: bool,
    replay: RngState | None,
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
                if replay is not None:
                    replay.restore()  # randomness="same": one set of masks for every row
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
                if replay is not None:
                    replay.restore()
                out_i = forward({k: v[i] for k, v in moved.items()}, _buffer_copies(model),
                                batch.inputs)
            losses = task_losses(out_i, batch, tasks)
            rows.append(torch.stack([losses[t] for t in tasks.names]))
    return torch.stack(rows)


def _buffer_copies(model: nn.Module) -> dict[str, Tensor]:
    """Copies of every buffer: a train-mode forward updates these, not the model's."""
    return {k: v.detach().clone() for k, v in model.named_buffers()}


@dataclass(frozen=True)
class RngState:
    """The CPU generator's state and, on a CUDA device, that device's: what dropout draws from.

    Example:
        >>> state = RngState.capture(torch.device("cpu"))
        >>> a = torch.rand(2); state.restore(); torch.equal(a, torch.rand(2))
        True
    """

    cpu: Tensor
    cuda: Tensor | None = None
    device: torch.device | None = None

    @classmethod
    def capture(cls, device: torch.device) -> RngState:
        if device.type == "cuda":
            return cls(torch.get_rng_state(), torch.cuda.get_rng_state(device), device)
        return cls(torch.get_rng_state())

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None and self.device is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


@contextlib.contextmanager
def _rng_untouched(device: torch.device) -> Iterator[None]:
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
