"""The results store: one SQLite file per study, safe to share between processes.

Tables (schema version :data:`SCHEMA_VERSION`, kept in ``meta``):

- ``jobs``: one row per job key: the network, its spec (JSON), ``status`` (``pending`` →
  ``running`` → ``done`` | ``failed``), ``attempts`` (times claimed), ``completions`` (results
  that reached the store: 1 for a job trained exactly once), the claiming ``owner``
  (``host:pid``), timestamps, wall time, FLOPs, the error text of a failure and the full
  outcome (JSON).
- ``scores``: one row per (job, split, task, metric) with ``split`` in ``val``, ``test``,
  ``early`` and ``metric`` ``loss`` or a task metric.

The file runs in WAL mode with a busy timeout, and every write is one ``BEGIN IMMEDIATE``
transaction, so several studies (processes) can add, claim and record jobs in one store at once:
a claim moves a job from ``pending`` to ``running`` only if it is still pending, so no job is
handed out twice. A driver killed mid-way leaves ``running`` rows; :meth:`StudyStore.
reset_stale_running` returns those of dead processes to ``pending``.

Example:
    >>> import tempfile, pathlib
    >>> from mtlgroup.study.plans import Candidate
    >>> from mtlgroup.study.jobs import JobSpec
    >>> spec = JobSpec.create(Candidate(("bright",)), "synthetic", {}, {"max_steps": 2})
    >>> with StudyStore(pathlib.Path(tempfile.mkdtemp()) / "study.sqlite") as store:
    ...     store.add_jobs([spec]), store.add_jobs([spec]), store.claim(spec.key)
    (1, 0, True)
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mtlgroup.selection.table import LossTable
from mtlgroup.study.jobs import JobOutcome, JobSpec
from mtlgroup.study.plans import Candidate
from mtlgroup.study.weights import (
    KEEP_WEIGHTS,
    KeepWeights,
    WeightStore,
    process_alive,
    weights_directory,
)

SCHEMA_VERSION = 1
Status = Literal["pending", "running", "done", "failed"]
STATUSES: tuple[Status, ...] = ("pending", "running", "done", "failed")
TABLE_SPLITS = ("val", "test", "early")
BUSY_TIMEOUT_S = 60.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    setting TEXT NOT NULL,
    network TEXT NOT NULL,
    tasks TEXT NOT NULL,
    size REAL NOT NULL,
    budget_fraction REAL NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    completions INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    wall_time REAL,
    flops REAL,
    error TEXT,
    outcome TEXT
)""",
    "CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status)",
    "CREATE INDEX IF NOT EXISTS jobs_setting ON jobs (setting)",
    """CREATE TABLE IF NOT EXISTS scores (
    key TEXT NOT NULL REFERENCES jobs (key),
    split TEXT NOT NULL,
    task TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (key, split, task, metric)
)""",
)


class StoreError(RuntimeError):
    """The store file cannot be used (wrong schema version, not a study store...)."""


@dataclass(frozen=True)
class JobRecord:
    """One row of the ``jobs`` table, with its spec and (when done) its outcome parsed."""

    key: str
    spec: JobSpec
    status: Status
    attempts: int
    completions: int
    owner: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    wall_time: float | None
    flops: float | None
    error: str | None
    outcome: JobOutcome | None

    @property
    def network(self) -> str:
        return self.spec.network

    @property
    def candidate(self) -> Candidate:
        return self.spec.candidate

    @property
    def is_network(self) -> bool:
        """A candidate network's job (not an affinity job, whose joint run is no candidate
        and stays out of the loss tables)."""
        return self.spec.affinity is None


_PROCESS_TOKEN = secrets.token_hex(4)
"""Told apart from an earlier process with the same PID (a restarted machine reuses PIDs)."""


def current_owner() -> str:
    """``host:pid@token`` of this process: the owner written on the jobs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}@{_PROCESS_TOKEN}"


def owner_is_alive(owner: str | None) -> bool:
    """Whether the process named ``host:pid[@token]`` still runs. A claim with this process's
    PID but another token was left by a dead process whose PID was reused. An owner on another
    host cannot be checked and counts as alive (reset those with ``force=True`` once you know
    it is gone)."""
    if not owner:
        return False
    host, _, process = owner.rpartition(":")
    pid_text, _, token = process.partition("@")
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        return token in ("", _PROCESS_TOKEN)
    return process_alive(pid)


def _finite_or_none(value: float) -> float | None:
    # SQLite stores NaN as NULL anyway; say so explicitly.
    return value if math.isfinite(value) else None



def retry_when_busy(statement: Callable[[], object], timeout: float = BUSY_TIMEOUT_S) -> None:
    """Run ``statement``, again after a short pause while SQLite says the database is locked.

    Switching a store to WAL needs a lock that SQLite does not wait for through its busy
    handler (it answers "database is locked" at once, e.g. while another process is creating
    the same new store), so several processes opening one store at the same moment wait here.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as error:
            busy = "locked" in str(error) or "busy" in str(error)
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.25)

