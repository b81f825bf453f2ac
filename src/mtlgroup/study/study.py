"""A study: many trainings of candidate networks in one setting, resumable, on any executor.

The driver (this module) is the only writer of the store: it claims each job just before the
executor starts it and records each result the moment it comes back, so killing the driver
loses at most the jobs that were running; running the same study again skips every finished job
(its key is in the store) and retrains none of them.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> study = Study(out / "study.sqlite", "synthetic", {"n_train": 32, "n_val": 16,
    ...               "n_test": 16, "size": 8}, ["bright", "parity"], {"max_steps": 2})
    >>> len(study.add_plan("pairs"))
    5
    >>> summary = study.run("inline")
    >>> summary.ok, summary.done
    (True, 5)
    >>> sorted(study.tables(out / "tables"))
    ['early', 'test', 'val']
    >>> study.close()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mtlgroup.data.base import MultiTaskData
from mtlgroup.data.registry import (
    cached_dataset,
    canonical_data_options,
    data_identity,
    resolve_tasks,
)
from mtlgroup.models.network_factory import NetworkFactory
from mtlgroup.progress import progress_bar
from mtlgroup.study.executors import Executor, create_executor, error_text
from mtlgroup.study.jobs import (
    JobOutcome,
    JobSpec,
    affinity_request,
    make_strategy,
    run_job,
    strategy_request,
    training_options,
)
from mtlgroup.study.plans import Candidate, parse_candidate, plan_candidates
from mtlgroup.study.store import JobRecord, Status, StudyStore, current_owner
from mtlgroup.study.weights import KeepWeights

if TYPE_CHECKING:
    from torch import nn

JobFunction = Callable[[JobSpec], JobOutcome]


@dataclass(frozen=True)
class JobFailure:
    """A job that failed in this run: its network, key and error (``Type: message``)."""

    network: str
    key: str
    error: str

    @property
    def summary(self) -> str:
        return self.error.splitlines()[0] if self.error else ""


@dataclass
class StudySummary:
    """What one :meth:`Study.run` did.

    Attributes:
        total: jobs of the study (or of the subset run).
        done: jobs trained and recorded by this run.
        skipped: jobs already done before this run (never retrained).
        failed: jobs that failed in this run, with their errors.
        busy: jobs another live study was running (left to it).
        elapsed: seconds spent in the run.
        keys: the keys of the jobs run (or skipped), in order: what a caller saves to find
            these results in the store again.
    """

    total: int
    done: int = 0
    skipped: int = 0
    failed: list[JobFailure] = field(default_factory=list)
    busy: int = 0
    elapsed: float = 0.0
    executor: str = ""
    keys: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No job failed (a CLI run exits non-zero otherwise)."""
        return not self.failed

    @property
    def complete(self) -> bool:
        """Every job of the study is done."""
        return self.done + self.skipped == self.total

    @property
    def jobs_per_hour(self) -> float:
        return 3600.0 * self.done / self.elapsed if self.elapsed > 0 else 0.0

    def shared_failure(self) -> str | None:
        """``all 20 jobs failed: RuntimeError: …`` when every job this run tried failed, all
        for the same reason (an unusable device, a broken dataset: one cause to fix, which
        twenty identical lines would hide); else ``None``."""
        reasons = {f.summary for f in self.failed}
        if self.done or len(reasons) != 1:
            return None
        n = len(self.failed)
        return f"{f'all {n} jobs' if n > 1 else '1 job'} failed: {reasons.pop()}"

    def format(self) -> str:
        """A few lines for people: counts, then one line per failure (one line in all when
        every job failed for the same reason, see :meth:`shared_failure`)."""
        parts = [f"{self.done} trained", f"{self.skipped} already done",
                 f"{len(self.failed)} failed"]
        if self.busy:
            parts.append(f"{self.busy} running in another study")
        lines = [f"study: {self.total} jobs: {', '.join(parts)} ({self.elapsed:.1f} s, "
                 f"{self.executor})"]
        shared = self.shared_failure()
        lines += ([f"  {shared}"] if shared else
                  [f"  FAILED {f.network}: {f.summary}" for f in self.failed])
        return "\n".join(lines)


