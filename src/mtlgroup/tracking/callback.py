"""The training callback that logs one training as one tracker run.

=================================  ==========================  ==============================
metric                             when                        step
=================================  ==========================  ==============================
``loss/<task>``, ``loss/total``    every optimizer step        the step
``val/<task>/<metric>``,           every validation (once per  the step it ran at
``val/total``                      epoch, or ``eval_every``)
``test/<task>/<metric>``,          at the end (the restored    the last step
``test/total``, ``best_step``      best-validation weights)
=================================  ==========================  ==============================

``<metric>`` is ``loss`` and the task's metrics; totals are unweighted sums of the per-task
losses. The run is named after the network and records its tasks, the given params and every
training option (``training.<field>``).

Example:
    >>> tracking_callbacks(None, "a+b")
    []
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch

from mtlgroup.tracking.base import Tracker
from mtlgroup.tracking.settings import open_tracker, track_request
from mtlgroup.training.callbacks import Callback, TrainState
from mtlgroup.training.losses import total_loss

if TYPE_CHECKING:
    from mtlgroup.training.result import TrainResult


def score_metrics(split: str, scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{"val/<task>/<metric>": value, ..., "val/total": sum of losses}``."""
    metrics = {f"{split}/{task}/{name}": float(value)
               for task, values in scores.items() for name, value in values.items()}
    metrics[f"{split}/total"] = total_loss(scores)
    return metrics


class TrackingCallback(Callback):
    """Opens a tracker run at ``on_train_begin``, logs every step's losses and every
    validation's scores, and closes the run at ``on_train_end`` (:meth:`close` with
    ``failed=True`` ends it early, e.g. when the training raised)."""

    def __init__(self, track: Mapping[str, str], run_name: str,
                 params: Mapping[str, Any] | None = None):
        self.track = dict(track)
        self.run_name = run_name
        self.params = dict(params or {})
        self.tracker: Tracker | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self.close(failed=True)  # a callback reused for a second fit: end the first run
        self.tracker = open_tracker(self.track, self.run_name)
        training = {f"training.{k}": v for k, v in state.config.to_dict().items()}
        self.tracker.log_params({"tasks": ",".join(state.tasks.names), **self.params,
                                 **training, "total_steps": state.total_steps})

    def on_step_end(self, state: TrainState) -> None:
        assert self.tracker is not None
        names = list(state.losses)
        values = torch.stack([v.detach().float() for v in state.losses.values()]).tolist()
        metrics = {f"loss/{t}": v for t, v in zip(names, values, strict=True)}
        metrics["loss/total"] = float(sum(values))
        self.tracker.log_metrics(metrics, state.step)

    def on_evaluate(
        self, state: TrainState, split: str, scores: dict[str, dict[str, float]]
    ) -> None:
        assert self.tracker is not None
        self.tracker.log_metrics(score_metrics(split, scores), state.step)
        self.tracker.flush()

    def on_train_end(self, state: TrainState, result: TrainResult) -> None:
        assert self.tracker is not None
        self.tracker.log_metrics({**score_metrics("test", result.test),
                                  "best_step": float(result.best_step)}, state.step)
        self.close()

    def close(self, failed: bool = False) -> None:
        """End the run if one is open (idempotent)."""
        tracker, self.tracker = self.tracker, None
        if tracker is not None:
            tracker.close(failed=failed)


def tracking_callbacks(track: Mapping[str, Any] | None, run_name: str,
                       params: Mapping[str, Any] | None = None) -> list[Callback]:
    """The callbacks that log a training named ``run_name`` to ``track`` (a value completed by
    :func:`~mtlgroup.tracking.resolve_track`; ``None``: no callbacks). ``params`` are
    recorded with the run besides its tasks and training options."""
    request = track_request(track)
    if request is None:
        return []
    return [TrackingCallback(request, run_name, params)]


@contextlib.contextmanager
def finish_on_error(callbacks: Iterable[Callback]) -> Iterator[None]:
    """Around a training: if it raises, the tracking callbacks' runs end marked failed (the
    trainer calls ``on_train_end`` only for a training that finished)."""
    try:
        yield
    except BaseException:
        for callback in callbacks:
            if isinstance(callback, TrackingCallback):
                with contextlib.suppress(Exception):  # the training's error is the news
                    callback.close(failed=True)
        raise
