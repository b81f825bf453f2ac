"""What a study store holds right now (:func:`study_status`, ``mtlgroup status``) and which of
its kept networks a run may still need (:func:`needed_networks`, ``mtlgroup study --prune``).

Both take a run directory (holding ``study.sqlite``), a store file, or a directory holding
exactly one ``*.sqlite``; anything else is a :class:`StorePathError` naming the path, and no file
is created for a path that names no store. They read a store while another process writes it:
the store runs in WAL mode, so a reader sees the last committed state without waiting for the
writer. A store whose directory has a ``stages/`` folder is a pipeline run's.

Example:
    >>> import tempfile, pathlib
    >>> from mtlgroup.study.jobs import JobSpec
    >>> from mtlgroup.study.plans import Candidate
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "study.sqlite"
    >>> specs = [JobSpec.create(Candidate((t,)), "synthetic", {}, {"max_steps": 2})
    ...          for t in ("bright", "parity")]
    >>> with StudyStore(path) as store:
    ...     store.add_jobs(specs), store.claim(specs[0].key)
    (2, True)
    >>> status = study_status(path)
    >>> status.counts, status.settings[0].pending
    ({'pending': 1, 'running': 1, 'done': 0, 'failed': 0}, ['parity'])
    >>> status.settings[0].running[0].alive  # claimed by this (live) process
    True
    >>> study_status(path.parent / "nowhere")
    Traceback (most recent call last):
    ...
    mtlgroup.study.status.StorePathError: .../nowhere: no such file or directory; expected ...
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mtlgroup.study.plans import Candidate, parse_candidate
from mtlgroup.study.store import STATUSES, JobRecord, StudyStore, owner_is_alive

STORE_NAME = "study.sqlite"
"""The store of a run directory (``mtlgroup run``, ``mtlgroup study --out``)."""
STAGE_DIR = "stages"
"""Where a pipeline run saves its stages' values (``mtlgroup.pipeline.context.STAGE_DIR``; not
imported: the pipeline builds on studies, not the other way round)."""
RUN_STAGES = ("estimate", "baselines", "select", "finalize", "evaluate")
"""The stages whose values a run saves under :data:`STAGE_DIR`, in the order they run."""
EXPECTED = ("expected a run directory (with study.sqlite), a study store (.sqlite file) or a "
            "directory holding exactly one *.sqlite")
_SQLITE_HEADER = b"SQLite format 3\x00"
SHOWN_PENDING = 20
"""Pending networks named in the text output (``--json`` lists them all)."""


class StorePathError(ValueError):
    """A path that names no study store: the message names it and says what was expected."""


@dataclass(frozen=True)
class StoreLocation:
    """A store file and, when it is a pipeline run's, its run directory."""

    store: Path
    run_dir: Path | None


def locate_store(path: str | Path) -> StoreLocation:
    """The store ``path`` names (see the module docstring), checked to be a study store
    without writing anything: a missing path, a directory without one store, a file that is
    not SQLite or an SQLite file without a ``jobs`` table is a :class:`StorePathError`."""
    path = Path(path)
    if path.is_dir():
        found = ([path / STORE_NAME] if (path / STORE_NAME).is_file()
                 else sorted(p for p in path.glob("*.sqlite") if p.is_file()))
        if not found:
            raise StorePathError(f"{path}: no study store in this directory; {EXPECTED}")
        if len(found) > 1:
            raise StorePathError(f"{path}: {len(found)} stores in this directory "
                                 f"({', '.join(p.name for p in found)}); name one of them")
        store = found[0]
    elif path.is_file():
        store = path
    elif path.exists():
        raise StorePathError(f"{path}: not a file or directory; {EXPECTED}")
    else:
        raise StorePathError(f"{path}: no such file or directory; {EXPECTED}")
    _check_store_file(store)
    run_dir = store.parent if (store.parent / STAGE_DIR).is_dir() else None
    return StoreLocation(store, run_dir)


def _check_store_file(path: Path) -> None:
    # Opening a StudyStore writes its schema into any file: check first, read-only.
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise StorePathError(f"{path}: cannot be read ({error.strerror})") from None
    if header != _SQLITE_HEADER:
        raise StorePathError(f"{path}: not a study store (not an SQLite file); {EXPECTED}")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            jobs = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                      "name = 'jobs'").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise StorePathError(f"{path}: not a usable study store ({error})") from None
    if jobs is None:
        raise StorePathError(f"{path}: an SQLite file without a jobs table, not a study store")


