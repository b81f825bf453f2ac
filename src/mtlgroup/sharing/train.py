"""Learning a sub-task's deltas from the base network (ALGORITHMS §4).

:func:`train_task_delta` turns the base task's single-task ViT into a sub-task's network in three
phases:

1. **Sparse training.** ``Δ`` starts at zero and the sub-task's own small parameters (biases,
   LayerNorms, position embedding) at the base's, so the sub-task starts out computing exactly
   the base's features; its head comes from its own single-task network. ``Δ``, the own
   parameters and the head are trained on the task's loss plus a penalty on ``Δ`` (L1, or L0
   through hard-concrete gates, Louizos et al. 2018) and an L1 penalty on the activation
   differences ``δ = x_sub − x_base`` at the input of every linear layer.
2. **Pruning and fine-tuning.** Each layer keeps the ``weight_density`` largest entries of
   ``|Δ|``; the mask is frozen and the kept entries (with the own parameters and head) are
   fine-tuned. The epoch with the lowest validation loss is kept (model selection uses
   validation data only, ALGORITHMS §6).
3. **Thresholds.** :func:`calibrate_thresholds` sets each layer's ``τ`` to the
   ``activation_sparsity`` quantile of ``|δ|`` on training images, so that fraction of the
   differences is dropped at inference; optionally (``threshold_epochs``) a short fine-tune
   with the thresholds applied, kept only if it lowers the validation loss.

Every training forward is dense and differentiable: layer ``name`` computes
``F.linear(x_base + δ_kept, W_base + M ⊙ Δ, b_sub)``, the value that the sparse computation
``y_base + W_base·δ + (M⊙Δ)·x`` of :mod:`mtlgroup.sharing` reproduces (up to the bias, which is
the sub-task's own).

Example:
    >>> import torch
    >>> from mtlgroup.data.synthetic import load_synthetic
    >>> from mtlgroup.models.vit import vit_network
    >>> data = load_synthetic(n_train=16, n_val=8, n_test=8)
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> base = vit_network(data.tasks.subset(["bright"]), data.input_shape, base_width=16,
    ...                    depth=1)
    >>> config = DeltaConfig(sparse_epochs=1, finetune_epochs=1, device="cpu")
    >>> delta = train_task_delta(base, "bright", None, data.tasks["contrast"], data, config)
    >>> round(delta.density(), 2), sorted(delta.thresholds) == sorted(base.encoder.linear_names)
    (0.05, True)
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlgroup.data.base import MultiTaskData, Split, steps_per_epoch
from mtlgroup.device import resolve_device
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.vit import ViTEncoder, vit_head
from mtlgroup.progress import progress_bar
from mtlgroup.sharing.deltas import (
    LinearRecorder,
    TaskDelta,
    own_state_of,
    subtask_network,
    vit_encoder,
    zero_delta,
)
from mtlgroup.tasks import Task, TaskSet
from mtlgroup.training.losses import check_finite, evaluate, task_losses

Penalty = Literal["l1", "l0"]

# Hard-concrete distribution (Louizos et al. 2018): temperature and stretch interval.
_BETA, _GAMMA, _ZETA = 2.0 / 3.0, -0.1, 1.1
# Gates start mostly open (P(gate ≠ 0) ≈ 0.98): while Δ is zero a closed gate would receive
# no gradient to open it.
_GATE_INIT = 3.0
# A gate's log-odds must travel O(1) in a short run while Δ's entries move by O(1e-2): the
# gates get a proportionally larger step.
_GATE_LR_FACTOR = 50.0
# Calibration keeps at most this many |δ| values per layer (an evenly strided subset beyond):
# a quantile is stable long before, and kthvalue's memory stays bounded.
_MAX_CALIBRATION_VALUES = 1 << 24


@dataclass(frozen=True)
class DeltaConfig:
    """How a sub-task's deltas are learned (:func:`train_task_delta`).

    Attributes:
        weight_density: fraction of each linear weight's entries a sub-task keeps in ``Δ``.
        activation_sparsity: fraction of the activation differences ``δ`` dropped at each
            linear layer (the quantile of ``|δ|`` that becomes its threshold).
        penalty: ``"l1"`` (on ``|Δ|``) or ``"l0"`` (hard-concrete gates on ``Δ``'s entries).
        weight_penalty: weight of the ``Δ`` penalty: times the mean ``|Δ|`` per layer (L1) or
            the expected fraction of open gates per layer (L0), averaged over layers.
        activation_penalty: weight of the mean ``|δ|`` per linear input, averaged over layers.
        sparse_epochs: epochs of phase 1 (penalised, before pruning).
        finetune_epochs: epochs of phase 2 (mask frozen); the best on validation is kept.
        threshold_epochs: epochs of the optional fine-tune with thresholds applied (0: none).
        lr: Adam's learning rate.
        batch_size: training batch size.
        calibration_images: training images the thresholds are calibrated on (the first ones).
        seed: seeds the fresh head (if any), the batch order and the gates' noise.
        device: ``auto``, ``cpu``, ``cuda``... (:func:`mtlgroup.device.resolve_device`).

    Example:
        >>> DeltaConfig().weight_density, DeltaConfig(penalty="l0").penalty
        (0.05, 'l0')
        >>> DeltaConfig(weight_density=0)
        Traceback (most recent call last):
        ...
        ValueError: invalid delta configuration: weight_density=0 (must be in (0, 1])
    """

    weight_density: float = 0.05
    activation_sparsity: float = 0.9
    penalty: Penalty = "l1"
    weight_penalty: float = 1.0
    activation_penalty: float = 0.1
    sparse_epochs: int = 5
    finetune_epochs: int = 5
    threshold_epochs: int = 0
    lr: float = 1e-3
    batch_size: int = 64
    calibration_images: int = 256
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        def number(value: object) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and \
                math.isfinite(value)

        def count(value: object, least: int) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and value >= least

        checks = {
            "weight_density": (number(self.weight_density) and 0 < self.weight_density <= 1,
                               "must be in (0, 1]"),
            "activation_sparsity": (number(self.activation_sparsity)
                                    and 0 <= self.activation_sparsity < 1, "must be in [0, 1)"),
            "penalty": (self.penalty in ("l1", "l0"), "must be 'l1' or 'l0'"),
            "weight_penalty": (number(self.weight_penalty) and self.weight_penalty >= 0,
                               "must be >= 0"),
            "activation_penalty": (number(self.activation_penalty)
                                   and self.activation_penalty >= 0, "must be >= 0"),
            "sparse_epochs": (count(self.sparse_epochs, 0), "must be an integer >= 0"),
            "finetune_epochs": (count(self.finetune_epochs, 0), "must be an integer >= 0"),
            "threshold_epochs": (count(self.threshold_epochs, 0), "must be an integer >= 0"),
            "lr": (number(self.lr) and self.lr > 0, "must be > 0"),
            "batch_size": (count(self.batch_size, 1), "must be an integer >= 1"),
            "calibration_images": (count(self.calibration_images, 1), "must be an integer >= 1"),
            "seed": (count(self.seed, 0), "must be an integer >= 0"),
        }
        bad = [f"{name}={getattr(self, name)!r} ({why})" for name, (ok, why) in checks.items()
               if not ok]
        if bad:
            raise ValueError(f"invalid delta configuration: {', '.join(bad)}")
        resolve_device(self.device)  # an unknown or unavailable device fails here, by name

    def short(self, epochs: int = 1) -> DeltaConfig:
        """The same configuration with ``epochs`` epochs per phase (what a measurement of
        several candidate bases affords).

        >>> DeltaConfig().short().sparse_epochs
        1
        """
        return dataclasses.replace(self, sparse_epochs=epochs, finetune_epochs=epochs,
                                   threshold_epochs=min(self.threshold_epochs, epochs))


class _SubTask(nn.Module):
    """A sub-task as a trainable dense network next to a frozen copy of the base encoder.

    Its encoder is a copy of the base's whose linear weights stay frozen at ``W_base``; layer
    ``name`` adds ``M ⊙ Δ`` (times the hard-concrete gates with ``gated``) and, when
    ``thresholds`` are set, reads its input as ``x_base + δ`` with entries ``|δ| < τ`` dropped
    (the gradient reaches the kept entries only). ``forward`` returns ``{task: prediction}``
    like a :class:`~mtlgroup.models.multitask.MultiTaskNet`, so the package's evaluation runs
    on it as it is.
    """

    def __init__(self, base: ViTEncoder, delta: TaskDelta, masks: Mapping[str, Tensor] | None
                 = None, gated: bool = False):
        super().__init__()
        self.task = delta.task
        self.base = copy.deepcopy(base).requires_grad_(False)
        self.encoder = copy.deepcopy(base)
        self.encoder.load_state_dict({**self.encoder.state_dict(), **delta.own_state})
        self.names = tuple(base.linear_names)
        self.index = {name: i for i, name in enumerate(self.names)}
        for name in self.names:
            self.encoder.linear_layer(name).weight.requires_grad_(False)
        self.head = copy.deepcopy(delta.head)
        self.delta = nn.ParameterList(
            nn.Parameter(delta.weight_deltas[name].detach().clone().float()) for name in self.names
        )
        for i, name in enumerate(self.names):
            mask = torch.ones_like(self.delta[i]) if masks is None else masks[name].float()
            self.register_buffer(f"mask_{i}", mask)
        self.log_alpha = nn.ParameterList(
            nn.Parameter(torch.full_like(p, _GATE_INIT)) for p in self.delta
        ) if gated else None
        self.thresholds: dict[str, float] = {}
        self.compare = True  # run the base alongside, so δ exists (penalty, thresholds)
        self.noise: torch.Generator | None = None
        self.gaps: list[Tensor] = []

    def mask(self, i: int) -> Tensor:
        mask = getattr(self, f"mask_{i}")
        assert isinstance(mask, Tensor)
        return mask

    def gate(self, i: int) -> Tensor:
        """The hard-concrete gate of every entry of layer ``i``: a sample in training, its
        deterministic value (the stretched sigmoid of the log-odds, clipped) in eval."""
        assert self.log_alpha is not None
        log_alpha = self.log_alpha[i]
        if self.training:
            u = torch.rand(log_alpha.shape, generator=self.noise, device=log_alpha.device)
            u = u.clamp(1e-6, 1 - 1e-6)
            s = torch.sigmoid((u.log() - (-u).log1p() + log_alpha) / _BETA)
        else:
            s = torch.sigmoid(log_alpha)
        return (s * (_ZETA - _GAMMA) + _GAMMA).clamp(0.0, 1.0)

    def effective_delta(self, i: int) -> Tensor:
        """``M ⊙ Δ`` of layer ``i`` (times its gates when gated)."""
        delta = self.delta[i] * self.mask(i)
        return delta * self.gate(i) if self.log_alpha is not None else delta

    def weight_penalty(self) -> Tensor:
        """Mean over layers of mean ``|M ⊙ Δ|`` (L1) or of the expected fraction of open
        gates (L0: ``P(gate ≠ 0) = sigmoid(log α − β·log(−γ/ζ))``)."""
        if self.log_alpha is not None:
            shift = _BETA * math.log(-_GAMMA / _ZETA)
            terms = [torch.sigmoid(a - shift).mean() for a in self.log_alpha]
        else:
            terms = [(d * self.mask(i)).abs().mean() for i, d in enumerate(self.delta)]
        return torch.stack(terms).mean()

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        base_inputs: dict[str, Tensor] = {}
        if self.compare:
            recorder = LinearRecorder()
            with torch.no_grad():
                self.base.tokens(images, recorder)
            base_inputs = recorder.inputs
        self.gaps = []

        def linear(name: str, layer: nn.Linear, x: Tensor) -> Tensor:
            if base_inputs:
                x_base = base_inputs[name]
                delta = x - x_base
                self.gaps.append(delta.abs().mean())
                tau = self.thresholds.get(name, 0.0)
                if tau > 0:
                    x = x_base + delta * (delta.abs() >= tau)
            weight = layer.weight + self.effective_delta(self.index[name])
            return F.linear(x, weight, layer.bias)

        return {self.task: self.head(self.encoder(images, linear))}

    def activation_penalty(self) -> Tensor:
        """Mean over layers of mean ``|δ|`` in the last forward."""
        return torch.stack(self.gaps).mean()

    def to_delta(self, thresholds: Mapping[str, float] | None = None) -> TaskDelta:
        """The sub-task as a :class:`TaskDelta` (on the CPU), gates folded into ``Δ``."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            deltas = {name: self.effective_delta(i).detach().cpu().clone()
                      for i, name in enumerate(self.names)}
        self.train(was_training)
        own = {key: value.cpu() for key, value in own_state_of(self.encoder).items()}
        return TaskDelta(self.task, deltas, own, copy.deepcopy(self.head).cpu(),
                         dict(thresholds or {}))

    def trainable(self) -> list[dict[str, object]]:
        """Adam parameter groups: Δ, own parameters and head; the gates with a larger step."""
        gates = list(self.log_alpha) if self.log_alpha is not None else []
        gate_ids = {id(p) for p in gates}
        others = [p for p in self.parameters() if p.requires_grad and id(p) not in gate_ids]
        groups: list[dict[str, object]] = [{"params": others}]
        if gates:
            groups.append({"params": gates, "lr_factor": _GATE_LR_FACTOR})
        return groups


