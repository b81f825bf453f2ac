"""The :class:`Tracker` interface, its registry and its errors.

A tracker is one *run* of an experiment tracker (MLflow, TensorBoard): metrics at a step,
parameters, artifact files, then :meth:`Tracker.close`. A tracker class also knows its settings:
the options it takes, their defaults for a run directory, and how to prepare its store in the
driver before any training starts (:meth:`Tracker.prepare`).

The packages behind the built-in trackers are optional (``pip install 'mtlgroup[mlflow]'``,
``'mtlgroup[tensorboard]'``) and imported only when a tracker is used: :func:`require` turns a
missing one into a one-line :class:`TrackerUnavailable` with the install hint.

Example:
    >>> TRACKERS.names()
    ['mlflow', 'tensorboard']
    >>> run_dir_name("normals/2"), run_dir_name("pipeline (hoa)")
    ('normals_2', 'pipeline_hoa')
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from mtlgroup.registry import Registry


class TrackingError(ValueError):
    """A tracking setting is invalid or its store cannot be opened (one line)."""


class TrackerUnavailable(TrackingError, ImportError):
    """The package a tracker needs is not installed; the message says what to install."""


def install_hint(kind: str) -> str:
    return f"pip install 'mtlgroup[{kind}]'"


def unavailable(kind: str, package: str) -> TrackerUnavailable:
    return TrackerUnavailable(f"track: the {kind!r} tracker needs the {package} package, "
                              f"which is not installed: {install_hint(kind)}")


def check_installed(kind: str, package: str) -> None:
    """Raise :class:`TrackerUnavailable` unless ``package`` can be imported (looked up, not
    imported: settings are checked without paying for an import of MLflow)."""
    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None
        found = False
    if not found:
        raise unavailable(kind, package)


def require(kind: str, package: str) -> ModuleType:
    """Import ``package`` for the ``kind`` tracker; a failed import is a
    :class:`TrackerUnavailable` with the install hint."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise unavailable(kind, package) from None


def run_dir_name(run_name: str) -> str:
    """A folder name for a run: characters other than letters, digits and ``+@.=-`` become
    ``_`` (``a/2`` is the half-size network of ``a``, not a folder ``2`` in ``a``)."""
    return re.sub(r"[^A-Za-z0-9+@.=-]+", "_", run_name).strip("_") or "run"


class Tracker(ABC):
    """One run of an experiment tracker, started by ``Tracker(options, run_name)``.

    Subclasses set ``kind`` (the registry name), ``package`` (the module they import),
    ``options`` (option name → what it is) and ``required`` (the options a run cannot start
    without, filled in by :meth:`complete`), and implement the class methods that settle the
    options (:meth:`complete`, :meth:`prepare`, :meth:`viewer`) and the logging methods.
    Every option value is a string, so a track value is plain JSON that travels to worker
    processes and Ray.
    """

    kind: ClassVar[str] = "abstract"
    package: ClassVar[str] = ""
    options: ClassVar[dict[str, str]] = {}
    required: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def __init__(self, options: Mapping[str, str], run_name: str): ...

    @classmethod
    def complete(cls, options: Mapping[str, str], out: Path) -> dict[str, str]:
        """``options`` with those left out filled in for a run whose directory is ``out``
        (absolute), and relative paths made absolute."""
        return dict(options)

    @classmethod
    def prepare(cls, options: Mapping[str, str]) -> None:
        """Create the store (in the driver, before any training) so that every worker finds
        it ready; a store that cannot be opened is a :class:`TrackingError`."""

    @classmethod
    @abstractmethod
    def viewer(cls, options: Mapping[str, str]) -> str:
        """Where the runs go and the command that shows them (one line)."""

    @abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters (once each: a tracker may refuse to change one)."""

    @abstractmethod
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record metric values at ``step``."""

    @abstractmethod
    def log_artifact(self, path: str | Path) -> None:
        """Keep a copy of the file ``path`` with the run."""

    def flush(self) -> None:
        """Write what is buffered (trackers that buffer metrics)."""

    @abstractmethod
    def close(self, failed: bool = False) -> None:
        """End the run (marked failed when ``failed``); logging afterwards is an error."""


TRACKERS: Registry[type[Tracker]] = Registry(
    "tracker",
    builtins=("mtlgroup.tracking.mlflow_tracker", "mtlgroup.tracking.tensorboard_tracker"),
)
"""Tracker classes by ``kind`` (``mlflow``, ``tensorboard``)."""


def register_tracker(cls: type[Tracker]) -> type[Tracker]:
    """Class decorator: make a tracker available by its ``kind``."""
    return TRACKERS.register(cls.kind, cls)
