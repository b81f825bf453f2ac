"""The trainer: joint training of one network on its tasks.

Example:
    >>> from mtlgroup.training import TrainConfig, train_network
    >>> # data = load_dataset("scenes", n_train=512)
    >>> # model, result = train_network(["depth", "normals"], data, size=1.0,
    >>> #                               config=TrainConfig(epochs=2))
    >>> # result.loss("test")  -> {"depth": ..., "normals": ...}
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from mtlgroup.data.base import MultiTaskData, steps_per_epoch
from mtlgroup.device import resolve_device
from mtlgroup.models.network_factory import NetworkFactory
from mtlgroup.progress import progress_bar
from mtlgroup.training.budget import BUDGET_UNITS, Budget, BudgetUnit, StepCounter
from mtlgroup.training.callbacks import Callback, TrainState
from mtlgroup.training.losses import check_finite, evaluate, total_loss
from mtlgroup.training.result import TrainResult
from mtlgroup.training.strategies import JointStrategy, UpdateStrategy

TRAINER_VERSION = "1"
"""Bump when a change to training changes results: it is part of every study job's key."""


@dataclass
class TrainConfig:
    """Hyper-parameters of one training.

    The budget is ``max_steps`` if given, else ``epochs`` times the batches in an epoch, both
    counted in ``budget_unit``: ``"batches"`` (default) or ``"optimizer_steps"`` (the same for
    one step per batch; STGU takes one per task group). With ``"optimizer_steps"`` a batch is
    never cut short, so the last one may take the count past the budget by fewer steps than it
    takes (the result records both counts). Validation runs every ``eval_every`` units (default:
    as many as an epoch has batches) and at the end; the learning-rate schedule,
    ``early_fraction`` and the progress bar count the same unit. ``patience`` validations
    without improvement stop training early, and the best-validation weights are restored.
    ``early_fraction`` of the budget in, the validation losses are recorded as the ESA
    ("early") table.

    ``prefix_fraction`` makes the training the first share of that run (an ESA job, ALGORITHMS
    §1.2): the budget, the schedule and ``total_steps`` stay the full run's, training stops
    after ``round(prefix_fraction × total)`` units with a validation there, and no weights are
    restored: ``val`` and ``test`` score the weights at the stop step. With ``early_fraction``
    equal to it, ``early_val`` is that same validation, so it is the full run's early table.
    """

    epochs: int = 10
    max_steps: int | None = None
    budget_unit: BudgetUnit = "batches"
    batch_size: int = 64
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine", "step"] = "constant"
    patience: int | None = None
    eval_every: int | None = None
    eval_batch_size: int = 256
    early_fraction: float | None = 0.2
    prefix_fraction: float | None = None
    loss_weights: dict[str, float] | None = None
    seed: int = 0
    device: str = "auto"
    progress: bool | None = None

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "max_steps": self.max_steps is None or self.max_steps >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "patience": self.patience is None or self.patience >= 1,
            "eval_every": self.eval_every is None or self.eval_every >= 1,
            "early_fraction": self.early_fraction is None or 0 < self.early_fraction <= 1,
            "prefix_fraction": self.prefix_fraction is None or 0 < self.prefix_fraction <= 1,
            "optimizer": self.optimizer in ("adam", "sgd"),
            "schedule": self.schedule in ("constant", "cosine", "step"),
            "budget_unit": self.budget_unit in BUDGET_UNITS,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ValueError(f"invalid training configuration: {values}")

    def total_steps(self, steps_in_epoch: int) -> int:
        return self.max_steps if self.max_steps is not None else self.epochs * steps_in_epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def result_defining(self) -> dict[str, Any]:
        """The fields that change what training produces (not device or progress display).

        ``budget_unit`` and ``prefix_fraction`` only when they are not the default:
        configurations from before they existed (whose hashes are study job keys) keep their
        record."""
        left_out = ("device", "progress") + (("budget_unit",) if self.budget_unit == "batches"
                                             else ()) + (
            ("prefix_fraction",) if self.prefix_fraction is None else ())
        return {k: v for k, v in self.to_dict().items() if k not in left_out}


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule, or ``None`` for a constant rate (nothing to step)."""
    if config.schedule == "constant":
        return None

    def factor(step: int) -> float:
        if config.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
        return 0.1 ** sum(step >= total_steps * m for m in (0.5, 0.75))  # "step"

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class _BestWeights:
    total: float = math.inf
    step: int = 0
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    def offer(self, model: nn.Module, scores: dict[str, dict[str, float]], step: int) -> bool:
        total = total_loss(scores)
        if not math.isfinite(total) or total >= self.total:
            return False
        self.total, self.step, self.scores = total, step, scores
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True


def share_step(fraction: float, total_steps: int) -> int:
    """The step ``fraction`` of the way through ``total_steps`` (at least 1): where the early
    table is recorded and where a prefix stops, by one rounding so the two can coincide.

    >>> share_step(0.2, 64), share_step(0.2, 2)
    (13, 1)
    """
    return max(1, round(fraction * total_steps))


class Trainer:
    """Trains a network on its tasks; see :class:`TrainConfig` for what can be set.

    ``strategy`` decides how a batch becomes optimizer steps (default: joint sum of losses);
    ``callbacks`` observe every step (see :mod:`mtlgroup.training.callbacks`).
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        callbacks: Iterable[Callback] = (),
        strategy: UpdateStrategy | None = None,
    ):
        self.config = config or TrainConfig()
        self.callbacks = list(callbacks)
        self.strategy = strategy or JointStrategy()

    def fit(
        self, model: nn.Module, data: MultiTaskData, tasks: Sequence[str] | None = None
    ) -> TrainResult:
        """Train ``model`` on ``tasks`` (default: the model's ``tasks`` attribute, else all of
        the dataset's), restore its best-validation weights (a prefix keeps the weights it ends
        with), and score it on val and test."""
        cfg = self.config
        started = time.perf_counter()
        device = resolve_device(cfg.device)
        names = tuple(tasks or getattr(model, "tasks", None) or data.tasks.names)
        task_set = data.tasks.subset(names)
        model.to(device)
        optimizer = build_optimizer(model, cfg)
        total_steps = cfg.total_steps(steps_per_epoch(data.train, cfg.batch_size))
        scheduler = build_scheduler(optimizer, cfg, total_steps)
        eval_every = cfg.eval_every or steps_per_epoch(data.train, cfg.batch_size)
        early_step = share_step(cfg.early_fraction, total_steps) if cfg.early_fraction else 0
        # A prefix (ESA job) stops at its share of the full run, with the full run's schedule.
        stop_step = share_step(cfg.prefix_fraction, total_steps) if cfg.prefix_fraction \
            else total_steps
        generator = torch.Generator().manual_seed(cfg.seed)
        state = TrainState(model, optimizer, task_set, cfg, device, total_steps=total_steps,
                           strategy=self.strategy)

        def validate() -> dict[str, dict[str, float]]:
            return evaluate(model, data.val, task_set, cfg.eval_batch_size, device)

        best = _BestWeights()
        history: list[dict[str, float]] = []
        early_val = None
        last_scores: dict[str, dict[str, float]] = {}
        stale_evaluations, running_loss, running_steps = 0, 0.0, 0
        stopped_early = False
        # The schedule counts the budget's unit: after each optimizer step (the counter's hook)
        # or after each batch.
        per_step = (scheduler.step if scheduler is not None and cfg.budget_unit == "optimizer_steps"
                    else None)
        counter = StepCounter(optimizer, cfg.budget_unit, per_step)
        model.train()
        self.strategy.set_budget(Budget(total_steps, cfg.budget_unit))
        self.strategy.setup(model, optimizer, task_set)
        for callback in self.callbacks:
            callback.on_train_begin(state)

        with progress_bar(stop_step, f"training {'+'.join(names)}", cfg.progress) as advance:
            while counter.done < stop_step and not stopped_early:
                state.epoch += 1
                epoch_start = counter.done
                for batch in data.train.batches(cfg.batch_size, True, generator, names):
                    spent = counter.done  # of the budget, before this batch
                    state.step = counter.batches = state.step + 1
                    state.batch = batch.to(device)
                    for callback in self.callbacks:
                        callback.on_step_begin(state)
                    losses = self.strategy.step(
                        model, state.batch, optimizer, task_set, cfg.loss_weights
                    )
                    running_loss += check_finite(losses, state.step)
                    if scheduler is not None and per_step is None:
                        scheduler.step()
                    state.losses = losses
                    running_steps += 1
                    for callback in self.callbacks:
                        callback.on_step_end(state)
                    advance(counter.done - spent)

                    # In optimizer steps a batch may advance by several: test crossings.
                    scores = None
                    if spent < early_step <= counter.done:
                        scores = early_val = validate()
                    if counter.done // eval_every > spent // eval_every or (
                        counter.done >= stop_step
                    ):
                        scores = last_scores = scores or validate()
                        val_total = total_loss(scores)
                        history.append(
                            {
                                "step": state.step,
                                "optimizer_steps": counter.optimizer_steps,
                                "train_loss": running_loss / max(running_steps, 1),
                                "val_total": val_total,
                            }
                        )
                        running_loss, running_steps = 0.0, 0
                        for callback in self.callbacks:
                            callback.on_evaluate(state, "val", scores)
                        if best.offer(model, scores, state.step):
                            stale_evaluations = 0
                        else:
                            stale_evaluations += 1
                            stopped_early = cfg.patience is not None and (
                                stale_evaluations >= cfg.patience
                            )
                    if counter.done >= stop_step or stopped_early:
                        break
                else:
                    self.strategy.end_epoch()
                    if counter.done == epoch_start:  # the budget would never be reached
                        raise RuntimeError(
                            f"{type(self.strategy).__name__} took no optimizer step in an epoch:"
                            " a budget in optimizer steps cannot be spent"
                        )
        counter.close()

        if cfg.prefix_fraction is not None:  # a prefix keeps the weights it ends with (§1.2)
            best.scores, best.step = last_scores, state.step
        elif best.state:
            model.load_state_dict(best.state)
        # The restored weights were validated when they were kept: no second pass over val.
        val_scores = best.scores or validate()
        state.batch, state.losses = None, {}
        test_scores = evaluate(model, data.test, task_set, cfg.eval_batch_size, device)
        result = TrainResult(
            tasks=list(names),
            val=val_scores,
            test=test_scores,
            early_val=early_val,
            best_step=best.step,
            steps=state.step,
            total_steps=total_steps,
            batches=state.step,
            optimizer_steps=counter.optimizer_steps,
            stopped_early=stopped_early,
            history=history,
            wall_time=time.perf_counter() - started,
            device=str(device),
            config=cfg.to_dict(),
        )
        for callback in self.callbacks:
            callback.on_train_end(state, result)
        return result


