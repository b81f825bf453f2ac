"""Track values: what ``track:`` and ``--track`` may be, and the complete value a run carries.

A track value is ``None`` (no tracking; ``"none"`` and ``"off"`` say so too), a tracker's kind
(``"mlflow"``, ``"tensorboard"``) or a mapping ``{"kind": ..., <option>: ...}``:

===============  ==============  ==========================================================
kind             option          default
===============  ==============  ==========================================================
``mlflow``       ``uri``         ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<out>/mlflow.db``
\\               ``experiment``  ``mtlgroup``
\\               ``artifacts``   a new experiment's artifact folder: ``mlartifacts`` beside
                                 a SQLite store (else the server's default)
``tensorboard``  ``dir``         ``<out>/tensorboard`` (one subdirectory per run)
===============  ==============  ==========================================================

:func:`track_request` checks a value (settings do it when they are made: an unknown kind or
key, or a tracker whose package is not installed, is one line before anything runs).
:func:`resolve_track` fills in the options left out for a run directory, with absolute paths so
that worker processes in other directories write to the same store; :func:`prepare_track`
then creates that store in the driver and says how to look at it.

Example:
    >>> track_request("off") is None
    True
    >>> track_request({"kind": "tensorboard", "folder": "tb"})
    Traceback (most recent call last):
    ...
    mtlgroup.tracking.base.TrackingError: track: unknown key 'folder' for tensorboard; expected: dir
    >>> track_request("wandb")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mtlgroup.tracking.base.TrackingError: track: unknown tracker 'wandb'; available: mlflow, ...
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mtlgroup.registry import UnknownNameError
from mtlgroup.tracking.base import TRACKERS, Tracker, TrackingError, check_installed

NO_TRACKING = ("none", "off")
"""Track values that mean no tracking (so that ``--track none`` can turn a file's off)."""


def track_request(value: Any, source: str = "track") -> dict[str, str] | None:
    """The validated track value, ``{"kind": ..., <option given>: "..."}``, or ``None``.

    Errors are one :class:`~mtlgroup.tracking.base.TrackingError` line starting with
    ``source`` (none if empty); a tracker whose package is not installed gives the install
    hint (:class:`~mtlgroup.tracking.base.TrackerUnavailable`).
    """
    where = f"{source}: " if source else ""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() in NO_TRACKING:
            return None
        value = {"kind": value.strip()}
    if not isinstance(value, Mapping):
        raise TrackingError(f"{where}expected a tracker ({', '.join(TRACKERS.names())}) or a "
                            f"mapping with a kind, got {value!r}")
    kind = value.get("kind")
    if not isinstance(kind, str):
        raise TrackingError(f"{where}a mapping needs kind: {' or '.join(TRACKERS.names())}, "
                            f"got {dict(value)!r}")
    tracker = tracker_class(kind, where)
    unknown = sorted(str(k) for k in set(value) - {"kind", *tracker.options})
    if unknown:
        raise TrackingError(f"{where}unknown key {unknown[0]!r} for {kind}; expected: "
                            f"{', '.join(tracker.options)}")
    options: dict[str, str] = {}
    for key in tracker.options:
        option = value.get(key)
        if option is None:
            continue
        if not isinstance(option, str | os.PathLike) or not str(option):
            raise TrackingError(f"{where}{key}: expected a non-empty string, got {option!r}")
        options[key] = str(option)
    try:
        check_installed(kind, tracker.package)
    except TrackingError as error:
        raise type(error)(f"{where}{str(error).removeprefix('track: ')}") from None
    return {"kind": kind, **options}


def tracker_class(kind: str, where: str = "track: ") -> type[Tracker]:
    """The tracker class of ``kind``; an unknown one is a :class:`TrackingError` listing the
    valid kinds."""
    try:
        return TRACKERS.get(kind)
    except UnknownNameError as error:
        raise TrackingError(f"{where}{error}") from None


def resolve_track(value: Any, out: str | Path) -> dict[str, str] | None:
    """The complete track value of a run whose directory is ``out``: :func:`track_request`
    with every option filled in (absolute paths). Nothing is written yet.

    ``Study(..., track=resolve_track("mlflow", "runs/a"))`` logs every job of a study.
    """
    request = track_request(value)
    if request is None:
        return None
    options = {k: v for k, v in request.items() if k != "kind"}
    completed = tracker_class(request["kind"]).complete(options, Path(out).absolute())
    return {"kind": request["kind"], **completed}


def prepare_track(track: Mapping[str, str]) -> str:
    """Create the store of a resolved track value (in the driver, before any training, so
    that workers find it ready) and return where the runs go and how to look at them."""
    tracker = tracker_class(track["kind"])
    options = _options(track)
    tracker.prepare(options)
    return tracker.viewer(options)


def start_tracking(value: Any, out: str | Path, echo: Callable[[str], None] = print
                   ) -> dict[str, str] | None:
    """:func:`resolve_track` then :func:`prepare_track`, echoing how to look at the runs: what
    a command that trains calls once its checks passed (``None``: no tracking)."""
    track = resolve_track(value, out)
    if track is not None:
        echo(prepare_track(track))
    return track


def _options(track: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in track.items() if k != "kind"}


def open_tracker(track: Mapping[str, str], run_name: str) -> Tracker:
    """Start the run ``run_name`` with the tracker of a resolved track value.

    A value :func:`resolve_track` did not complete is an error that says so: a worker cannot
    know the run directory its driver meant."""
    tracker = tracker_class(track["kind"])
    options = _options(track)
    missing = [k for k in tracker.required if k not in options]
    if missing:
        raise TrackingError(f"track: {track['kind']} without {', '.join(missing)}: complete it "
                            "with mtlgroup.tracking.resolve_track(track, out) first")
    return tracker(options, run_name)