def per_layer_masks(weight_deltas: Mapping[str, Tensor], density: float) -> dict[str, Tensor]:
    """For each layer, the mask of the ``round(density · entries)`` (at least one) largest
    ``|Δ|`` entries.

    The budget is per layer rather than one global cut: layers differ in scale (the patch
    embedding reads pixels, ``fc2`` a wider hidden layer), and a global cut would give some
    layers everything and others nothing; a fixed density per layer also makes each layer's
    stored entries and sparse multiply-adds predictable.

    Example:
        >>> masks = per_layer_masks({"a": torch.tensor([[0.1, -3.0], [2.0, 0.0]])}, 0.5)
        >>> masks["a"].tolist()
        [[False, True], [True, False]]
    """
    masks = {}
    for name, delta in weight_deltas.items():
        keep = max(1, round(density * delta.numel()))
        chosen = delta.detach().abs().flatten().topk(keep).indices
        mask = torch.zeros(delta.numel(), dtype=torch.bool, device=delta.device)
        mask[chosen] = True
        masks[name] = mask.reshape(delta.shape)
    return masks


def _linear_inputs(base: ViTEncoder, sub: ViTEncoder, images: Tensor) -> tuple[
        dict[str, Tensor], dict[str, Tensor]]:
    base_recorder, sub_recorder = LinearRecorder(), LinearRecorder()
    base.tokens(images, base_recorder)
    sub.tokens(images, sub_recorder)
    return base_recorder.inputs, sub_recorder.inputs