class Study:
    """Candidate networks of one setting (dataset, tasks, training config, seed) and their
    results in one store.

    Args:
        store_path: the SQLite file (created if missing; reused to resume).
        dataset: a registered dataset name or a user's ``package.module:function`` returning
            :class:`~mtlgroup.data.MultiTaskData`; ``data_options`` go to its loader.
        tasks: the study's tasks (default: all of the dataset's), kept in the dataset's order.
        train_config: a :class:`~mtlgroup.training.TrainConfig` or a dict of its fields (its
            own ``seed``, ``device`` and ``progress`` are not used: pass ``seed``/``device``).
        seed: seed of weights and data order of every job.
        device: where jobs train (``auto``, ``cpu``, ``cuda``); not part of job keys.
        job_fn: the function a worker runs per job (default :func:`~mtlgroup.study.jobs.
            run_job`); it must be picklable for the process and Ray executors.
        model: the network factory every job builds its network with (a
            :class:`~mtlgroup.models.NetworkFactory`, ``"conv"``, ``"mlp"``,
            ``"package.module:function"`` or ``{"name": ..., option: ...}``; default: the
            built-in family for the data's inputs, ``conv`` for images, ``mlp`` otherwise).
        keep_weights: which trained networks the store keeps (``all``, ``full``: not ESA's
            short runs, ``none``); see :mod:`mtlgroup.study.weights`.
        track: where every job logs its training (``{"kind": "mlflow", ...}``, see
            :mod:`mtlgroup.tracking`); not part of job keys.
        strategy: the update strategy every job trains with (a name such as ``"pcgrad"`` or
            ``{"name": ..., "options": {...}}``; default: the joint sum). It is part of the
            study's setting (:attr:`JobSpec.setting`): the same network under two strategies
            is two results, in two loss tables.

    A dataset or model given by import path is imported here, and the network of all the
    study's tasks is built once and its outputs checked before the store
    is opened, so a path that does not import or a model that breaks the contract is one error
    before anything is written or trained.

    Call order: :meth:`add_plan` (one or more times), :meth:`run`, then :meth:`tables`;
    after selection on approximate numbers, :meth:`finalize` trains the chosen networks.
    """

    def __init__(
        self,
        store_path: str | Path,
        dataset: str,
        data_options: Mapping[str, Any] | None = None,
        tasks: Sequence[str] | None = None,
        train_config: Any = None,
        seed: int = 0,
        device: str = "auto",
        job_fn: JobFunction = run_job,
        model: NetworkFactory | str | Mapping[str, Any] | None = None,
        keep_weights: KeepWeights = "all",
        track: Mapping[str, Any] | None = None,
        strategy: str | Mapping[str, Any] | None = None,
    ):
        self.dataset = dataset
        self.data_options = canonical_data_options(dataset, data_options or {})
        self.data_identity = data_identity(dataset, self.data_options)
        data = cached_dataset(dataset, self.data_options)[0]
        self.dataset_tasks = data.tasks
        chosen = set(resolve_tasks(dataset, None if tasks is None else list(tasks),
                                   self.data_options))
        self.tasks: tuple[str, ...] = tuple(t for t in data.tasks.names if t in chosen)
        self.model = NetworkFactory.for_inputs(model, data.input_shape)
        self._check_model(data)
        self.train_config = training_options(train_config or {})
        self.seed = int(seed)
        self.device = device
        self.strategy = strategy_request(strategy)
        make_strategy(self.strategy)  # an unknown name or a missing extra fails here, once
        self.track = _checked_track(track, Path(store_path).parent)
        self.job_fn = job_fn
        self.store = StudyStore(store_path, keep_weights)
        self.specs: list[JobSpec] = []

    # -- planning -----------------------------------------------------------------------------

    def spec(
        self, candidate: Candidate | str, affinity: Mapping[str, Any] | None = None
    ) -> JobSpec:
        """The job of one candidate (or network name) in this study's setting; with
        ``affinity`` (``{"method": "tag", "options": {...}}``), the affinity job that trains
        it jointly with that estimator's probes (see :mod:`mtlgroup.study.jobs`)."""
        if isinstance(candidate, str):
            candidate = parse_candidate(candidate)
        candidate = candidate.ordered(self.tasks)
        return JobSpec(candidate, self.dataset, self.data_options, self.train_config,
                       self.seed, self.device, self.model, affinity_request(affinity),
                       self.data_identity, self.track, self.strategy)

    @property
    def setting(self) -> str:
        """Hash shared by the keys of this study's jobs (see :attr:`JobSpec.setting`)."""
        return self.spec(Candidate(self.tasks[:1])).setting

    def add_plan(self, plan: str | Iterable[Candidate | str]) -> list[JobSpec]:
        """Add a named plan (``all``, ``pairs``, ``esa``) or a list of candidates / network
        names to the study and the store (jobs already stored are kept as they are).
        Returns the plan's jobs."""
        candidates = plan_candidates(plan, self.tasks) if isinstance(plan, str) else list(plan)
        specs = list(dict.fromkeys(self.spec(c) for c in candidates))
        if not specs:
            raise ValueError("the plan has no networks")
        self.store.add_jobs(specs)
        known = set(self.specs)
        self.specs.extend(s for s in specs if s not in known)
        return specs

    # -- running ------------------------------------------------------------------------------

    def run(
        self,
        executor: Executor | str | None = None,
        progress: bool | None = None,
        retry_failed: bool = True,
        specs: Sequence[JobSpec] | None = None,
    ) -> StudySummary:
        """Train every job of the study (or of ``specs``) that is not done yet.

        ``executor`` is an :class:`~mtlgroup.study.executors.Executor`, or a name for
        :func:`~mtlgroup.study.executors.create_executor` (default ``local`` with one worker;
        an executor created here is closed here). Jobs left ``running`` by a dead study are
        taken up again; failed jobs are retried unless ``retry_failed`` is False. Each result
        is written to the store as its job finishes.
        """
        jobs = list(dict.fromkeys(self.specs if specs is None else specs))
        if not jobs:
            raise ValueError("nothing to run: add a plan first")
        started = time.perf_counter()
        keys = [s.key for s in jobs]
        self.store.add_jobs(jobs)
        self.store.reset_stale_running()
        if retry_failed:
            self.store.retry_failed(keys)
        status = {r.key: r.status for r in self.store.jobs(keys=keys)}
        summary = StudySummary(total=len(jobs), keys=keys)
        summary.skipped = sum(status[k] == "done" for k in keys)
        todo = [s for s in jobs if status[s.key] == "pending"]
        summary.busy = sum(status[k] == "running" for k in keys)
        owner = current_owner()

        def claimed() -> Iterator[JobSpec]:
            for spec in todo:
                if self.store.claim(spec.key, owner):
                    yield spec
                else:  # another study took it (or finished it) since we looked
                    summary.busy += 1

        given = isinstance(executor, Executor)
        runner = executor if isinstance(executor, Executor) else create_executor(
            executor or "local"
        )
        summary.executor = runner.describe()
        try:
            with progress_bar(len(todo), f"study ({runner.describe()})", progress) as advance:
                for spec, result in runner.run(claimed(), self.job_fn):
                    if isinstance(result, BaseException):
                        text = error_text(result)
                        self.store.record_failure(spec.key, text)
                        summary.failed.append(JobFailure(spec.network, spec.key, text))
                        note = f"{spec.network} FAILED"
                        line = f"{note}: {summary.failed[-1].summary}"
                    else:
                        self.store.record_result(spec.key, result)
                        summary.done += 1
                        note = f"{spec.network} done"
                        line = (f"{note} in {result.wall_time:.1f} s, val loss "
                                f"{sum(result.loss('val').values()):.4f}")
                    advance(1, description=f"study: {note}", line=line)
        finally:
            # An interrupted run gives back the jobs it claimed but did not finish.
            self.store.release(owner, keys=keys)
            if not given:
                runner.close()
        summary.elapsed = time.perf_counter() - started
        return summary

    def finalize(
        self,
        networks: Iterable[Candidate | str],
        executor: Executor | str | None = None,
        progress: bool | None = None,
    ) -> StudySummary:
        """Train the named networks for real (full budget) unless already done.

        After selecting on approximate losses (HOA predictions, ESA's short runs), pass the
        chosen networks (e.g. ``["semseg+depth+normals", "keypoints/2"]``); their val and test
        losses then appear in :meth:`tables` and :meth:`evaluate` can score the grouping.
        """
        candidates = [
            (parse_candidate(n) if isinstance(n, str) else n).with_budget(1.0) for n in networks
        ]
        specs = self.add_plan(candidates)
        return self.run(executor, progress, specs=specs)

    def _check_model(self, data: MultiTaskData) -> None:
        """Build the network of all the study's tasks and check that it returns
        ``{task: tensor}`` for exactly them (:class:`~mtlgroup.models.NetworkFactoryError`
        otherwise); done when the study is made, before its store is opened."""
        # Every task together, and one alone: a builder that ignores `tasks` is caught too.
        for tasks in (self.tasks, self.tasks[-1:]):
            self.model.check(data.tasks.subset(tasks), data.input_shape)

    # -- results ------------------------------------------------------------------------------

    def records(self, status: Status | None = None) -> list[JobRecord]:
        """Store records of this study's jobs (optionally of one status), in plan order."""
        by_key = {r.key: r for r in self.store.jobs(status, keys=[s.key for s in self.specs])}
        return [by_key[s.key] for s in self.specs if s.key in by_key]

    def network(self, name: Candidate | str) -> nn.Module:
        """The trained network ``name`` (e.g. ``"depth+normals"``, ``"edges2d/2"``) of this
        study, rebuilt by the study's network factory with the weights its job stored, in
        ``eval`` mode. Raises ``KeyError`` for a network with no finished job and
        ``FileNotFoundError`` when its weights were not kept."""
        spec = self.spec(name)
        record = self.store.jobs("done", keys=[spec.key])
        if not record or record[0].outcome is None:
            raise KeyError(f"network {spec.network} has no finished job in {self.store.path}")
        network = self.model.build(self.dataset_tasks.subset(spec.candidate.tasks),
                                   tuple(record[0].outcome.input_shape), spec.candidate.size)
        network.load_state_dict(self.store.load_weights(spec.key))
        return network.eval()

    def losses(self, split: str = "val") -> dict[str, dict[str, float]]:
        """``{network: {task: loss}}`` of this study's setting on ``val``, ``test`` or
        ``early`` (see :meth:`StudyStore.losses`)."""
        return self.store.losses(split, setting=self.setting)

    def reference_flops(self) -> float:
        """FLOPs of one standard single-task network of this study (the cost unit, ALGORITHMS
        §7): the mean over the study's tasks, for the input shape the jobs trained on."""
        from mtlgroup.cost import CostModel

        done = self.store.jobs("done", setting=self.setting)
        if not done or done[0].outcome is None:
            raise ValueError("no finished job yet: the cost unit needs the input shape")
        shape = done[0].outcome.input_shape
        return CostModel(self.dataset_tasks.subset(self.tasks), shape, self.model).reference_flops

    def tables(
        self, directory: str | Path, cost: Literal["flops", "nominal"] = "flops",
        keys: Iterable[str] | None = None,
    ) -> dict[str, Path]:
        """Write this setting's loss tables (``val.csv``, ``test.csv``, ``early.csv``) to
        ``directory`` for ``mtlgroup select`` (of the jobs of ``keys`` only, if given);
        returns ``{split: path}``."""
        reference = self.reference_flops() if cost == "flops" else None
        return self.store.export_tables(directory, cost, reference, setting=self.setting,
                                        keys=keys)

    def evaluate(
        self, served_by: Mapping[str, str], split: str = "test"
    ) -> dict[str, float]:
        """Per task, the ``split`` loss of the network serving it (``served_by``: task →
        network name, as chosen on validation: the honest rule of ALGORITHMS §1).

        Raises ``ValueError`` (a :class:`~mtlgroup.selection.TableError`) naming a network
        that has not been trained at full budget (call :meth:`finalize` first).
        """
        from mtlgroup.selection.evaluate import score_served
        from mtlgroup.selection.table import TableError

        served = {t: parse_candidate(n).ordered(self.tasks).name for t, n in served_by.items()}
        try:
            return dict(score_served(served, self.losses(split), source=f"{split} losses").per_task)
        except TableError as error:
            raise TableError(f"{error}: train it first (Study.finalize)") from None

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _checked_track(track: Mapping[str, Any] | None, out: Path) -> dict[str, Any] | None:
    """A tracker value checked and completed in the driver (defaults under ``out``), so that a
    bad one is an error here rather than in every worker."""
    if not track:
        return None
    from mtlgroup.tracking import prepare_track, resolve_track

    resolved = resolve_track(track, out)
    if resolved is not None:
        prepare_track(resolved)
    return resolved
