"""Temporal sharing (video): non-key frames reuse the previous frame's activations (ALGORITHMS §4).

A :class:`TemporalDeltaRunner` runs a ViT network over a clip one frame at a time (batch 1).
A *key frame* (the first, and every ``key_every``-th if given) runs in full and fills, for every
linear layer of the encoder, a cache of its reference input ``x_ref`` and output ``y_ref``. A
non-key frame computes each linear layer from the change of its input since then,
``δ = x − x_ref``, with the entries ``|δ| < τ`` (the layer's threshold) dropped::

    y = y_ref + W · δ_kept            (δ_kept as sparse CSR: only its non-zeros are multiplied)
    x_ref ← x_ref + δ_kept,  y_ref ← y

This is the DeltaCNN update (Parger et al., CVPR 2022) the paper applies over time: a dropped
entry stays in ``x − x_ref`` and is sent once it has grown past ``τ``, so the cached input never
lags the true one by ``τ`` or more in any entry, and each layer's output is within
``τ · max_i Σ_j |W_ij|`` of ``W x + b`` for its actual input ``x`` (errors do not accumulate over
frames). Everything else (LayerNorms, attention products, GELU, the heads) runs dense.

FLOPs are counted as in :mod:`mtlgroup.cost` (2 per multiply-add, element-wise ops free): a
dense linear layer costs ``2·N·d_in·d_out``, a delta-updated one ``2·nnz(δ_kept)·d_out``, and
the rest of the network (attention products, heads) what
:class:`~torch.utils.flop_counter.FlopCounterMode` counts for it.

Sub-tasks of a shared model: run the runner on the sub-task's dense network,
``TemporalDeltaRunner(subtask_network(base, delta), ...)`` (:func:`subtask_runner`). Each
sub-task then reuses *its own* previous frame, as the paper's sub-tasks reuse theirs in the
deeper layers; the base's cross-task reuse within a frame is not combined with it here.

Example:
    >>> import torch
    >>> from mtlgroup.models.vit import vit_network
    >>> from mtlgroup.tasks import Task
    >>> net = vit_network([Task("depth", "dense", 1)], (3, 16, 16), base_width=16, depth=1)
    >>> frames = torch.rand(1, 3, 16, 16).repeat(4, 1, 1, 1)  # a static clip
    >>> run = TemporalDeltaRunner(net, thresholds=0.01).run(frames)
    >>> run.flops[0] == run.full_flops, run.flops[1] < run.full_flops
    (True, True)
    >>> bool(torch.equal(run.outputs["depth"][3], run.outputs["depth"][0]))
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from mtlgroup.cost import count_flops
from mtlgroup.data.clips import Clip
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.tracing import eval_mode, module_device
from mtlgroup.models.vit import ViTEncoder
from mtlgroup.sharing.deltas import TaskDelta, subtask_network, vit_encoder
from mtlgroup.sharing.sparse import add_kept_product, kept_entries, threshold_dropping
from mtlgroup.tasks import TaskSet

Thresholds = float | Mapping[str, float]
"""One ``τ`` for every linear layer, or layer name → ``τ`` (a missing name: ``τ = 0``)."""


class TemporalLinear:
    """A :data:`~mtlgroup.models.vit.LinearFn` with per-layer caches of the reference frame.

    ``key = True`` (the next call of each layer runs dense and refills its cache) or ``False``
    (delta update, see the module docstring). Per call it records the FLOPs spent and, for delta
    updates, the entries of ``δ`` kept, in :attr:`flops` and :attr:`kept` / :attr:`entries`
    (reset by :meth:`start_frame`).

    Example:
        >>> layer = nn.Linear(4, 3)
        >>> fn = TemporalLinear(thresholds=0.5)
        >>> fn.start_frame(key=True); _ = fn("fc", layer, torch.zeros(1, 4))
        >>> fn.start_frame(key=False); y = fn("fc", layer, torch.tensor([[0.1, 0.0, 0.9, 0.0]]))
        >>> fn.kept["fc"], fn.flops["fc"]  # only the 0.9 entry is multiplied
        (1, 6)
    """

    def __init__(self, thresholds: Thresholds = 0.0) -> None:
        self.thresholds = thresholds
        self.key = True
        self.x_ref: dict[str, Tensor] = {}
        self.y_ref: dict[str, Tensor] = {}
        self.flops: dict[str, int] = {}
        self.dense_flops: dict[str, int] = {}
        self.kept: dict[str, int] = {}
        self.entries: dict[str, int] = {}

    def threshold(self, name: str) -> float:
        """``τ`` of layer ``name``."""
        if isinstance(self.thresholds, Mapping):
            return float(self.thresholds.get(name, 0.0))
        return float(self.thresholds)

    def start_frame(self, key: bool) -> None:
        """Begin a frame: a key frame (dense, refills the caches) or a delta-updated one."""
        self.key = key
        self.flops, self.kept, self.entries = {}, {}, {}

    def __call__(self, name: str, layer: nn.Linear, x: Tensor) -> Tensor:
        dense = 2 * x[..., 0].numel() * layer.in_features * layer.out_features
        self.dense_flops[name] = dense
        if self.key or name not in self.x_ref or self.x_ref[name].shape != x.shape:
            y = layer(x)
            self.x_ref[name], self.y_ref[name] = x.detach().clone(), y.detach().clone()
            self.flops[name] = dense
            return y
        delta = (x - self.x_ref[name]).reshape(-1, layer.in_features)
        tau = self.threshold(name)
        # τ = 0 keeps every non-zero entry: the update is then exact up to rounding
        keep = kept_entries(delta, tau)
        # the kept entries as a sparse CSR matrix added into y_ref (the shared model's kernel):
        # the product multiplies only them, nnz·d_out multiply-adds
        y_ref = self.y_ref[name]
        y, nnz = add_kept_product(y_ref.reshape(-1, layer.out_features), delta, keep,
                                  layer.weight)
        y = y.reshape(y_ref.shape)
        if nnz:
            self.x_ref[name] = torch.where(keep.reshape(x.shape), x.detach(), self.x_ref[name])
            self.y_ref[name] = y
        self.flops[name] = 2 * nnz * layer.out_features
        self.kept[name], self.entries[name] = nnz, delta.numel()
        return y


@dataclass
class ClipRun:
    """What a :class:`TemporalDeltaRunner` computed on one clip.

    Attributes:
        outputs: task → predictions of every frame ``[F, ...]`` in order.
        flops: FLOPs spent on each frame (counted from the non-zeros, see the module docstring).
        full_flops: FLOPs of one frame processed in full (the dense count, the same per frame).
        key_frames: indices of the frames that ran in full.
        kept: linear layer → fraction of the entries of ``δ`` kept over the non-key frames
            (1.0 where every frame is a key frame).
        linear_flops: FLOPs of each frame spent in the encoder's linear layers.
    """

    outputs: dict[str, Tensor]
    flops: list[int]
    full_flops: int
    key_frames: list[int]
    kept: dict[str, float]
    linear_flops: list[int] = field(default_factory=list)

    @property
    def mean_flops(self) -> float:
        """Mean FLOPs per frame."""
        return sum(self.flops) / len(self.flops)

    @property
    def flop_ratio(self) -> float:
        """Mean FLOPs per frame over those of full processing."""
        return self.mean_flops / self.full_flops


class TemporalDeltaRunner:
    """Runs a ViT network over the frames of a clip, reusing the previous frame's activations.

    Args:
        network: a :class:`~mtlgroup.models.MultiTaskNet` with a
            :class:`~mtlgroup.models.vit.ViTEncoder`.
        thresholds: ``τ`` for every linear layer, or per layer name
            (``encoder.linear_names``; missing: 0, i.e. every changed entry is recomputed).
        key_every: frames ``0, k, 2k, …`` run in full; ``None``: only the first.
    """

    def __init__(self, network: MultiTaskNet, thresholds: Thresholds = 0.0,
                 key_every: int | None = None) -> None:
        self.encoder: ViTEncoder = vit_encoder(network)
        if key_every is not None and (isinstance(key_every, bool) or key_every < 1):
            raise ValueError(f"key_every must be a positive integer or None, got {key_every!r}")
        if isinstance(thresholds, Mapping):
            unknown = set(thresholds) - set(self.encoder.linear_names)
            if unknown:
                raise ValueError(f"thresholds for unknown linear layers: {sorted(unknown)}")
        values = thresholds.values() if isinstance(thresholds, Mapping) else [thresholds]
        if not all(math.isfinite(float(t)) and float(t) >= 0 for t in values):
            raise ValueError("thresholds must be finite and >= 0")
        self.network = network
        self.thresholds = thresholds
        self.key_every = key_every

    def is_key(self, frame: int) -> bool:
        """Whether frame ``frame`` runs in full."""
        return frame == 0 or (self.key_every is not None and frame % self.key_every == 0)

    @torch.no_grad()
    def run(self, frames: Tensor, tasks: Iterable[str] | None = None) -> ClipRun:
        """Process ``frames [F, C, H, W]`` in order; predictions of ``tasks`` (default all)."""
        if frames.ndim != 4 or frames.shape[0] < 1:
            raise ValueError(f"frames must be [F, C, H, W] with F >= 1, got {tuple(frames.shape)}")
        names = self.network.select(tasks)
        device = module_device(self.network)
        fn = TemporalLinear(self.thresholds)
        per_frame: list[dict[str, Tensor]] = []
        linear: list[int] = []
        kept = dict.fromkeys(self.encoder.linear_names, 0)
        entries = dict.fromkeys(self.encoder.linear_names, 0)
        with eval_mode(self.network):
            for index in range(frames.shape[0]):
                fn.start_frame(self.is_key(index))
                features = self.encoder(frames[index : index + 1].to(device), fn)
                per_frame.append(self.network.decode(features, names))
                linear.append(sum(fn.flops.values()))
                for name in fn.kept:
                    kept[name] += fn.kept[name]
                    entries[name] += fn.entries[name]
        # Frame 0 is a key frame, so every layer's dense count is known: the rest of a frame
        # (attention products, heads) is the counter's total minus the linear layers.
        full = count_flops(self.network, tuple(frames.shape[1:]), names).total
        other = full - sum(fn.dense_flops.values())
        if other < 0:
            raise RuntimeError("the FLOP counter saw fewer FLOPs than the linear layers have")
        return ClipRun(
            outputs={t: torch.cat([o[t] for o in per_frame]) for t in names},
            flops=[other + spent for spent in linear],
            full_flops=full,
            key_frames=[i for i in range(frames.shape[0]) if self.is_key(i)],
            kept={n: kept[n] / entries[n] if entries[n] else 1.0 for n in kept},
            linear_flops=linear,
        )


def subtask_runner(base: MultiTaskNet, delta: TaskDelta, thresholds: Thresholds = 0.0,
                   key_every: int | None = None) -> TemporalDeltaRunner:
    """Temporal reuse for a sub-task: the runner on its dense network
    (:func:`~mtlgroup.sharing.deltas.subtask_network`), so it reuses its own previous frame."""
    return TemporalDeltaRunner(subtask_network(base, delta), thresholds, key_every)


def temporal_deltas(network: MultiTaskNet, frames: Tensor) -> dict[str, Tensor]:
    """Per linear layer, the absolute changes ``|x_t − x_{t−1}|`` of its input between
    consecutive frames, computed exactly (every frame in full), flattened."""
    encoder = vit_encoder(network)
    device = module_device(network)
    inputs: dict[str, list[Tensor]] = {name: [] for name in encoder.linear_names}

    def record(name: str, layer: nn.Linear, x: Tensor) -> Tensor:
        inputs[name].append(x.detach())
        return layer(x)

    with torch.no_grad(), eval_mode(network):
        for index in range(frames.shape[0]):
            encoder(frames[index : index + 1].to(device), record)
    return {name: torch.cat([(b - a).abs().flatten() for a, b in pairwise(xs)])
            for name, xs in inputs.items()}


def threshold_for_sparsity(network: MultiTaskNet, frames: Tensor,
                           sparsity: float) -> dict[str, float]:
    """Per-layer ``τ`` that drops the fraction ``sparsity`` of the temporal input changes of
    each linear layer on a calibration clip ``frames [F, C, H, W]`` (``F >= 2``).

    ``τ`` is :func:`~mtlgroup.sharing.sparse.threshold_dropping` of ``|x_t − x_{t−1}|`` with
    every frame computed exactly: just above its ``sparsity`` quantile, so that at least that
    fraction (ties included) is strictly below ``τ``; entries that do not change count as
    dropped. The fraction a run then drops
    differs somewhat (a run compares with the cached reference, where dropped changes add up
    until they pass ``τ``, and its inputs carry the upstream layers' errors):
    :attr:`ClipRun.kept` reports it.

    Example:
        >>> import torch
        >>> from mtlgroup.models.vit import vit_network
        >>> from mtlgroup.tasks import Task
        >>> net = vit_network([Task("a", "label", 2)], (3, 16, 16), base_width=16, depth=1)
        >>> frames = torch.rand(1, 3, 16, 16) + 0.01 * torch.randn(5, 3, 16, 16)
        >>> tau = threshold_for_sparsity(net, frames, 0.9)
        >>> sorted(tau) == sorted(net.encoder.linear_names), all(t > 0 for t in tau.values())
        (True, True)
    """
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity!r}")
    if frames.ndim != 4 or frames.shape[0] < 2:
        raise ValueError("calibration needs frames [F, C, H, W] with F >= 2")
    # τ just above the ⌈sparsity·n⌉-th smallest change, so ties with it are dropped too
    return {name: threshold_dropping(changes, sparsity)
            for name, changes in temporal_deltas(network, frames).items()}


@dataclass
class ClipEvaluation:
    """Accuracy and cost of temporal processing against processing every frame in full.

    Attributes:
        temporal, full: task → ``{"loss": …, metric: …}`` over the clip's frames (each task's
            own loss and metrics, against the exact labels).
        output_change: task → mean absolute difference of the temporal predictions from the
            full ones.
        run: the temporal :class:`ClipRun` (:attr:`mean_flops`, :attr:`full_flops` and
            :attr:`flop_ratio` are its).
    """

    temporal: dict[str, dict[str, float]]
    full: dict[str, dict[str, float]]
    output_change: dict[str, float]
    run: ClipRun

    @property
    def mean_flops(self) -> float:
        """Mean FLOPs per frame of the temporal run."""
        return self.run.mean_flops

    @property
    def full_flops(self) -> int:
        """FLOPs of one frame processed in full."""
        return self.run.full_flops

    @property
    def flop_ratio(self) -> float:
        """Mean FLOPs per frame over those of full processing."""
        return self.run.flop_ratio

    def summary(self) -> dict[str, Any]:
        """Plain JSON values: the scores, FLOPs per frame, their ratio and the kept fractions."""
        return {"temporal": self.temporal, "full": self.full,
                "output_change": self.output_change, "mean_flops": self.mean_flops,
                "full_flops": self.full_flops, "flop_ratio": self.flop_ratio,
                "flops": list(self.run.flops), "key_frames": list(self.run.key_frames),
                "kept": dict(self.run.kept)}


def _scores(outputs: Mapping[str, Tensor], clip: Clip,
            tasks: TaskSet) -> dict[str, dict[str, float]]:
    """Each task's own per-sample loss and metrics, averaged over the frames."""
    batch = clip.batch(list(tasks.names))
    scores = {}
    for task in tasks:
        pred, target = outputs[task.name].float().cpu(), batch.targets[task.name]
        values = {"loss": task.per_sample_loss(pred, target)}
        values.update({m.name: m.fn(pred, target) for m in task.metrics})
        scores[task.name] = {k: float(v.mean()) for k, v in values.items()}
    return scores