@torch.no_grad()
def calibrate_thresholds(base: MultiTaskNet, delta: TaskDelta, images: Tensor,
                         sparsity: float, batch_size: int = 256) -> dict[str, float]:
    """Per linear layer, ``τ`` = the ``sparsity`` quantile of ``|δ|`` (``δ = x_sub − x_base``
    at the layer's input) over ``images``, so that about that fraction of the entries falls
    under it and is dropped (``|δ| < τ``). A layer whose differences are all zero (the patch
    embedding reads the same pixels) gets ``τ = 0``: nothing to compute there anyway.

    Example:
        >>> from mtlgroup.models.vit import vit_network
        >>> from mtlgroup.sharing.deltas import delta_between
        >>> from mtlgroup.tasks import Task
        >>> _ = torch.manual_seed(0)
        >>> nets = [vit_network([Task("a", "label", 2)], (3, 8, 8), base_width=8, depth=1)
        ...         for _ in range(2)]
        >>> tau = calibrate_thresholds(nets[0], delta_between(nets[0], nets[1], "a"),
        ...                            torch.rand(4, 3, 8, 8), 0.9)
        >>> tau["patch.embed"], tau["blocks.0.fc1"] > 0
        (0.0, True)
    """
    if not 0 <= sparsity < 1:
        raise ValueError(f"activation sparsity must be in [0, 1), got {sparsity!r}")
    base_encoder = vit_encoder(base)
    device = next(base_encoder.parameters()).device
    # The delta may live elsewhere than the base (it is stored on the CPU).
    on_device = dataclasses.replace(
        delta, weight_deltas={k: v.to(device) for k, v in delta.weight_deltas.items()},
        own_state={k: v.to(device) for k, v in delta.own_state.items()})
    sub_encoder = vit_encoder(subtask_network(base, on_device))
    gaps: dict[str, list[Tensor]] = {name: [] for name in base_encoder.linear_names}
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size].to(device)
        base_inputs, sub_inputs = _linear_inputs(base_encoder, sub_encoder, chunk)
        for name, values in gaps.items():
            values.append((sub_inputs[name] - base_inputs[name]).abs().flatten().cpu())
    thresholds = {}
    for name, values in gaps.items():
        flat = torch.cat(values)
        if flat.numel() > _MAX_CALIBRATION_VALUES:
            flat = flat[:: math.ceil(flat.numel() / _MAX_CALIBRATION_VALUES)]
        if sparsity == 0 or not bool(flat.any()):
            thresholds[name] = 0.0
            continue
        # The (⌊q·n⌋+1)-th smallest value: at most ⌊q·n⌋ entries lie strictly below it.
        k = min(flat.numel(), math.floor(sparsity * flat.numel()) + 1)
        thresholds[name] = float(flat.kthvalue(k).values)
    return thresholds


