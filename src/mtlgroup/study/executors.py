"""Executors: run jobs somewhere and report each one as it finishes.

Three executors share one interface (:class:`Executor`), created by name with
:func:`create_executor`:

- ``inline``: in the calling process, one job at a time (debugging, tiny studies, tests);
- ``local``: a pool of ``workers`` processes on this machine, torch threads split between them;
- ``ray``: tasks on a Ray cluster (``address``), or on a local one it starts and stops.

Executors only compute: they never touch the results store. The driver (:class:`~mtlgroup.
study.Study`) claims each job as the executor asks for it and records each result as it comes
back, so a killed driver loses at most the jobs that were running.

A job function's exception comes back as a :class:`JobError` (picklable, with the worker's
traceback as text), so a failing job never breaks the pool and the others go on.

Example:
    >>> with create_executor("inline") as executor:
    ...     sorted(result for _, result in executor.run([1, 2, 3], abs))
    [1, 2, 3]
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

from mtlgroup.registry import Registry

S = TypeVar("S")
R = TypeVar("R")

_EXHAUSTED: Any = object()
"""Marks the end of the specs (a spec itself may be any value)."""

RAY_INSTALL_HINT = "the ray executor needs Ray: pip install 'mtlgroup[ray]' (or pip install ray)"


class ExecutorUnavailable(RuntimeError):
    """An executor cannot start here (its optional dependency is missing)."""


class MainGuardError(RuntimeError, ValueError):
    """Worker processes re-ran the driver's script, and its top level starts a study (the
    ``if __name__ == "__main__":`` guard is missing)."""


_GUARD_REPORT_ENV = "MTLGROUP_MAIN_GUARD_REPORT"
"""Where a worker that re-ran the driver's script writes why (set by the driver for its pools)."""


def _main_guard_message() -> str:
    # In a worker, the script runs as __mp_main__ (until then __main__ is the worker's own).
    modules = [sys.modules.get(name) for name in ("__mp_main__", "__main__")]
    path = next((f for m in modules if (f := getattr(m, "__file__", None))), "your script")
    return (f"worker processes import your script ({path}) again, and its top level starts a "
            "study: put the code that runs it under `if __name__ == \"__main__\":` "
            "(see docs/studies.md)")


def _check_not_reimported_main() -> None:
    """Refuse to start a pool while this process is a worker importing the driver's script.

    A process-pool worker (spawn or forkserver) imports the driver's ``__main__`` script again,
    as ``__mp_main__``, before it can take jobs; multiprocessing marks that phase with
    ``_inheriting``. A study started from there is the script's unguarded top level: the worker
    writes the reason where its driver looks (then exits), so the driver raises it once
    instead of reporting every job lost with a broken pool.
    """
    if not getattr(multiprocessing.current_process(), "_inheriting", False):
        return
    message = _main_guard_message()
    report = os.environ.get(_GUARD_REPORT_ENV)
    if report:
        try:
            with open(report, "w", encoding="utf-8") as file:
                file.write(message)
        except OSError:
            pass
        else:
            sys.stderr.flush()
            os._exit(1)  # the driver says why, once; no traceback from every worker
    raise MainGuardError(message)


def _guard_report_path() -> str:
    return os.path.join(tempfile.gettempdir(), f"mtlgroup-main-guard-{os.getpid()}.txt")


def _take_guard_report() -> str | None:
    path = _guard_report_path()
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read().strip()
        os.remove(path)
    except OSError:
        return None
    return text or None


class JobError(Exception):
    """A job function raised: the original type, message and traceback, as text.

    Example:
        >>> error = JobError.from_exception(ValueError("bad"))
        >>> str(error)
        'ValueError: bad'
    """

    def __init__(self, error_type: str, message: str, traceback_text: str = ""):
        super().__init__(error_type, message, traceback_text)
        self.error_type, self.message, self.traceback_text = error_type, message, traceback_text

    @classmethod
    def from_exception(cls, error: BaseException) -> JobError:
        if isinstance(error, JobError):
            return error
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return cls(type(error).__name__, str(error), text)

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}" if self.message else self.error_type


def error_text(error: BaseException) -> str:
    """What a study stores for a failed job: ``Type: message``, then the traceback if known."""
    job_error = JobError.from_exception(error)
    summary = str(job_error)
    return f"{summary}\n\n{job_error.traceback_text}" if job_error.traceback_text else summary