def evaluate_clip(network: MultiTaskNet, clip: Clip, tasks: Iterable[str] | None = None,
                  thresholds: Thresholds = 0.0, key_every: int | None = None) -> ClipEvaluation:
    """Score temporal processing of ``clip`` against processing every frame in full.

    ``tasks`` (default: the network's heads) must be tasks of the clip. Full processing runs
    each frame alone (batch 1), like the temporal run, so key frames match it exactly.

    Example:
        >>> import torch
        >>> from mtlgroup.data.clips import scene_clip
        >>> from mtlgroup.models.vit import vit_network
        >>> clip = scene_clip(0, frames=3, size=16)
        >>> net = vit_network(clip.tasks.subset(["depth"]), (3, 16, 16), base_width=16, depth=1)
        >>> result = evaluate_clip(net, clip, thresholds=0.0)
        >>> abs(result.temporal["depth"]["l1"] - result.full["depth"]["l1"]) < 1e-4
        True
    """
    names = network.select(tasks)
    task_set = clip.tasks.subset(names)
    run = TemporalDeltaRunner(network, thresholds, key_every).run(clip.images, names)
    device = module_device(network)
    with torch.inference_mode(), eval_mode(network):  # every frame alone, the plain forward
        frames = [network(frame[None].to(device), names) for frame in clip.images]
    full = {t: torch.cat([f[t] for f in frames]) for t in names}
    change = {t: float((run.outputs[t] - full[t]).abs().mean()) for t in names}
    return ClipEvaluation(
        temporal=_scores(run.outputs, clip, task_set),
        full=_scores(full, clip, task_set),
        output_change=change,
        run=run,
    )