def delta_scores(base: MultiTaskNet, delta: TaskDelta, split: Split, task: Task,
                 thresholded: bool = True, batch_size: int = 256,
                 device: torch.device | str = "cpu") -> dict[str, float]:
    """The sub-task's loss and metrics on ``split`` (:func:`mtlgroup.training.losses.evaluate`),
    with its activation thresholds applied (``thresholded``, the inference-time network) or
    as the exact dense network ``W_base + M ⊙ Δ``."""
    model = _SubTask(vit_encoder(base), delta, masks=_masks_of(delta))
    model.thresholds = dict(delta.thresholds) if thresholded else {}
    model.compare = bool(model.thresholds)
    return evaluate(model.to(device), split, TaskSet([task]), batch_size, device)[task.name]


def _masks_of(delta: TaskDelta) -> dict[str, Tensor]:
    return {name: value != 0 for name, value in delta.weight_deltas.items()}


def train_task_delta(base: MultiTaskNet, base_task: str, single: MultiTaskNet | None, task: Task,
                     data: MultiTaskData, config: DeltaConfig | None = None,
                     progress: bool = False) -> TaskDelta:
    """Learn ``task``'s :class:`TaskDelta` on top of ``base`` (the single-task ViT of
    ``base_task``): the three phases of the module docstring.

    Args:
        base: the base task's network (not modified).
        base_task: its task (named in messages; the base's head is not used).
        single: ``task``'s own single-task ViT, whose head the sub-task starts from; ``None``
            starts from a fresh head (:func:`mtlgroup.models.vit.vit_head`, seeded).
        task: the sub-task.
        data: its training and validation data (``data.train``, ``data.val``).
        config: see :class:`DeltaConfig` (default: its defaults).
        progress: show a progress bar over all training steps.

    Returns:
        A :class:`TaskDelta` on the CPU whose ``weight_deltas`` keep ``config.weight_density``
        of every layer's entries and whose ``thresholds`` drop ``config.activation_sparsity``
        of the activation differences on the calibration images.
    """
    config = config or DeltaConfig()
    if task.name == base_task:
        raise ValueError(f"task {task.name!r} is the base task: it needs no delta")
    device = resolve_device(config.device)
    encoder = vit_encoder(base)
    if single is not None:
        if task.name not in single.heads:
            raise ValueError(f"the single-task network given for {task.name!r} has no head "
                             f"for it (heads: {', '.join(single.heads)})")
        head = single.heads[task.name]
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            head = vit_head(task, (encoder.width, *encoder.patch.grid), encoder.input_shape)
    steps = steps_per_epoch(data.train, config.batch_size)
    total = steps * (config.sparse_epochs + config.finetune_epochs + config.threshold_epochs)
    order = torch.Generator().manual_seed(config.seed)
    noise = torch.Generator(device=device).manual_seed(config.seed)
    with progress_bar(total, f"delta {base_task}→{task.name}", progress) as advance:
        fitting = _Fitting(config, data, task, device, order, noise, advance)
        # Phase 1: Δ from zero, dense, penalised (no selection: the penalty is the point).
        start = zero_delta(base, task.name, head)
        dense = _SubTask(encoder, start, gated=config.penalty == "l0")
        fitting.fit(dense, config.sparse_epochs, penalize_weights=True, select=False)
        learned = dense.to_delta()
        # Phase 2: prune per layer, freeze the mask, fine-tune; best validation epoch.
        masks = per_layer_masks(learned.weight_deltas, config.weight_density)
        pruned = dataclasses.replace(learned, weight_deltas={
            name: value * masks[name] for name, value in learned.weight_deltas.items()})
        sparse = _SubTask(encoder, pruned, masks=masks)
        fitting.fit(sparse, config.finetune_epochs, penalize_weights=False, select=True)
        result = sparse.to_delta()
        # Phase 3: thresholds from the training images.
        images = first_images(data.train, config.calibration_images)
        base_on_device = copy.deepcopy(base).to(device)
        thresholds = calibrate_thresholds(base_on_device, result, images,
                                          config.activation_sparsity)
        result.thresholds = thresholds
        if config.threshold_epochs:
            result = _threshold_finetune(base_on_device, masks, result, fitting, images,
                                         config, data, task, device)
    return result