# -- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningJob:
    """A ``running`` job: its owner (``host:pid@token``), whether that process is alive (a dead
    owner's job is stale: the next run of the study takes it up again) and for how long it
    has been running."""

    network: str
    key: str
    owner: str | None
    alive: bool
    running_seconds: float | None


@dataclass(frozen=True)
class FailedJob:
    """A ``failed`` job with its full error text (``Type: message`` and the traceback)."""

    network: str
    key: str
    attempts: int
    error: str

    @property
    def summary(self) -> str:
        """The first line of the error."""
        return self.error.splitlines()[0] if self.error else ""


@dataclass(frozen=True)
class KeptNetwork:
    """One weight file: the job's network, its key and the file's size in bytes."""

    network: str
    key: str
    bytes: int


@dataclass(frozen=True)
class WeightUse:
    """The weight files of a group of jobs, and the done network jobs that have none (kept
    with ``keep_weights`` ``full``/``none``, or pruned)."""

    kept: list[KeptNetwork]
    done_without: int = 0

    @property
    def files(self) -> int:
        return len(self.kept)

    @property
    def bytes(self) -> int:
        return sum(k.bytes for k in self.kept)

    @property
    def mean_bytes(self) -> float | None:
        return self.bytes / self.files if self.kept else None

    @property
    def largest(self) -> KeptNetwork | None:
        return max(self.kept, key=lambda k: k.bytes, default=None)

    def to_dict(self) -> dict[str, Any]:
        largest = self.largest
        return {
            "files": self.files, "bytes": self.bytes, "mean_bytes": self.mean_bytes,
            "largest": None if largest is None else asdict(largest),
            "done_without_weights": self.done_without,
            "networks": [asdict(k) for k in self.kept],
        }

    def per_network(self) -> str:
        """``152.3 kB a network on average, largest a+b 389.4 kB`` (empty without files)."""
        largest = self.largest
        if largest is None or self.mean_bytes is None:
            return ""
        return (f"{format_bytes(self.mean_bytes)} a network on average, largest "
                f"{largest.network} {format_bytes(largest.bytes)}")

    def format(self) -> str:
        text = f"{self.files} files, {format_bytes(self.bytes)}"
        return f"{text}, {self.per_network()}" if self.kept else text


@dataclass(frozen=True)
class SettingStatus:
    """The jobs of one setting (dataset, data and training options, seed: see
    :attr:`~mtlgroup.study.jobs.JobSpec.setting`) in a store.

    ``pending`` names what remains (networks as ``name`` or ``name (20% budget)``);
    ``remaining_seconds`` is an estimate: pending jobs × the mean time of a done job, for one
    worker (several workers divide it).
    """

    setting: str
    dataset: str
    seed: int
    counts: dict[str, int]
    running: list[RunningJob]
    failed: list[FailedJob]
    pending: list[str]
    training_seconds: float
    weights: WeightUse

    @property
    def jobs(self) -> int:
        return sum(self.counts.values())

    @property
    def mean_job_seconds(self) -> float | None:
        done = self.counts["done"]
        return self.training_seconds / done if done else None

    @property
    def remaining_seconds(self) -> float | None:
        mean = self.mean_job_seconds
        return None if mean is None else mean * self.counts["pending"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting, "dataset": self.dataset, "seed": self.seed,
            "jobs": self.jobs, "counts": dict(self.counts),
            "running": [asdict(r) for r in self.running],
            "failed": [{**asdict(f), "summary": f.summary} for f in self.failed],
            "pending": list(self.pending),
            "done": {"jobs": self.counts["done"], "training_seconds": self.training_seconds,
                     "mean_job_seconds": self.mean_job_seconds,
                     "remaining_seconds_estimate": self.remaining_seconds},
            "weights": self.weights.to_dict(),
        }

    def format(self, indent: str = "") -> list[str]:
        counts = ", ".join(f"{self.counts[s]} {s}" for s in STATUSES)
        lines = [f"{indent}setting {self.setting[:12]} ({self.dataset}, seed {self.seed}): "
                 f"{self.jobs} jobs: {counts}"]
        inner = indent + "  "
        for job in self.running:
            since = "" if job.running_seconds is None else \
                f", for {format_seconds(job.running_seconds)}"
            state = "alive" if job.alive else \
                "owner gone: stale, the next run of the study takes it up again"
            lines.append(f"{inner}running {job.network}: {job.owner} ({state}{since})")
        for failed in self.failed:
            lines.append(f"{inner}failed {failed.network} ({failed.attempts} attempts): "
                         f"{failed.summary}")
        if self.pending:
            shown = ", ".join(self.pending[:SHOWN_PENDING])
            more = len(self.pending) - SHOWN_PENDING
            lines.append(f"{inner}pending: {shown}" + (f" and {more} more" if more > 0 else ""))
        mean = self.mean_job_seconds
        if mean is not None:
            line = (f"{inner}done: {self.counts['done']} jobs, "
                    f"{format_seconds(self.training_seconds)} of training, "
                    f"{format_seconds(mean)} a job on average")
            if self.counts["pending"]:
                line += (f"; about {format_seconds(self.remaining_seconds or 0.0)} of training "
                         f"left (estimate: {self.counts['pending']} pending x the mean job "
                         "time, one worker)")
            lines.append(line)
        lines.append(f"{inner}weights: {self.weights.format()}; {self.weights.done_without} "
                     "done network jobs without weights")
        return lines