def call_job(fn: Callable[[S], R], spec: S) -> R:
    """Run ``fn(spec)`` turning any exception into a :class:`JobError` (runs in the worker)."""
    try:
        return fn(spec)
    except Exception as error:
        raise JobError.from_exception(error) from None


class Executor(ABC, Generic[S]):
    """Runs a job function over job specs and yields each result as its job finishes.

    Call order:

    1. create the executor (nothing starts yet; :meth:`start` starts it early if wanted);
    2. :meth:`run` ``(specs, fn)``, any number of times. ``run`` pulls ``specs`` *lazily*:
       it takes the next spec only when it can start it at once, with at most
       :attr:`capacity` jobs in flight, so a driver may claim each job in the iterable it
       passes. It yields ``(spec, result)``, or ``(spec, exception)`` for a failed job
       (a :class:`JobError` for an exception of ``fn``), in the order jobs finish. Closing the
       generator early (``break``, an exception, Ctrl-C) cancels the jobs in flight;
    3. :meth:`close` (or leave the ``with`` block): frees workers and anything started.

    ``fn`` and the specs must be picklable for the process and Ray executors (a module-level
    function such as :func:`mtlgroup.study.jobs.run_job`).
    """

    name: str = "abstract"

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many jobs run at once."""

    @abstractmethod
    def run(
        self, specs: Iterable[S], fn: Callable[[S], R]
    ) -> Iterator[tuple[S, R | BaseException]]: ...

    def start(self) -> None:
        """Start workers (or connect) now rather than at the first job; optional."""

    def close(self) -> None:
        """Release workers; the executor may not be used afterwards."""

    def __enter__(self) -> Executor[S]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name} ({self.capacity} at once)"


class InlineExecutor(Executor[S]):
    """Runs each job in the calling process, one after the other."""

    name = "inline"

    @property
    def capacity(self) -> int:
        return 1

    def run(
        self, specs: Iterable[S], fn: Callable[[S], R]
    ) -> Iterator[tuple[S, R | BaseException]]:
        for spec in specs:
            try:
                result: R | BaseException = call_job(fn, spec)
            except JobError as error:
                result = error
            yield spec, result


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _exit_when_orphaned(driver_pid: int, interval: float = 1.0) -> None:
    # A driver killed with SIGKILL cannot stop its workers, and an idle pool worker would wait
    # for work forever (the fork server stays up too, since every worker holds its pipe): so
    # each worker watches the driver and exits when it is gone.
    while True:
        time.sleep(interval)
        try:
            os.kill(driver_pid, 0)
        except (ProcessLookupError, PermissionError):  # gone (or its pid reused by another user)
            os._exit(1)


def _init_worker(threads: int, driver_pid: int, import_path: str = "") -> None:
    # Each worker gets its share of the cores: oversubscribed OpenMP threads slow every worker
    # down (on a busy 2-core machine, two 2-thread workers run several times slower).
    os.environ["MTLGROUP_PROGRESS"] = "0"
    # A worker forked from a long-lived fork server has the server's working directory and
    # path, not the driver's: a user's module named by import path must import all the same.
    # Appended, as the driver appends its working directory (mtlgroup.imports): a module name
    # resolves to the same code in both.
    sys.path.extend(p for p in import_path.split(os.pathsep) if p and p not in sys.path)
    threading.Thread(target=_exit_when_orphaned, args=(driver_pid,), daemon=True,
                     name="mtlgroup-orphan-watch").start()
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already started
        pass


_WORKER_MODULES = ["mtlgroup.study.jobs", "mtlgroup.data", "mtlgroup.training", "mtlgroup.models",
                   "mtlgroup.cost", "torch._dynamo"]
"""Imported once by the fork server, so that each forked worker starts with them loaded
(``torch._dynamo``: FLOP counting imports it on first use, several seconds per worker)."""


def _process_context() -> multiprocessing.context.BaseContext:
    # Never fork a process that may hold torch threads; forkserver imports torch and the job code
    # once and forks cheap workers from that clean process.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_WORKER_MODULES)
        return context
    return multiprocessing.get_context("spawn")


class LocalExecutor(Executor[S]):
    """A pool of ``workers`` processes on this machine.

    Each worker runs ``threads_per_worker`` torch threads (default: ``max(1, cores // workers)``).
    Note that the thread count changes floating-point reduction order, so results agree across
    worker counts only to rounding unless ``threads_per_worker`` is fixed. Workers live for the
    executor's lifetime (so each loads the dataset once); a worker that dies (e.g. killed by the
    OS for memory) breaks the pool: a fresh pool takes the rest and runs each job the dead pool
    held once more, one at a time (so only the job that kills its worker is lost twice); a job
    lost twice is reported as failed.
    """

    name = "local"

    def __init__(self, workers: int = 1, threads_per_worker: int | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if threads_per_worker is not None and threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be >= 1, got {threads_per_worker}")
        self.workers = workers
        self.threads_per_worker = threads_per_worker or max(1, available_cores() // workers)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def capacity(self) -> int:
        return self.workers

    def describe(self) -> str:
        return f"local ({self.workers} workers × {self.threads_per_worker} threads)"

    def start(self) -> None:
        self._ensure_pool()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            _check_not_reimported_main()
            # Inherited by the workers (and by a fork server started now): where a worker that
            # re-ran this script tells why (see _check_not_reimported_main).
            os.environ[_GUARD_REPORT_ENV] = _guard_report_path()
            _take_guard_report()  # a stale one (a reused pid)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=_process_context(),
                initializer=_init_worker,
                initargs=(self.threads_per_worker, os.getpid(), _driver_path()),
            )
        return self._pool

    def run(
        self, specs: Iterable[S], fn: Callable[[S], R]
    ) -> Iterator[tuple[S, R | BaseException]]:
        _check_not_reimported_main()  # before taking (claiming) any spec
        base = iter(specs)
        retry: deque[S] = deque()
        retried: list[S] = []  # specs are not necessarily hashable

        def pending() -> Iterator[S]:
            while True:  # never ends: _top_up stops at _EXHAUSTED and asks again next round
                yield retry.popleft() if retry else next(base, _EXHAUSTED)  # type: ignore[misc]

        feed = pending()
        in_flight: dict[Future, S] = {}
        finished = False
        try:
            while True:
                # A job that was lost runs alone: if the pool dies again, that job killed it,
                # and no other job is lost twice with it.
                rerunning = retry or any(s is r for s in in_flight.values() for r in retried)
                _top_up(feed, in_flight, 1 if rerunning else self.capacity,
                        lambda spec: self._ensure_pool().submit(call_job, fn, spec))
                if not in_flight:
                    finished = True
                    return
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                lost: list[S] = []
                for future in done:
                    spec = in_flight.pop(future)
                    try:
                        result: R | BaseException = future.result()
                    except BrokenProcessPool:
                        lost.append(spec)
                        continue
                    except Exception as error:  # a JobError, or a result that failed to pickle
                        result = error
                    yield spec, result
                if lost and (report := _take_guard_report()):
                    raise MainGuardError(report)
                if lost:
                    # A dead worker breaks the whole pool and every job in it, or submitted to
                    # it before the break showed. Which job killed it is unknown, so each lost
                    # job runs once more, alone, in a new pool; a job lost twice is reported.
                    lost.extend(in_flight.values())
                    in_flight.clear()
                    self._discard_pool()
                    for spec in lost:
                        if any(spec is r for r in retried):
                            yield spec, BrokenProcessPool(
                                "a worker process died while this job was running, twice")
                        else:
                            retried.append(spec)
                            retry.append(spec)
        finally:
            if not finished:
                for future in in_flight:
                    future.cancel()
                self._discard_pool()

    def _discard_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # Running jobs cannot be cancelled through the pool API; stop their processes so an
        # interrupted study does not wait for them (ProcessPoolExecutor.terminate_workers is
        # public from Python 3.14).
        terminate = getattr(pool, "terminate_workers", None)
        if terminate is not None:
            terminate()
        else:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor(Executor[S]):
    """Jobs as Ray tasks (one CPU each, or ``gpus_per_job`` GPUs).

    With ``address`` (e.g. ``"auto"`` or ``"ray://head:10001"``) it joins that cluster; without,
    it starts a local one with ``workers`` CPUs (default: all cores) and stops it on
    :meth:`close`. If Ray is already initialised in this process, that session is used and left
    running. At most ``workers`` jobs (default: the cluster's CPUs) run at once. The cluster's
    workers must be able to import ``mtlgroup`` (and any module defining your datasets).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        gpus_per_job: float = 0.0,
        **init_options: Any,
    ):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.address = address
        self.workers = workers
        self.gpus_per_job = gpus_per_job
        self.init_options = init_options
        self._ray: Any = None
        self._started = False
        self._remote: Any = None
        self._capacity: int | None = workers

    @property
    def capacity(self) -> int:
        if self._capacity is None:
            self._start()
        assert self._capacity is not None
        return self._capacity

    def describe(self) -> str:
        where = self.address or "local cluster"
        return f"ray ({where}, {self._capacity or '?'} at once)"

    def start(self) -> None:
        self._start()

    def _start(self) -> Any:
        if self._ray is not None:
            return self._ray
        try:
            import ray
        except ImportError as error:
            raise ExecutorUnavailable(RAY_INSTALL_HINT) from error
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                **self.init_options,
            }
            if self.address is None:
                options.setdefault("num_cpus", self.workers or available_cores())
                # Workers import a user's dataset or model by path (package.module:function):
                # give them the driver's import path, the current directory first.
                options.setdefault("runtime_env", {"env_vars": {"PYTHONPATH": _driver_path()}})
            ray.init(address=self.address, **options)
            self._started = True
        if self._capacity is None:
            self._capacity = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, num_gpus=self.gpus_per_job)(call_job)
        self._ray = ray
        return ray

    def run(
        self, specs: Iterable[S], fn: Callable[[S], R]
    ) -> Iterator[tuple[S, R | BaseException]]:
        ray = self._start()
        pending = iter(specs)
        in_flight: dict[Any, S] = {}
        try:
            while True:
                _top_up(pending, in_flight, self.capacity,
                        lambda spec: self._remote.remote(fn, spec))
                if not in_flight:
                    return
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    spec = in_flight.pop(ref)
                    try:
                        result: R | BaseException = ray.get(ref)
                    except ray.exceptions.RayTaskError as error:
                        cause = getattr(error, "cause", None)
                        result = cause if isinstance(cause, BaseException) else error
                    except ray.exceptions.RayError as error:  # worker or node died
                        result = error
                    yield spec, result
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._ray, self._started, self._remote = None, False, None