@dataclass
class _Fitting:
    """The training loop of every phase of one delta: its configuration, data, device, batch
    order and noise generators, progress callback and step count (over all phases, for the
    non-finite loss message)."""

    config: DeltaConfig
    data: MultiTaskData
    task: Task
    device: torch.device
    order: torch.Generator
    noise: torch.Generator
    advance: Callable[..., None]
    step: int = 0

    def fit(self, model: _SubTask, epochs: int, penalize_weights: bool,
            select: bool) -> list[float]:
        """Train ``model`` for ``epochs``; with ``select``, restore its best-validation state
        (the starting state included) and return the validation loss of every state offered
        (the starting one first); without, validate nothing and return ``[]``."""
        config, tasks, device = self.config, TaskSet([self.task]), self.device
        model.to(device).train()
        model.noise = self.noise
        groups = model.trainable()
        for group in groups:
            group["lr"] = config.lr * float(group.pop("lr_factor", 1.0))  # type: ignore
        optimizer = torch.optim.Adam(groups)  # type: ignore[arg-type]
        model.compare = config.activation_penalty > 0 or bool(model.thresholds)
        losses: list[float] = []
        best_state = None

        def offer() -> None:
            nonlocal best_state
            if not select:
                return
            loss = evaluate(model, self.data.val, tasks, 256, device)[self.task.name]["loss"]
            if loss < min(losses, default=math.inf):
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            losses.append(loss)

        offer()
        for _ in range(epochs):
            for batch in self.data.train.batches(config.batch_size, True, self.order,
                                                 tasks.names):
                batch = batch.to(device)
                found = task_losses(model(batch.inputs), batch, tasks)
                self.step += 1
                check_finite(found, self.step)  # names the task if its loss is NaN
                loss = found[self.task.name]
                if config.activation_penalty > 0:
                    loss = loss + config.activation_penalty * model.activation_penalty()
                if penalize_weights and config.weight_penalty > 0:
                    loss = loss + config.weight_penalty * model.weight_penalty()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                self.advance(1)
            offer()
        if best_state is not None:
            model.load_state_dict(best_state)
        return losses


