"""The lookahead probe as a trainer callback: TAG and gradient-cosine affinities from one run.

Every ``every`` steps (at steps 1, 1 + every, 1 + 2·every, …, so even a short run is probed)
:class:`LookaheadProbe` probes the step's batch *before* the update and accumulates

- the lookahead affinity ``Z[i, j]`` (ALGORITHMS §2), mean over probes (exact TAG),
- its first-order approximation ``⟨θ − θ'_i, g_j⟩ / L_j`` from the same gradients, and
- the gradient cosine ``cos(g_i, g_j)`` (the CS baseline), mean over the same probes.

Forward reuse: the probe registers a loss observer on the trainer's strategy
(:meth:`~mtlgroup.training.UpdateStrategy.add_loss_observer`), so the step's own forward pass
gives the "before" losses and the graph for the per-task gradients
(:func:`~mtlgroup.affinity.lookahead.start_probe`); the RNG state saved in ``on_step_begin``
replays that pass's dropout masks in the lookahead passes, which run from an optimizer step
pre-hook: after the training's backward pass has freed the graph, before the weights move.
Without a strategy on the
:class:`~mtlgroup.training.TrainState` (a loop of your own), with one that does not show its
losses, and at the first probe (until the strategy has shown them once), the probe runs
:func:`~mtlgroup.affinity.lookahead.probe` (a forward pass of its own) in ``on_step_begin``.

Entries a probe cannot define (a source or target with no labelled sample in the batch, a zero
gradient) are left out of that entry's mean. The probe changes neither the trajectory nor BatchNorm
statistics (see :mod:`mtlgroup.affinity.lookahead`).

History: at each validation (and at the end) the mean of the probes *since the previous entry*
is recorded, so the history shows how affinities move during training; the final matrix is the
mean over all probes.

Example:
    >>> from mtlgroup.data import load_dataset
    >>> from mtlgroup.training import TrainConfig, train_network
    >>> data = load_dataset("synthetic", n_train=32, n_val=8, n_test=8)
    >>> probe = LookaheadProbe(every=2)
    >>> _ = train_network(data.tasks.names, data, 0.25,
    ...                   TrainConfig(max_steps=4, batch_size=16), callbacks=[probe])
    >>> probe.n_probes_, probe.lookahead_affinity().matrix.shape
    (2, (4, 4))
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor

from mtlgroup.affinity.lookahead import PendingProbe, ProbeOutcome, RngState, probe, start_probe
from mtlgroup.affinity.matrix import Affinity, History
from mtlgroup.affinity.steps import STEP_RULES, StepRule
from mtlgroup.training.callbacks import Callback, TrainState

if TYPE_CHECKING:
    from mtlgroup.training.result import TrainResult


_KINDS = ("tag", "tag1", "cs")  # exact TAG, first-order TAG, gradient cosine


class RunningMean:
    """Entry-wise mean of matrices that may hold NaN (a NaN is left out of its entry's mean)."""

    def __init__(self, n: int):
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.total = np.zeros((self.n, self.n))
        self.count = np.zeros((self.n, self.n), dtype=int)

    def add(self, matrix: np.ndarray) -> None:
        seen = np.isfinite(matrix)
        self.total[seen] += matrix[seen]
        self.count[seen] += 1

    @property
    def empty(self) -> bool:
        return not self.count.any()

    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / np.maximum(self.count, 1), np.nan)