def evenly_thinned(records: Sequence[Any], at_most: int = 200) -> list[Any]:
    """At most ``at_most`` of ``records``, evenly spaced, the first and the last kept (a
    per-step history of a long run would otherwise bloat every result it is stored in).

    >>> evenly_thinned(list(range(10)), at_most=4)
    [0, 3, 6, 9]
    """
    if len(records) <= at_most:
        return list(records)
    last = len(records) - 1
    return [records[round(k * last / (at_most - 1))] for k in range(at_most)]


def train_network(
    tasks: Sequence[str],
    data: MultiTaskData,
    size: float = 1.0,
    config: TrainConfig | None = None,
    callbacks: Iterable[Callback] = (),
    strategy: UpdateStrategy | None = None,
    reference_flops: float | None = None,
    extra: Mapping[str, Any] | None = None,
    model: NetworkFactory | str | Mapping[str, Any] | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Build the network for ``tasks`` at encoder ``size`` with the network factory ``model``
    (default ``conv``; seeded by ``config.seed``), train it, and record its size, FLOPs and
    factory in ``result.extra``.

    ``reference_flops`` (FLOPs of one standard network) adds ``result.extra["cost"]``.
    """
    from mtlgroup.cost import count_flops

    config = config or TrainConfig()
    factory = NetworkFactory.of(model)
    task_set = data.tasks.subset(tasks)
    torch.manual_seed(config.seed)
    network = factory.build(task_set, data.input_shape, size)
    flops = count_flops(network, data.input_shape)
    result = Trainer(config, callbacks, strategy).fit(network, data, task_set.names)
    result.extra.update({"size": size, "flops": flops.total, "dataset": dict(data.spec),
                         "model": factory.identity()})
    groups_over_time = getattr(strategy, "groups_over_time", None)
    if groups_over_time is not None:  # group-sequential strategies (stgu)
        result.extra["groups_over_time"] = groups_over_time()
    weights_over_time = getattr(strategy, "weights_over_time", None)
    if weights_over_time is not None:  # aggregators, scalarizers, GradNorm
        result.extra["weights_over_time"] = evenly_thinned(weights_over_time())
    if reference_flops:
        result.extra["cost"] = flops.total / reference_flops
    result.extra.update(extra or {})
    return network, result