def _threshold_finetune(base: MultiTaskNet, masks: Mapping[str, Tensor], current: TaskDelta,
                        fitting: _Fitting, images: Tensor, config: DeltaConfig,
                        data: MultiTaskData, task: Task, device: torch.device) -> TaskDelta:
    """Fine-tune with the thresholds applied, recalibrate them (so the sparsity stays the
    target), and keep the result only if its thresholded validation loss is lower."""
    tuned = _SubTask(vit_encoder(base), current, masks=masks)
    tuned.thresholds = dict(current.thresholds)
    # The fit validates its starting state first: ``current`` with its thresholds applied.
    before = fitting.fit(tuned, config.threshold_epochs, False, True)[0]
    candidate = tuned.to_delta()
    candidate.thresholds = calibrate_thresholds(base, candidate, images,
                                                config.activation_sparsity)
    after = delta_scores(base, candidate, data.val, task, device=device)["loss"]
    return candidate if after < before else current


def first_images(split: Split, count: int) -> Tensor:
    """The inputs of the first ``count`` samples of ``split`` (in order)."""
    taken, chunks = 0, []
    for batch in split.batches(min(count, 256)):
        chunks.append(batch.inputs[: count - taken])
        taken += len(chunks[-1])
        if taken >= count:
            break
    return torch.cat(chunks)


__all__: Sequence[str] = ["DeltaConfig", "calibrate_thresholds", "delta_scores",
                          "first_images", "per_layer_masks", "train_task_delta"]