class LookaheadProbe(Callback):
    """Trainer callback measuring TAG lookahead and gradient-cosine affinities.

    Args:
        every: probe every ``every`` optimizer steps (``k`` of ALGORITHMS §2).
        step: lookahead step rule, ``"sgd"`` (default) or ``"optimizer"``.
        divide_by_lr: divide each probe's ``Z`` by the learning rate (the released TAG code
            does; it rescales without changing groupings).
        lookahead: compute lookahead losses (``False``: cosines and first-order TAG only, from
            the gradients; cheaper).
        batched: evaluate the ``n`` lookaheads in one ``vmap``-ed pass (``True``), in a loop
            (``False``), or ``None``: ``vmap`` except on the CPU, where the loop is faster.

    Attributes (after training):
        tasks_: the probed tasks; ``n_probes_``: probes taken; ``probe_seconds_``: time spent
        in probes; ``reused_forward_``: probes that reused the step's forward pass;
        ``lookahead_history_``, ``first_order_history_``, ``cosine_history_``: see the module
        docstring.
    """

    def __init__(
        self,
        every: int = 10,
        step: StepRule = "sgd",
        divide_by_lr: bool = False,
        lookahead: bool = True,
        batched: bool | None = None,
    ):
        if every < 1:
            raise ValueError(f"probe frequency 'every' must be >= 1, got {every}")
        if step not in STEP_RULES:
            raise ValueError(f"unknown lookahead step {step!r}; expected one of {STEP_RULES}")
        self.every = every
        self.step = step
        self.divide_by_lr = divide_by_lr
        self.lookahead = lookahead
        self.batched = batched
        self.tasks_: tuple[str, ...] = ()
        self._observing: Any = None  # the strategy this probe's loss observer is registered on
        self._shows_losses = False  # ... and whether it has called the observer yet
        self._checking = False
        self._reset(())

    def _reset(self, tasks: tuple[str, ...]) -> None:
        n = len(tasks)
        self.tasks_ = tasks
        self.n_probes_ = 0
        self.reused_forward_ = 0
        self.probe_seconds_ = 0.0
        self._means = {kind: (RunningMean(n), RunningMean(n)) for kind in _KINDS}
        self._histories: dict[str, History] = {kind: [] for kind in _KINDS}
        self.lookahead_history_ = self._histories["tag"]
        self.first_order_history_ = self._histories["tag1"]
        self.cosine_history_ = self._histories["cs"]
        self._due: tuple[TrainState, RngState] | None = None
        self._pending: PendingProbe | None = None  # lookahead passes waiting for the step
        self._hook: Any = None
        self._seconds = 0.0

    def settings(self) -> dict[str, Any]:
        return {
            "every": self.every,
            "step": self.step,
            "divide_by_lr": self.divide_by_lr,
            "normalization": "train-mode batch statistics; running statistics untouched",
        }

    # ---------------------------------------------------------------- hooks

    def on_train_begin(self, state: TrainState) -> None:
        self._reset(tuple(state.tasks.names))
        strategy = state.strategy
        if strategy is not None and strategy is not self._observing:
            strategy.add_loss_observer(self._observe)
            self._observing, self._shows_losses = strategy, False

    def on_step_begin(self, state: TrainState) -> None:
        if (state.step - 1) % self.every != 0 or state.batch is None:
            return
        observed = state.strategy is not None and state.strategy is self._observing
        if observed and self._shows_losses:
            # The strategy's forward pass comes next: save the RNG its dropout draws from.
            self._due = (state, RngState.capture(state.batch.inputs.device))
            return
        # Until the strategy has shown its losses once (one that computes them otherwise never
        # will), a probe runs a forward pass of its own: no probe is lost.
        self._checking = observed
        started = time.perf_counter()
        outcome = probe(
            state.model, state.batch, state.tasks, state.optimizer, self.step,
            lookahead=self.lookahead, batched=self.batched,
        )
        self._add(outcome, started)

    def _observe(self, losses: Mapping[str, Tensor]) -> None:
        """Loss observer: the step's first forward pass, before its backward pass."""
        if self._checking:
            self._shows_losses, self._checking = True, False
        if self._due is None:
            return
        (state, replay), self._due = self._due, None
        assert state.batch is not None
        started = time.perf_counter()
        pending = start_probe(
            state.model, state.batch, state.tasks, losses, state.optimizer, self.step,
            lookahead=self.lookahead, batched=self.batched, replay=replay, keep_graph=True,
        )
        self.reused_forward_ += 1
        self._seconds = time.perf_counter() - started
        # The lookahead passes wait for the optimizer's step: by then the training's backward
        # pass has freed the graph (held through the passes, it cost as much as the reused
        # forward pass saved), and the weights have not moved yet.
        self._pending = pending
        self._hook = state.optimizer.register_step_pre_hook(lambda *_: self._finish())

    def _finish(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._add(pending.finish(), time.perf_counter() - self._seconds)

    def on_step_end(self, state: TrainState) -> None:
        self._checking = False
        self._finish()  # a strategy that never stepped the optimizer: the weights never moved

    def _add(self, outcome: ProbeOutcome, started: float) -> None:
        matrices = {"tag1": outcome.first_order_affinity(self.divide_by_lr), "cs": outcome.cosine()}
        if self.lookahead:
            matrices["tag"] = outcome.lookahead_affinity(self.divide_by_lr)
        for kind, matrix in matrices.items():
            for mean in self._means[kind]:
                mean.add(matrix.numpy().astype(float))
        self.n_probes_ += 1
        self.probe_seconds_ += time.perf_counter() - started

    def on_evaluate(
        self, state: TrainState, split: str, scores: dict[str, dict[str, float]]
    ) -> None:
        self._record(state.step)

    def on_train_end(self, state: TrainState, result: TrainResult) -> None:
        self._record(state.step)

    def _record(self, step: int) -> None:
        for kind, (_, window) in self._means.items():
            if not window.empty:
                self._histories[kind].append((step, window.mean()))
                window.reset()

    # -------------------------------------------------------------- results

    def lookahead_affinity(self) -> Affinity:
        """TAG affinity: mean ``Z`` over the probes (row = source, column = target)."""
        if not self.lookahead:
            raise ValueError("this probe was built with lookahead=False (cosine only)")
        return self._affinity("tag", "tag")

    def first_order_affinity(self) -> Affinity:
        """First-order TAG: mean ``⟨θ − θ'_i, g_j⟩ / L_j`` over the probes (method ``tag``,
        ``settings["first_order"]`` true)."""
        return self._affinity("tag", "tag1", {**self.settings(), "first_order": True})

    def cosine_affinity(self) -> Affinity:
        """CS affinity: mean gradient cosine over the probes (symmetric, unit diagonal)."""
        settings = {k: v for k, v in self.settings().items() if k == "every"}
        return self._affinity("cs", "cs", settings)

    def _affinity(
        self, method: str, kind: str, settings: dict[str, Any] | None = None,
    ) -> Affinity:
        if self.n_probes_ == 0:
            raise ValueError(
                "no probe was taken: train for at least one step (probes run at steps 1, "
                f"1+every, …; every={self.every})"
            )
        return Affinity(
            self.tasks_, self._means[kind][0].mean(), method=method,
            settings=self.settings() if settings is None else settings,
            n_probes=self.n_probes_, history=list(self._histories[kind]),
            extra={"probe_seconds": self.probe_seconds_},
        )
