"""Choosing the base task of computation sharing (ALGORITHMS §4: "mtlgroup chooses it by
measurement").

Two rankings of the candidates:

- **proxy** (cheap): linear CKA (Kornblith et al. 2019) between the single-task ViTs'
  representations on validation images (the normalised input of every block after the first,
  and the final tokens, each token a sample; averaged over those layers). A task whose network
  is most similar to all the others' is the one the others need the smallest deltas from.
- **measure** (the ground truth): for each candidate base, train short deltas for every other
  task (:func:`~mtlgroup.sharing.train.train_task_delta`) and sum their validation losses
  relative to their own single-task networks'; the lowest sum wins.

:func:`choose_base` reports both and their Spearman rank correlation, so a run shows whether the
proxy could stand in for the measurement.

Example:
    >>> import torch
    >>> x = torch.randn(50, 8)
    >>> rotation, _ = torch.linalg.qr(torch.randn(8, 8))
    >>> round(linear_cka(x, x @ rotation), 6)
    1.0
    >>> rank_agreement({"a": 0.9, "b": 0.5, "c": 0.1}, {"a": 1.1, "b": 1.5, "c": 2.0})
    1.0
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from scipy.stats import spearmanr
from torch import Tensor

from mtlgroup.data.base import MultiTaskData
from mtlgroup.device import resolve_device
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.sharing.deltas import LinearRecorder, vit_encoder
from mtlgroup.sharing.train import DeltaConfig, delta_scores, first_images, train_task_delta
from mtlgroup.tasks import TaskSet
from mtlgroup.training.losses import evaluate

Method = Literal["proxy", "measure", "both"]
METHODS: tuple[str, ...] = ("proxy", "measure", "both")


@dataclass(frozen=True)
class BaseChoice:
    """The chosen base task and the evidence.

    Attributes:
        base: the chosen task (by measurement unless ``method`` is ``"proxy"``).
        proxy_scores: task → mean linear CKA of its network with the others' (higher: a
            better base); empty when ``method`` is ``"measure"``.
        measured_scores: task → sum over the other tasks of (sub-task validation loss / own
            single-task validation loss) with that task as base (lower: better), or ``None``
            when ``method`` is ``"proxy"``.
        agreement: Spearman rank correlation of the two rankings (1: the proxy orders the
            candidates as the measurement does), or ``None`` when only one was computed or
            it is undefined (a ranking with all scores tied, e.g. two tasks' CKA).
        method: the method asked for.
    """

    base: str
    proxy_scores: dict[str, float]
    measured_scores: dict[str, float] | None
    agreement: float | None
    method: str


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA of two representations of the same ``n`` samples, ``x [n, p]``, ``y [n, q]``:
    ``‖yᵀx‖²_F / (‖xᵀx‖_F ‖yᵀy‖_F)`` after centring each feature. In [0, 1]; 1 for
    representations equal up to rotation and scale; 0 when one is constant.

    >>> x = torch.randn(40, 5)
    >>> round(linear_cka(x, 3 * x), 6), linear_cka(x, torch.ones(40, 5))
    (1.0, 0.0)
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA compares the same samples: {x.shape[0]} rows against {y.shape[0]}")
    x = x.double() - x.double().mean(dim=0)
    y = y.double() - y.double().mean(dim=0)
    denominator = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    if float(denominator) == 0.0:
        return 0.0
    return min(1.0, float(torch.linalg.matrix_norm(y.T @ x) ** 2 / denominator))


@torch.no_grad()
def representations(network: MultiTaskNet, images: Tensor) -> list[Tensor]:
    """The ViT's representations compared by the proxy, each ``[images·tokens, D]``: the
    (normalised) input of every block after the first, and the final tokens. Block 0's input
    is left out: it is a linear map of the pixels in any network, so it would pull every
    similarity towards 1."""
    encoder = vit_encoder(network)
    recorder = LinearRecorder()
    tokens = encoder.tokens(images, recorder)
    blocks = [recorder.inputs[f"blocks.{i}.qkv"] for i in range(1, len(encoder.blocks))]
    return [value.reshape(-1, value.shape[-1]) for value in (*blocks, tokens)]


def similarity_scores(features: Mapping[str, Sequence[Tensor]]) -> dict[str, float]:
    """Task → mean over the other tasks of the CKA of their representations (averaged over
    layers). ``features[task]`` lists the same layers' ``[n, d]`` representations per task.

    >>> x, y = torch.randn(30, 4), torch.randn(30, 4)
    >>> scores = similarity_scores({"a": [x], "b": [x], "c": [y]})
    >>> scores["a"] == scores["b"] > scores["c"]
    True
    """
    names = list(features)
    if len(names) < 2:
        return dict.fromkeys(names, 1.0)
    pair: dict[tuple[str, str], float] = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            layers = list(zip(features[a], features[b], strict=True))
            pair[a, b] = pair[b, a] = sum(linear_cka(x, y) for x, y in layers) / len(layers)
    return {a: sum(pair[a, b] for b in names if b != a) / (len(names) - 1) for a in names}


def rank_agreement(proxy: Mapping[str, float], measured: Mapping[str, float]) -> float | None:
    """Spearman correlation between the proxy's ranking (higher is better) and the
    measurement's (lower is better): 1 when they order the tasks alike, ``None`` when
    undefined (fewer than two tasks, or one ranking all tied)."""
    names = list(measured)
    if len(names) < 2 or len({proxy[t] for t in names}) < 2 or len(set(measured.values())) < 2:
        return None
    rho = spearmanr([proxy[t] for t in names], [-measured[t] for t in names]).statistic
    return float(rho)


def proxy_scores(singles: Mapping[str, MultiTaskNet], data: MultiTaskData,
                 images: int = 128, device: str = "cpu") -> dict[str, float]:
    """:func:`similarity_scores` of the single-task networks on the first ``images``
    validation images."""
    inputs = first_images(data.val, images).to(device)
    features = {}
    for task, network in singles.items():
        # A copy in eval mode on the device: the caller's network stays where and as it is.
        copied = copy.deepcopy(network).eval().to(device)
        features[task] = [r.cpu() for r in representations(copied, inputs)]
    return similarity_scores(features)


def measured_scores(singles: Mapping[str, MultiTaskNet], data: MultiTaskData, tasks: TaskSet,
                    config: DeltaConfig) -> dict[str, float]:
    """Candidate base → sum over the other tasks of (validation loss of its sub-task, with
    thresholds applied / validation loss of its single-task network)."""
    device = resolve_device(config.device)
    own = {}
    for task in tasks:
        net = copy.deepcopy(singles[task.name]).to(device)  # the caller's stays where it is
        own[task.name] = evaluate(net, data.val, TaskSet([task]), device=device)[task.name]["loss"]
    scores = {}
    for base in tasks.names:
        total = 0.0
        for task in tasks:
            if task.name == base:
                continue
            delta = train_task_delta(singles[base], base, singles[task.name], task, data, config)
            loss = delta_scores(singles[base], delta, data.val, task, device=device)["loss"]
            total += loss / max(own[task.name], 1e-12)
        scores[base] = total
    return scores


def choose_base(singles: Mapping[str, MultiTaskNet], data: MultiTaskData, tasks: TaskSet,
                method: Method = "both", config: DeltaConfig | None = None) -> BaseChoice:
    """Choose the base task among ``tasks`` from their single-task ViTs ``singles`` (task →
    network with that task's head).

    ``"proxy"`` ranks by representation similarity (seconds); ``"measure"`` trains a delta for
    every (base, sub-task) pair with ``config`` (default ``DeltaConfig().short()``: one epoch
    per phase); ``"both"`` measures and reports how well the proxy agrees. Ties go to the
    earlier task in ``tasks``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown base choice method {method!r}; expected one of "
                         f"{', '.join(METHODS)}")
    missing = [t for t in tasks.names if t not in singles]
    if missing:
        raise ValueError(f"no single-task network for {', '.join(missing)}")
    if len(tasks) < 2:
        raise ValueError("choosing a base needs at least two tasks")
    config = config or DeltaConfig().short()
    names = list(tasks.names)
    proxy: dict[str, float] = {}
    if method in ("proxy", "both"):
        proxy = proxy_scores({t: singles[t] for t in names}, data,
                             device=str(resolve_device(config.device)))
    measured = measured_scores(singles, data, tasks, config) if method != "proxy" else None
    if measured is None:
        base = max(names, key=lambda t: (proxy[t], -names.index(t)))
    else:
        base = min(names, key=lambda t: (measured[t], names.index(t)))
    agreement = rank_agreement(proxy, measured) if proxy and measured is not None else None
    return BaseChoice(base, proxy, measured, agreement, method)


__all__ = ["METHODS", "BaseChoice", "choose_base", "linear_cka", "measured_scores",
           "proxy_scores", "rank_agreement", "representations", "similarity_scores"]