@dataclass(frozen=True)
class StudyStatus:
    """A store's jobs per setting (see :func:`study_status`).

    ``to_dict()`` (``mtlgroup status --json``) has the fields ``store``, ``run_dir`` (or
    ``null``), ``stages`` (the stages whose values the run saved), ``checked_at`` (Unix
    time), ``counts`` ({status: jobs} over the store), ``weights`` (``directory``, ``files`` and
    ``bytes`` of every weight file there) and ``settings``: one object per setting with
    ``setting``, ``dataset``, ``seed``, ``jobs``, ``counts``, ``running`` (``network``, ``key``,
    ``owner``, ``alive``, ``running_seconds``), ``failed`` (``network``, ``key``, ``attempts``,
    ``error``: the full text, ``summary``: its first line), ``pending`` (network names),
    ``done`` (``jobs``, ``training_seconds``, ``mean_job_seconds``,
    ``remaining_seconds_estimate``) and ``weights`` (``files``, ``bytes``, ``mean_bytes``,
    ``largest``, ``done_without_weights``, ``networks``: ``network``, ``key``, ``bytes`` per
    file).
    """

    store: Path
    run_dir: Path | None
    stages: list[str]
    settings: list[SettingStatus]
    weights_directory: Path
    weights_files: int
    weights_bytes: int
    checked_at: float = field(default_factory=time.time)

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(g.counts[s] for g in self.settings) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": str(self.store), "run_dir": None if self.run_dir is None else
            str(self.run_dir), "stages": list(self.stages), "checked_at": self.checked_at,
            "counts": self.counts,
            "weights": {"directory": str(self.weights_directory), "files": self.weights_files,
                        "bytes": self.weights_bytes},
            "settings": [s.to_dict() for s in self.settings],
        }

    def format(self) -> str:
        """Lines for people (plain text, readable when piped)."""
        counts = self.counts
        lines = [f"store {self.store}: {sum(counts.values())} jobs: "
                 + ", ".join(f"{counts[s]} {s}" for s in STATUSES)]
        if self.run_dir is not None:
            missing = [s for s in RUN_STAGES if s not in self.stages]
            lines.append(f"run {self.run_dir}: stages saved: {', '.join(self.stages) or 'none'}"
                         + (f" (not yet: {', '.join(missing)})" if missing else ""))
        if len(self.settings) > 1:
            lines.append(f"{len(self.settings)} settings in this store, each listed apart:")
        for setting in self.settings:
            lines += setting.format("  " if len(self.settings) > 1 else "")
        if len(self.settings) != 1 or self.weights_files != self.settings[0].weights.files:
            lines.append(f"weights in {self.weights_directory}: {self.weights_files} files, "
                         f"{format_bytes(self.weights_bytes)}")
        return "\n".join(lines)


