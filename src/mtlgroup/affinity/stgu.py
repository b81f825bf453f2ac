"""Selective task group updates (STGU, Jeong & Yoon 2025; ALGORITHMS §3) as an update strategy.

It lives beside the proximal affinity it tracks and registers itself as the ``stgu`` training
strategy (the strategy registry imports this module on first look-up, so
``create_strategy("stgu")`` works without importing it; training does not import affinity).

Per batch the tasks are split into groups ``G_1..G_M`` visited in a random order. For each
group: a forward pass on the batch, a backward pass of ``Σ_{t∈G_k} L_t``, and one optimizer step
that touches the shared parameters and ``G_k``'s heads only. The losses of every task before and
after each group's step feed the proximal affinity tracker
(:class:`~mtlgroup.affinity.proximal.ProximalAffinityTracker`), crediting the group that stepped.
The "after" losses of a group are the next group's forward pass; the last group needs one extra
forward pass without backward, which runs on copies of the normalisation buffers so that a
measurement does not update running statistics.

Grouping: every task alone during ``warmup`` batches, then affinity propagation on the
normalised, symmetrised proximal affinity every ``regroup_every`` batches (keeping the current
groups when it does not converge). The groups over time are in :attr:`groups_history_`.

Heads outside the stepping group do not move: their gradients are ``None`` during that group's
step (set explicitly), and torch's SGD/Adam/AdamW skip parameters without a gradient, so neither
momentum nor weight decay reaches them. (Their BatchNorm running statistics are updated by each
group's forward pass, which computes every head for the affinity's losses, as any training
forward pass would.)

Cost: ``M`` forward+backward passes and ``M`` optimizer steps per batch instead of one.

Example:
    >>> from mtlgroup.data import load_dataset
    >>> from mtlgroup.training import TrainConfig, train_network
    >>> data = load_dataset("synthetic", n_train=32, n_val=8, n_test=8)
    >>> stgu = SelectiveGroupStrategy(warmup=2)
    >>> _ = train_network(data.tasks.names, data, 0.25, TrainConfig(max_steps=4, batch_size=16),
    ...                   strategy=stgu)
    >>> stgu.groups_history_[0]
    (0, [('bright',), ('parity',), ('moments',), ('contrast',)])
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mtlgroup.affinity.proximal import Groups, ProximalAffinityTracker, group_tasks, singletons
from mtlgroup.data.base import Batch
from mtlgroup.tasks import TaskSet
from mtlgroup.training.losses import measure_losses, task_losses
from mtlgroup.training.parameters import task_parameters as _head_parameters
from mtlgroup.training.strategies import UpdateStrategy, register_strategy


@register_strategy
class SelectiveGroupStrategy(UpdateStrategy):
    """Selective task group updates with proximal affinity tracking.

    Args:
        beta: moving-average rate of the proximal affinity (paper: 1e-3; 1e-4 for long runs).
        warmup: batches during which every task is its own group.
        regroup_every: batches between two regroupings after the warm-up (paper: 1).
        preference: affinity propagation's preference (default: median similarity).
        seed: seed of the group visiting order (independent of torch's global RNG).
        groups: a fixed grouping (lists of task names covering every task once); disables
            warm-up and regrouping. For ablations and tests.

    Attributes (set by :meth:`setup`, updated by :meth:`step`):
        tracker_: the :class:`ProximalAffinityTracker`; ``groups_``: the current groups;
        groups_history_: ``[(batch, groups)]``, one entry per change (batch 0 = the start);
        steps_: batches seen.
    """

    name = "stgu"

    def __init__(
        self,
        beta: float = 1e-3,
        warmup: int = 100,
        regroup_every: int = 1,
        preference: float | None = None,
        seed: int = 0,
        groups: Sequence[Sequence[str]] | None = None,
    ):
        if not 0 < beta <= 1:
            raise ValueError(f"stgu: beta must be in (0, 1], got {beta}")
        if warmup < 0 or regroup_every < 1:
            raise ValueError(f"stgu: need warmup >= 0 and regroup_every >= 1, got {warmup} "
                             f"and {regroup_every}")
        self.beta = beta
        self.warmup = warmup
        self.regroup_every = regroup_every
        self.preference = preference
        self.seed = seed
        self.groups = None if groups is None else [tuple(g) for g in groups]

    def setup(self, model: nn.Module, optimizer: torch.optim.Optimizer, tasks: TaskSet) -> None:
        names = tasks.names
        if self.groups is not None:
            covered = sorted(t for g in self.groups for t in g)
            if covered != sorted(names):
                raise ValueError(f"stgu: fixed groups {self.groups} must cover the tasks "
                                 f"{list(names)} exactly once")
        self.tracker_ = ProximalAffinityTracker(names, self.beta)
        self.groups_: Groups = list(self.groups) if self.groups is not None else singletons(names)
        self.groups_history_: list[tuple[int, Groups]] = [(0, list(self.groups_))]
        self.steps_ = 0
        self._rng = np.random.default_rng(self.seed)

    def step(
        self,
        model: nn.Module,
        batch: Batch,
        optimizer: torch.optim.Optimizer,
        tasks: TaskSet,
        weights: Mapping[str, float] | None = None,
    ) -> dict[str, Tensor]:
        self.steps_ += 1
        self._maybe_regroup(tasks.names)
        order = self._rng.permutation(len(self.groups_))
        before = task_losses(model(batch.inputs), batch, tasks)
        first = {t: loss.detach() for t, loss in before.items()}
        for k, index in enumerate(order):
            group = self.groups_[index]
            self.update_group(model, optimizer, tasks, group, before, weights)
            if k < len(order) - 1:
                after = task_losses(model(batch.inputs), batch, tasks)
            else:
                after = measure_losses(model, batch, tasks)
            self.tracker_.update(group, _floats(before), _floats(after))
            before = after
        return first

    def groups_over_time(self) -> list[dict[str, Any]]:
        """:attr:`groups_history_` as JSON: ``[{"step": …, "groups": [[task, …], …]}, …]``."""
        return [{"step": step, "groups": [list(g) for g in groups]}
                for step, groups in self.groups_history_]

    def update_group(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        tasks: TaskSet,
        group: Iterable[str],
        losses: Mapping[str, Tensor],
        weights: Mapping[str, float] | None = None,
    ) -> None:
        """One optimizer step on ``Σ_{t∈group} L_t`` (``losses`` from a forward pass at the
        current weights); heads of other tasks get no gradient and do not move."""
        group = tuple(group)
        optimizer.zero_grad(set_to_none=True)
        total = functools.reduce(
            operator.add, (losses[t] * (weights.get(t, 1.0) if weights else 1.0) for t in group)
        )
        total.backward()
        for task in tasks.names:
            if task not in group:
                for p in _head_parameters(model, task):
                    p.grad = None
        optimizer.step()

    def _maybe_regroup(self, tasks: Sequence[str]) -> None:
        if self.groups is not None or self.steps_ <= self.warmup:
            return
        if (self.steps_ - self.warmup - 1) % self.regroup_every != 0:
            return
        found = group_tasks(self.tracker_.matrix, tasks, self.preference, self.seed)
        if found is not None and found != self.groups_:
            self.groups_ = found
            self.groups_history_.append((self.steps_, list(found)))


def _floats(losses: Mapping[str, Tensor]) -> dict[str, float]:
    return {t: float(v.detach()) for t, v in losses.items()}