class StudyStore:
    """A study's jobs and results in one SQLite file (created on first use).

    Use one instance per process (SQLite connections are not shared across processes); close it
    or use it as a context manager.
    """

    def __init__(self, path: str | Path, keep_weights: KeepWeights = "all"):
        if keep_weights not in KEEP_WEIGHTS:
            raise ValueError(f"keep_weights must be one of {', '.join(KEEP_WEIGHTS)}, got "
                             f"{keep_weights!r}")
        self.path = Path(path)
        self.keep_weights: KeepWeights = keep_weights
        self.weights = WeightStore(weights_directory(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None
        )
        try:
            self._connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            retry_when_busy(lambda: self._connection.execute("PRAGMA journal_mode = WAL"))
            # WAL + NORMAL: a commit survives a killed process (not a power cut), fast enough.
            self._connection.execute("PRAGMA synchronous = NORMAL")
            self._create_schema()
        except sqlite3.DatabaseError as error:
            self._connection.close()
            raise StoreError(f"{self.path}: not a usable study store ({error})") from error

    # -- plumbing -----------------------------------------------------------------------------

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock up front so two writers queue
        (busy timeout) instead of failing on a lock upgrade."""
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _create_schema(self) -> None:
        with self._write() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO meta (name, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store schema version {row[0]}, this mtlgroup reads version "
                    f"{SCHEMA_VERSION}; use a new --out directory"
                )

    # -- jobs ---------------------------------------------------------------------------------

    def add_jobs(self, specs: Iterable[JobSpec]) -> int:
        """Insert jobs as ``pending``; keys already present are left as they are.
        Returns how many were new."""
        now = time.time()
        rows = [
            (
                spec.key, spec.setting, spec.network, json.dumps(list(spec.candidate.tasks)),
                spec.candidate.size, spec.candidate.budget_fraction,
                json.dumps(spec.to_dict(), sort_keys=True), now,
            )
            for spec in specs
        ]
        with self._write() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO jobs (key, setting, network, tasks, size, "
                "budget_fraction, spec, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                rows,
            )
            return db.total_changes - before

    def claim(self, key: str, owner: str | None = None) -> bool:
        """Mark a pending job ``running`` for ``owner`` (default: this process). False if the
        job is not pending (done, failed, or claimed by someone else)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, owner = ?, "
                "started_at = ?, error = NULL WHERE key = ? AND status = 'pending'",
                (owner or current_owner(), time.time(), key),
            )
            return cursor.rowcount == 1

    def record_result(self, key: str, outcome: JobOutcome) -> bool:
        """Store a finished job's outcome and scores and mark it ``done``.

        A job already done keeps its first result (the call only counts the extra completion
        and returns False), so a result is never overwritten. The outcome's weights (if it
        carries them and :attr:`keep_weights` keeps this job) are written to their file before
        the job is marked done, so a done job always has them: a crash in between leaves a
        pending job whose rerun replaces the file.
        """
        row = self._connection.execute("SELECT status, spec FROM jobs WHERE key = ?",
                                       (key,)).fetchone()
        if row is None:
            raise KeyError(f"no job with key {key} in {self.path}")
        if row[0] != "done" and outcome.weights is not None and self._keeps(row[1]):
            outcome.extra["weights"] = self.weights.write(key, outcome.weights)
        with self._write() as db:
            row = db.execute("SELECT status FROM jobs WHERE key = ?", (key,)).fetchone()
            if row[0] == "done":
                db.execute("UPDATE jobs SET completions = completions + 1 WHERE key = ?", (key,))
                return False
            db.execute(
                "UPDATE jobs SET status = 'done', completions = completions + 1, owner = NULL, "
                "finished_at = ?, wall_time = ?, flops = ?, error = NULL, outcome = ? "
                "WHERE key = ?",
                (time.time(), outcome.wall_time, outcome.flops,
                 json.dumps(outcome.to_dict(), sort_keys=True), key),
            )
            db.execute("DELETE FROM scores WHERE key = ?", (key,))
            db.executemany(
                "INSERT INTO scores (key, split, task, metric, value) VALUES (?, ?, ?, ?, ?)",
                [
                    (key, split, task, metric, _finite_or_none(float(value)))
                    for split, by_task in outcome.scores.items()
                    for task, metrics in by_task.items()
                    for metric, value in metrics.items()
                ],
            )
            return True

    def _keeps(self, spec_json: str) -> bool:
        spec = JobSpec.from_dict(json.loads(spec_json))
        return keeps_weights(self.keep_weights, spec)

    def record_failure(self, key: str, error: str) -> bool:
        """Mark a job ``failed`` with its error text (a job already done stays done)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE jobs SET status = 'failed', owner = NULL, finished_at = ?, error = ? "
                "WHERE key = ? AND status != 'done'",
                (time.time(), error, key),
            )
            return cursor.rowcount == 1

    def retry_failed(self, keys: Iterable[str] | None = None) -> int:
        """Failed jobs (all, or those of ``keys``) back to ``pending``; returns how many."""
        return self._set_pending("status = 'failed'", keys)

    def release(self, owner: str | None = None, keys: Iterable[str] | None = None) -> int:
        """Jobs ``running`` for ``owner`` (default: this process) back to ``pending``: a study
        interrupted cleanly gives its claims back."""
        return self._set_pending("status = 'running' AND owner = ?", keys,
                                 (owner or current_owner(),))

    def reset_stale_running(self, force: bool = False) -> int:
        """``running`` jobs whose owner process is dead back to ``pending`` (all of them with
        ``force``); returns how many. Call before resuming a study."""
        running = self._connection.execute(
            "SELECT key, owner FROM jobs WHERE status = 'running'"
        ).fetchall()
        stale = [key for key, owner in running if force or not owner_is_alive(owner)]
        self.weights.clean_partial()
        return self._set_pending("status = 'running'", stale) if stale else 0

    def _set_pending(
        self, condition: str, keys: Iterable[str] | None, params: Sequence[object] = ()
    ) -> int:
        sql = f"UPDATE jobs SET status = 'pending', owner = NULL WHERE {condition}"
        with self._write() as db:
            if keys is None:
                return db.execute(sql, tuple(params)).rowcount
            return sum(
                db.execute(sql + " AND key = ?", (*params, key)).rowcount for key in keys
            )

    # -- reading ------------------------------------------------------------------------------

    def jobs(
        self,
        status: Status | Iterable[Status] | None = None,
        keys: Iterable[str] | None = None,
        setting: str | None = None,
    ) -> list[JobRecord]:
        """Job records in the order they were added, filtered by status, keys and setting."""
        clauses: list[str] = []
        params: list[str] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            unknown = [s for s in statuses if s not in STATUSES]
            if unknown:
                raise ValueError(f"unknown status {unknown[0]!r}; expected one of {STATUSES}")
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if setting is not None:
            clauses.append("setting = ?")
            params.append(setting)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._connection.execute(
            "SELECT key, spec, status, attempts, completions, owner, created_at, started_at, "
            f"finished_at, wall_time, flops, error, outcome FROM jobs{where} ORDER BY rowid",
            params,
        ).fetchall()
        wanted = None if keys is None else set(keys)
        return [_record(row) for row in rows if wanted is None or row[0] in wanted]

    def job(self, key: str) -> JobRecord:
        records = self.jobs(keys=[key])
        if not records:
            raise KeyError(f"no job with key {key} in {self.path}")
        return records[0]

    def counts(self, setting: str | None = None) -> dict[str, int]:
        """Number of jobs per status (every status present, zeros included)."""
        sql = "SELECT status, COUNT(*) FROM jobs"
        params: tuple[str, ...] = ()
        if setting is not None:
            sql, params = sql + " WHERE setting = ?", (setting,)
        found = dict(self._connection.execute(sql + " GROUP BY status", params).fetchall())
        return {s: int(found.get(s, 0)) for s in STATUSES}

    def settings(self) -> list[str]:
        rows = self._connection.execute(
            "SELECT setting FROM jobs GROUP BY setting ORDER BY MIN(rowid)"
        ).fetchall()
        return [r[0] for r in rows]

    def losses(
        self, split: str, setting: str | None = None, keys: Iterable[str] | None = None
    ) -> dict[str, dict[str, float]]:
        """``{network: {task: loss}}`` on ``split`` (``val``, ``test``, ``early``) from the done
        jobs (of one ``setting`` or of ``keys``), in the order the jobs were added.

        ``val`` and ``test`` come from full-budget jobs. ``early`` has one definition
        (ALGORITHMS §1.2): the validation losses at ``early_fraction`` (20%) of the full run, on
        the weights it has then. A full job records them on its way; an ESA job is that prefix
        and records the same numbers, so for a network with both either does (the ESA job's is
        taken). ESA jobs of stores from before that definition recorded none and are skipped.
        A network found twice (two settings in one store: pass ``setting``) is an error.
        Affinity jobs are not candidates and are left out.
        """
        if split not in TABLE_SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {TABLE_SPLITS}")
        done = [r for r in self.jobs("done", keys=keys, setting=setting) if r.is_network]
        if split == "early":
            sources = [(r, "early") for r in done if not r.candidate.is_full_budget
                       and r.outcome is not None and "early" in r.outcome.scores]
            covered = {r.network for r, _ in sources}
            sources += [(r, "early") for r in done
                        if r.candidate.is_full_budget and r.network not in covered]
        else:
            sources = [(r, split) for r in done if r.candidate.is_full_budget]
        order = {r.key: i for i, r in enumerate(done)}
        sources.sort(key=lambda item: order[item[0].key])
        table: dict[str, dict[str, float]] = {}
        for record, source_split in sources:
            assert record.outcome is not None
            if source_split not in record.outcome.scores:
                continue
            if record.network in table:
                raise ValueError(
                    f"network {record.network} appears in more than one done job of "
                    f"{self.path} (several settings in one store?); pass a setting or keys"
                )
            table[record.network] = record.outcome.loss(source_split)
        return table

    # -- weights ------------------------------------------------------------------------------

    def load_weights(self, key: str) -> dict[str, Any]:
        """The ``state_dict`` a done job stored (read with ``weights_only=True``)."""
        return self.weights.load(key)

    def weights_sizes(self) -> dict[str, int]:
        """``{key: bytes}`` of every weight file of this store."""
        return self.weights.sizes()

    def prune_weights(self, keep: Iterable[str]) -> tuple[int, int]:
        """Delete the weight files of every job not in ``keep``; returns (files removed, bytes
        freed). The jobs stay done: their results are kept, only their networks are gone."""
        wanted = set(keep)
        return self.weights.remove(k for k in self.weights.sizes() if k not in wanted)

    # -- export -------------------------------------------------------------------------------

    def export_tables(
        self,
        directory: str | Path,
        cost: Literal["flops", "nominal"] = "flops",
        reference_flops: float | None = None,
        setting: str | None = None,
        keys: Iterable[str] | None = None,
    ) -> dict[str, Path]:
        """Write the loss tables ``val.csv``, ``test.csv``, ``early.csv`` (DESIGN "Loss table
        CSV": header ``network,cost,task,loss``, one row per (network, task)) of the done jobs.

        ``cost="flops"`` writes each network's FLOPs over ``reference_flops`` (the FLOPs of one
        standard single-task network, ALGORITHMS §7; required); ``"nominal"`` the paper's cost:
        the encoder size (1 for a full network, 0.5 for ``task/2``). A split with no losses is
        not written. Returns ``{split: path}`` of the files written.
        """
        if cost not in ("flops", "nominal"):
            raise ValueError(f"unknown cost {cost!r}; expected flops or nominal")
        if cost == "flops" and not (reference_flops and reference_flops > 0):
            raise ValueError("cost='flops' needs reference_flops > 0 (FLOPs of one standard "
                             "single-task network; see mtlgroup.cost.CostModel)")
        keys = None if keys is None else list(keys)
        records = {r.network: r for r in self.jobs("done", keys=keys, setting=setting)
                   if r.is_network}
        directory = Path(directory)
        written: dict[str, Path] = {}
        for split in TABLE_SPLITS:
            table = self.losses(split, setting=setting, keys=keys)
            if not table:
                continue
            costs = {}
            for network in table:
                record = records[network]
                if cost == "nominal":
                    costs[network] = float(record.candidate.size)
                else:
                    assert record.flops is not None and reference_flops
                    costs[network] = record.flops / reference_flops
            source = f"{self.path} ({split})"
            path = directory / f"{split}.csv"
            written[split] = LossTable.from_losses(table, costs, source).write_csv(path)
        return written


def _record(row: Sequence) -> JobRecord:
    (key, spec, status, attempts, completions, owner, created_at, started_at, finished_at,
     wall_time, flops, error, outcome) = row
    return JobRecord(
        key=key,
        spec=JobSpec.from_dict(json.loads(spec)),
        status=status,
        attempts=attempts,
        completions=completions,
        owner=owner,
        created_at=created_at,
        started_at=started_at,
        finished_at=finished_at,
        wall_time=wall_time,
        flops=flops,
        error=error,
        outcome=None if outcome is None else JobOutcome.from_dict(json.loads(outcome)),
    )


def keeps_weights(policy: KeepWeights, spec: JobSpec) -> bool:
    """Whether a store with ``keep_weights=policy`` keeps the weights of ``spec``'s job."""
    if policy == "none" or spec.affinity is not None:
        return False
    return policy == "all" or spec.candidate.is_full_budget
