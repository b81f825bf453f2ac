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

Grouping: every task alone during the warm-up, then affinity propagation on the normalised,
symmetrised proximal affinity every ``regroup_every`` batches (keeping the current groups when
it does not converge). The warm-up is ``warmup`` batches if given, else 10% of the run's budget
in batches, at most the paper's 100 and at least 1 (a 64-batch run groups after 6; the trainer
tells the strategy its budget, see :meth:`UpdateStrategy.set_budget`; without one, 100). The
groups over time are in :attr:`groups_history_`.

Heads outside the stepping group do not move: their gradients are ``None`` during that group's
step (set explicitly), and torch's SGD/Adam/AdamW skip parameters without a gradient, so neither
momentum nor weight decay reaches them. Nor do their normalisation statistics: each forward
pass computes every head (the affinity needs every task's loss) in training mode, and the
buffers of the heads outside the group whose pass it is are restored afterwards, so each head's
running statistics are updated once per batch, by its own group's pass. The shared encoder's
are updated by every group's pass, as by any training pass. Heads are found in the model's
``heads`` ``ModuleDict``; a model without one keeps every head's updates.

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

import contextlib
import functools
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
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

DEFAULT_WARMUP = 100
"""The paper's warm-up in batches, and the most the default takes."""
WARMUP_SHARE = 0.1
"""The default warm-up's share of the run's budget in batches."""


@register_strategy
class SelectiveGroupStrategy(UpdateStrategy):
    """Selective task group updates with proximal affinity tracking.

    Args:
        beta: moving-average rate of the proximal affinity (paper: 1e-3; 1e-4 for long runs).
        warmup: batches during which every task is its own group (default ``None``: 10% of
            the run's budget in batches, between 1 and 100).
        regroup_every: batches between two regroupings after the warm-up (paper: 1).
        preference: affinity propagation's preference (default: median similarity).
        seed: seed of the group visiting order (independent of torch's global RNG).
        groups: a fixed grouping (lists of task names covering every task once); disables
            warm-up and regrouping. For ablations and tests.

    Attributes (set by :meth:`setup`, updated by :meth:`step`):
        tracker_: the :class:`ProximalAffinityTracker`; ``groups_``: the current groups;
        groups_history_: ``[(batch, groups)]``, one entry per change (batch 0 = the start);
        steps_: batches seen; ``warmup_``: the warm-up in batches this run uses.
    """

    name = "stgu"

    def __init__(
        self,
        beta: float = 1e-3,
        warmup: int | None = None,
        regroup_every: int = 1,
        preference: float | None = None,
        seed: int = 0,
        groups: Sequence[Sequence[str]] | None = None,
    ):
        if not 0 < beta <= 1:
            raise ValueError(f"stgu: beta must be in (0, 1], got {beta}")
        if (warmup is not None and warmup < 0) or regroup_every < 1:
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
        self.warmup_ = self._warmup(len(names))
        self._rng = np.random.default_rng(self.seed)

    def _warmup(self, n_tasks: int) -> int:
        if self.warmup is not None:
            return self.warmup
        if self.budget is None:  # outside a trainer: the paper's warm-up
            return DEFAULT_WARMUP
        # A warm-up batch takes one optimizer step per task (every task is its own group).
        batches = self.budget.batches(steps_per_batch=n_tasks)
        return min(DEFAULT_WARMUP, max(1, round(WARMUP_SHARE * batches)))

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
        groups = [self.groups_[index] for index in self._rng.permutation(len(self.groups_))]
        with keep_statistics(_heads_outside(model, tasks, groups[0])):
            before = task_losses(model(batch.inputs), batch, tasks)
        first = {t: loss.detach() for t, loss in before.items()}
        for k, group in enumerate(groups):
            self.update_group(model, optimizer, tasks, group, before, weights)
            if k < len(groups) - 1:  # the next group's pass
                with keep_statistics(_heads_outside(model, tasks, groups[k + 1])):
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
        if self.groups is not None or self.steps_ <= self.warmup_:
            return
        if (self.steps_ - self.warmup_ - 1) % self.regroup_every != 0:
            return
        found = group_tasks(self.tracker_.matrix, tasks, self.preference, self.seed)
        if found is not None and found != self.groups_:
            self.groups_ = found
            self.groups_history_.append((self.steps_, list(found)))


@contextlib.contextmanager
def keep_statistics(modules: Iterable[nn.Module]) -> Iterator[None]:
    """Restore the buffers of ``modules`` (BatchNorm running statistics and batch counts) after
    the block, whatever the block's forward passes did to them.

    Restored rather than run in eval mode: the outputs must stay a training pass's (BatchNorm
    in training mode normalises by the batch's statistics, in eval mode by the running ones).

    Example:
        >>> bn = nn.BatchNorm1d(2)
        >>> with keep_statistics([bn]):
        ...     _ = bn(torch.randn(4, 2))
        >>> int(bn.num_batches_tracked), bn.running_mean.tolist()
        (0, [0.0, 0.0])
    """
    buffers = [b for module in modules for b in module.buffers()]
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved, strict=True):
                buffer.copy_(value)


def _heads_outside(model: nn.Module, tasks: TaskSet, group: Sequence[str]) -> list[nn.Module]:
    """The head modules of the tasks not in ``group`` (none if the model has no ``heads``)."""
    heads = getattr(model, "heads", None)
    if not isinstance(heads, nn.ModuleDict):
        return []
    return [heads[t] for t in tasks.names if t not in group and t in heads]


def _floats(losses: Mapping[str, Tensor]) -> dict[str, float]:
    return {t: float(v.detach()) for t, v in losses.items()}
