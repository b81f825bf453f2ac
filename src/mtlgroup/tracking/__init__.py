"""Experiment trackers: every training logs its losses and validation scores to MLflow or
TensorBoard, and a pipeline run logs its trade-off table and report (see docs/tracking.md).

``track: mlflow`` in a config (or ``--track mlflow``) sends each training to a run named after
its network; :mod:`~mtlgroup.tracking.settings` describes the values, their options and
defaults, :mod:`~mtlgroup.tracking.callback` what is logged. The packages are extras
(``pip install 'mtlgroup[mlflow]'`` / ``'mtlgroup[tensorboard]'``), imported only when used.

From Python::

    track = start_tracking("mlflow", "runs/a")  # sqlite:///…/runs/a/mlflow.db, no server;
                                                # prints how to look at it
    Study(..., track=track)                     # or train_network(..., callbacks=
                                                #   tracking_callbacks(track, "a+b"))

Example:
    >>> available_trackers()
    ['mlflow', 'tensorboard']
"""

from mtlgroup.tracking.base import (
    TRACKERS,
    Tracker,
    TrackerUnavailable,
    TrackingError,
    register_tracker,
    run_dir_name,
)
from mtlgroup.tracking.callback import (
    TrackingCallback,
    finish_on_error,
    score_metrics,
    tracking_callbacks,
)
from mtlgroup.tracking.settings import (
    open_tracker,
    prepare_track,
    resolve_track,
    start_tracking,
    track_request,
)
from mtlgroup.tracking.summary import log_pipeline_run, log_summary_run


def available_trackers() -> list[str]:
    """The registered tracker kinds, sorted."""
    return sorted(TRACKERS.names())


__all__ = [
    "TRACKERS",
    "Tracker",
    "TrackerUnavailable",
    "TrackingCallback",
    "TrackingError",
    "available_trackers",
    "finish_on_error",
    "log_pipeline_run",
    "log_summary_run",
    "open_tracker",
    "prepare_track",
    "register_tracker",
    "resolve_track",
    "run_dir_name",
    "score_metrics",
    "start_tracking",
    "track_request",
    "tracking_callbacks",
]