def _top_up(
    pending: Iterator[S], in_flight: dict[Any, S], capacity: int, submit: Callable[[S], Any]
) -> None:
    """Submit jobs from ``pending`` until ``capacity`` run at once or none are left; specs are
    drawn lazily, so a study claims a job only when a worker is free for it."""
    while len(in_flight) < capacity:
        spec = next(pending, _EXHAUSTED)
        if spec is _EXHAUSTED:
            return
        in_flight[submit(spec)] = spec  # type: ignore[index]


def _driver_path() -> str:
    """The driver's own import path (cwd and added folders, not the interpreter's own)."""
    system = tuple(os.path.realpath(p) for p in {sys.prefix, sys.base_prefix})
    own = [p for p in sys.path if p and os.path.isdir(p)
           and not os.path.realpath(p).startswith(system)]
    entries = [os.getcwd(), *own]
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join(dict.fromkeys([*entries, *([existing] if existing else [])]))


EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor")
EXECUTORS.register("inline", InlineExecutor)
EXECUTORS.register("local", LocalExecutor)
EXECUTORS.register("ray", RayExecutor)


def available_executors() -> list[str]:
    return EXECUTORS.names()


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Add an executor under ``name`` (e.g. one that submits to a batch scheduler)."""
    EXECUTORS.register(name, factory, replace=True)


def create_executor(name: str, **options: Any) -> Executor:
    """An executor by name: ``inline``, ``local`` (``workers=``, ``threads_per_worker=``) or
    ``ray`` (``address=``, ``workers=``). Options set to ``None`` are left at their defaults;
    ``inline`` ignores ``workers``."""
    builder = EXECUTORS.get(name)
    given = {k: v for k, v in options.items() if v is not None}
    if name == "inline":
        given.pop("workers", None)
    for option, owner in _OWN_OPTIONS.items():
        if option in given and name != owner:
            flag = "--" + option.replace("_per_worker", "").replace("_", "-")
            raise ValueError(f"{flag} is for the {owner} executor, not {name!r}")
    return builder(**given)


_OWN_OPTIONS = {"address": "ray", "threads_per_worker": "local"}
"""Options that only one built-in executor understands (named in errors as their flags)."""