def study_status(path: str | Path) -> StudyStatus:
    """What the store at ``path`` (a run directory, a store file, or a directory holding one
    store) holds now: per setting, the counts, running jobs and their owners, failed jobs with
    their errors, pending networks, training time so far and the weights kept."""
    location = locate_store(path)
    with StudyStore(location.store) as store:
        records = store.jobs()
        sizes = store.weights_sizes()
        directory = store.weights.directory
    now = time.time()
    by_setting: dict[str, list[JobRecord]] = {}
    for record in records:
        by_setting.setdefault(record.spec.setting, []).append(record)
    return StudyStatus(
        store=location.store, run_dir=location.run_dir,
        stages=saved_stages(location.run_dir) if location.run_dir else [],
        settings=[_setting_status(setting, jobs, sizes, now)
                  for setting, jobs in by_setting.items()],
        weights_directory=directory, weights_files=len(sizes),
        weights_bytes=sum(sizes.values()), checked_at=now,
    )


def saved_stages(run_dir: Path) -> list[str]:
    """The stages whose values ``run_dir`` holds (those of :data:`RUN_STAGES` first, in
    order, then any other stage a user registered)."""
    found = {p.stem for p in (run_dir / STAGE_DIR).glob("*.json")}
    return [s for s in RUN_STAGES if s in found] + sorted(found - set(RUN_STAGES))


def _setting_status(setting: str, records: Sequence[JobRecord], sizes: dict[str, int],
                    now: float) -> SettingStatus:
    status: dict[str, list[JobRecord]] = {s: [] for s in STATUSES}
    for record in records:
        status[record.status].append(record)
    done = status["done"]
    return SettingStatus(
        setting=setting, dataset=records[0].spec.dataset, seed=records[0].spec.seed,
        counts={s: len(status[s]) for s in STATUSES},
        running=[RunningJob(str(r.candidate), r.key, r.owner, owner_is_alive(r.owner),
                            None if r.started_at is None else max(0.0, now - r.started_at))
                 for r in status["running"]],
        failed=[FailedJob(str(r.candidate), r.key, r.attempts, r.error or "")
                for r in status["failed"]],
        pending=[str(r.candidate) for r in status["pending"]],
        training_seconds=sum(r.wall_time or 0.0 for r in done),
        weights=WeightUse(
            kept=[KeptNetwork(str(r.candidate), r.key, sizes[r.key])
                  for r in records if r.key in sizes],
            done_without=sum(r.is_network and r.key not in sizes for r in done),
        ),
    )


# -- pruning ----------------------------------------------------------------------------------


def needed_networks(path: str | Path) -> set[str]:
    """The job keys whose networks a run may still need: for a run directory, every network
    chosen at any budget (``stages/select.json``) and every baseline
    (``stages/baselines.json``), of the run's setting; for a bare study store, every
    full-budget network job (ESA's short runs are never exported).

    Keys of jobs not done yet are included (a job finishing while a prune runs keeps its
    weights). A run that has not saved both stages is a ``FileNotFoundError``: until then any
    network may be needed.
    """
    location = locate_store(path)
    with StudyStore(location.store) as store:
        return _needed(store, location.run_dir)


def _needed(store: StudyStore, run_dir: Path | None) -> set[str]:
    full = [r for r in store.jobs() if r.is_network and r.candidate.is_full_budget]
    if run_dir is None:
        return {r.key for r in full}
    names, keys = run_networks(run_dir)
    # The run's own setting, from the keys its stages recorded (a store may hold others).
    settings = {r.spec.setting for r in store.jobs(keys=keys)}
    return {r.key for r in full if (not settings or r.spec.setting in settings)
            and _unordered(r.candidate) in names}


