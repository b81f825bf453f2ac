"""The MLflow tracker: one MLflow run per training, in one experiment.

With no ``uri`` and no ``MLFLOW_TRACKING_URI`` the store is ``sqlite:///<out>/mlflow.db``
(no server) and a new experiment keeps its artifacts in ``<out>/mlartifacts``; look at it with
``mlflow ui --backend-store-uri sqlite:///<out>/mlflow.db``.

Several worker processes write to one SQLite store at once (a local executor with several
workers). Metrics are buffered and written in batches (at each validation, every
:data:`FLUSH_SECONDS` and at the end), so each training holds the database's write lock a few
times, briefly; SQLite makes a writer wait for the lock (5 s), and a call that still finds the
database locked is retried with backoff for up to :data:`LOCK_PATIENCE` seconds. The store's
tables are created once, by the driver (:meth:`MlflowTracker.prepare`), never by two workers
at once.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mtlgroup.tracking.base import Tracker, TrackingError, register_tracker, require

T = TypeVar("T")

DEFAULT_EXPERIMENT = "mtlgroup"
STORE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
FLUSH_SECONDS = 10.0
"""Buffered metrics are written at least this often (so a long epoch shows up while it runs)."""
LOCK_PATIENCE = 120.0
"""Seconds a call keeps retrying while another process holds the SQLite store's lock."""
_LOCKED = ("database is locked", "database table is locked")
_BATCH = {"metrics": 1000, "params": 100}
"""MLflow's limits per ``log_batch`` call."""
_MAX_PARAM_LENGTH = 6000


def retry_locked(call: Callable[[], T], patience: float = LOCK_PATIENCE) -> T:
    """``call()``, retried with growing pauses while the SQLite store says it is locked."""
    deadline = time.monotonic() + patience
    pause = 0.05
    while True:
        try:
            return call()
        except Exception as error:
            if not any(text in str(error) for text in _LOCKED) or time.monotonic() > deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))  # jitter: workers do not retry in step
        pause = min(2 * pause, 2.0)


def metric_key(name: str) -> str:
    """MLflow accepts letters, digits, ``_-. :/`` in names; anything else becomes ``_``."""
    return re.sub(r"[^\w\-. :/]", "_", name)


@contextlib.contextmanager
def _quiet_store_setup() -> Iterator[None]:
    # Creating a SQLite store logs every schema migration at INFO: not news to our users.
    loggers = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _open(options: Mapping[str, str]) -> tuple[Any, str]:
    """A client of the store and the id of the experiment (created if missing)."""
    tracking = require("mlflow", "mlflow.tracking")
    with _quiet_store_setup():  # the store is opened (and, if new, created) on first use
        client = tracking.MlflowClient(tracking_uri=options["uri"])
        return client, _experiment_id(client, options)


def _experiment_id(client: Any, options: Mapping[str, str]) -> str:
    """The id of the experiment, created if missing (by whichever process comes first)."""
    from mlflow.exceptions import MlflowException

    name = options["experiment"]
    found = retry_locked(lambda: client.get_experiment_by_name(name))
    if found is None:
        try:
            return str(retry_locked(lambda: client.create_experiment(
                name, artifact_location=options.get("artifacts"))))
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = retry_locked(lambda: client.get_experiment_by_name(name))
    if found.lifecycle_stage == "deleted":
        raise TrackingError(f"track: the MLflow experiment {name!r} is deleted: restore it "
                            "(mlflow experiments restore) or choose another experiment")
    return str(found.experiment_id)


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI (``None`` for other stores)."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix):]) if uri.startswith(prefix) else None


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


@register_tracker
class MlflowTracker(Tracker):
    """One MLflow run: params, metrics (buffered, written in batches) and artifact files."""

    kind = "mlflow"
    package = "mlflow"
    options = {
        "uri": "the tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///<out>/mlflow.db)",
        "experiment": f"the experiment's name (default {DEFAULT_EXPERIMENT})",
        "artifacts": "where a new experiment keeps its artifacts (default: mlartifacts beside "
                     "a SQLite store, else the server's default)",
    }
    required = ("uri", "experiment")

    @classmethod
    def complete(cls, options: Mapping[str, str], out: Path) -> dict[str, str]:
        import os

        uri = options.get("uri") or os.environ.get("MLFLOW_TRACKING_URI") or (
            f"sqlite:///{out / STORE_FILE}")
        database = _sqlite_path(uri)
        if database is not None:  # absolute: workers in other directories use the same file
            database = database.absolute()
            uri = f"sqlite:///{database}"
        completed = {"uri": uri, "experiment": options.get("experiment") or DEFAULT_EXPERIMENT}
        artifacts = options.get("artifacts")
        if artifacts is None and database is not None:
            artifacts = str(database.parent / ARTIFACT_DIR)
        elif artifacts is not None and "://" not in artifacts:
            artifacts = str(Path(artifacts).absolute())
        if artifacts is not None:
            completed["artifacts"] = artifacts
        return completed

    @classmethod
    def prepare(cls, options: Mapping[str, str]) -> None:
        from mlflow.exceptions import MlflowException

        database = _sqlite_path(options["uri"])
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        try:
            _open(options)
        except MlflowException as error:
            raise TrackingError(f"track: cannot use the MLflow store {options['uri']}: "
                                f"{_first_line(error)}") from None

    @classmethod
    def viewer(cls, options: Mapping[str, str]) -> str:
        uri = options["uri"]
        look = (f"open {uri}" if uri.startswith(("http://", "https://"))
                else f"mlflow ui --backend-store-uri {shlex.quote(uri)}")
        return (f"tracking to MLflow experiment {options['experiment']!r} in {uri}; look at it "
                f"with: {look}")

    def __init__(self, options: Mapping[str, str], run_name: str):
        self.run_name = run_name
        self._client, experiment = _open(options)
        run = retry_locked(lambda: self._client.create_run(experiment, run_name=run_name))
        self.run_id: str = run.info.run_id
        self._metrics: list[Any] = []
        self._flushed = time.monotonic()
        self._closed = False

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        entries = [Param(metric_key(str(k)), str(v)[:_MAX_PARAM_LENGTH])
                   for k, v in params.items()]
        self._write(params=entries)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self._metrics.extend(Metric(metric_key(k), float(v), stamp, int(step))
                             for k, v in metrics.items())
        if (len(self._metrics) >= _BATCH["metrics"]
                or time.monotonic() - self._flushed >= FLUSH_SECONDS):
            self.flush()

    def log_artifact(self, path: str | Path) -> None:
        self._client.log_artifact(self.run_id, str(path))

    def flush(self) -> None:
        metrics, self._metrics = self._metrics, []
        self._write(metrics=metrics)
        self._flushed = time.monotonic()

    def close(self, failed: bool = False) -> None:
        if self._closed:
            return
        self.flush()
        retry_locked(lambda: self._client.set_terminated(
            self.run_id, status="FAILED" if failed else "FINISHED"))
        self._closed = True

    def _write(self, metrics: Sequence[Any] = (), params: Sequence[Any] = ()) -> None:
        """``log_batch`` in chunks MLflow accepts; each chunk retried while locked."""
        for kind, entries in (("metrics", list(metrics)), ("params", list(params))):
            size = _BATCH[kind]
            for start in range(0, len(entries), size):
                self._log_batch({kind: entries[start:start + size]})

    def _log_batch(self, chunk: dict[str, list[Any]]) -> None:
        retry_locked(lambda: self._client.log_batch(self.run_id, **chunk))