def run_networks(run_dir: str | Path) -> tuple[set[str], list[str]]:
    """The networks a run chose at any budget (select's rows and finalize's, refined) plus its
    baselines (names with their tasks in sorted order, so ``b+a`` and ``a+b`` are one
    network), and the job keys its stages recorded."""
    run_dir = Path(run_dir)
    select, baselines = (_stage_value(run_dir, stage) for stage in ("select", "baselines"))
    # A refined run's final rows (finalize's) may choose networks select did not.
    final = (_stage_value(run_dir, "finalize").get("rows") or []
             if (run_dir / STAGE_DIR / "finalize.json").is_file() else [])
    try:
        names = [n for row in [*select["rows"], *final] for n in row.get("networks") or []]
        for plan in baselines["budgets"]:
            names += [plan["all_task"], *plan["independent"].values()]
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{run_dir / STAGE_DIR}: select.json or baselines.json is not a "
                         f"saved stage value (missing {error})") from None
    keys = [k for stage in saved_stages(run_dir)
            for k in _stage_value(run_dir, stage).get("keys") or []]
    return {_unordered(parse_candidate(n)) for n in names}, keys


def _stage_value(run_dir: Path, stage: str) -> dict[str, Any]:
    path = run_dir / STAGE_DIR / f"{stage}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the run has not saved its {stage} stage, "
                                "so any kept network may still be needed; prune once it has")
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a saved stage value ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: not a saved stage value (expected a JSON object)")
    return value


def _unordered(candidate: Candidate) -> str:
    return candidate.ordered(sorted(candidate.tasks)).name


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune_store` removed (or would remove, ``dry_run``) and what it kept."""

    store: Path
    run_dir: Path | None
    dry_run: bool
    removed: list[KeptNetwork]
    kept: list[KeptNetwork]

    @property
    def freed_bytes(self) -> int:
        return sum(k.bytes for k in self.removed)

    def format(self) -> str:
        kept = WeightUse(self.kept)
        rule = (f"the networks run {self.run_dir} chose at any budget and its baselines"
                if self.run_dir is not None else "the full-budget networks")
        lines = [f"prune {self.store}: keeps {rule}"]
        if self.dry_run:
            lines.append(f"would remove {len(self.removed)} weight files, "
                         f"{format_mb(self.freed_bytes)}:")
            lines += [f"  {k.network} ({k.key[:12]}) {format_bytes(k.bytes)}"
                      for k in self.removed]
        else:
            lines.append(f"removed {len(self.removed)} weight files, "
                         f"{format_mb(self.freed_bytes)} freed")
        lines.append(f"{'would keep' if self.dry_run else 'kept'} {kept.files} networks, "
                     f"{format_mb(kept.bytes)}" + (f" ({kept.per_network()})" if kept.kept else ""))
        return "\n".join(lines)


def prune_store(path: str | Path, dry_run: bool = False) -> PruneResult:
    """Delete the weight files of every job :func:`needed_networks` does not name (with
    ``dry_run``, only say which). The jobs stay done with their results; only their networks
    go. A file written after the prune started is never touched."""
    location = locate_store(path)
    with StudyStore(location.store) as store:
        before = store.weights_sizes()  # first: what a study writes meanwhile is not ours
        needed = _needed(store, location.run_dir)
        names = {r.key: str(r.candidate) for r in store.jobs(keys=before)}
        files = [KeptNetwork(names.get(key, "(no job)"), key, size)
                 for key, size in before.items()]
        removed = [k for k in files if k.key not in needed]
        if not dry_run:
            store.weights.remove(k.key for k in removed)
    return PruneResult(location.store, location.run_dir, dry_run, removed,
                       [k for k in files if k.key in needed])


# -- formatting -------------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """``4.2 s``, ``3 min 05 s``, ``2 h 05 min`` (the one duration format of the CLI and the
    report).

    Example:
        >>> format_seconds(4.21), format_seconds(185), format_seconds(7500)
        ('4.2 s', '3 min 05 s', '2 h 05 min')
    """
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_bytes(count: float) -> str:
    """``512 B``, ``152.3 kB``, ``3.4 MB``, ``1.20 GB`` (decimal units, like ``ls -h --si``).

    Example:
        >>> format_bytes(512), format_bytes(152_300), format_bytes(3_400_000)
        ('512 B', '152.3 kB', '3.4 MB')
    """
    if count < 1e3:
        return f"{count:.0f} B"
    if count < 1e6:
        return f"{count / 1e3:.1f} kB"
    if count < 1e9:
        return f"{count / 1e6:.1f} MB"
    return f"{count / 1e9:.2f} GB"


def format_mb(count: float) -> str:
    """Bytes as ``MB`` always (the prune summary): ``0.31 MB``."""
    return f"{count / 1e6:.2f} MB"
