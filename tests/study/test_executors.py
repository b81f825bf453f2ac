from __future__ import annotations

import math
import pickle
from collections.abc import Iterator

import pytest
from study_helpers import TINY_DATA, TINY_TRAINING, exit_on_negative

from mtlgroup.study import JobSpec, plan_candidates, run_job
from mtlgroup.study.executors import (
    InlineExecutor,
    JobError,
    LocalExecutor,
    RayExecutor,
    create_executor,
    error_text,
)


class Counting:
    """An iterable that records how many items were taken, and when results came back."""

    def __init__(self, items):
        self.items, self.taken = list(items), 0

    def __iter__(self) -> Iterator:
        for item in self.items:
            self.taken += 1
            yield item


def test_job_errors_survive_pickling_with_their_traceback():
    try:
        math.sqrt(-1)
    except ValueError as error:
        job_error = JobError.from_exception(error)
    back = pickle.loads(pickle.dumps(job_error))
    assert str(back) == "ValueError: math domain error"
    assert "Traceback" in back.traceback_text and "math.sqrt(-1)" in back.traceback_text
    assert error_text(back).startswith("ValueError: math domain error\n")


def test_inline_reports_errors_and_goes_on():
    with InlineExecutor() as executor:
        results = dict(executor.run([4.0, -1.0, 9.0], math.sqrt))
    assert results[4.0] == 2.0 and results[9.0] == 3.0
    assert isinstance(results[-1.0], JobError) and results[-1.0].error_type == "ValueError"


def test_local_pool_pulls_jobs_lazily_and_reports_errors():
    specs = Counting([4.0, -1.0, 9.0, 16.0, 25.0])
    with LocalExecutor(workers=2, threads_per_worker=1) as executor:
        results = {}
        for spec, result in executor.run(specs, math.sqrt):
            if not results:
                # When the first job finishes, at most `capacity` jobs had been taken.
                assert specs.taken <= executor.capacity == 2
            results[spec] = result
        # A worker that dies takes its jobs with it; the pool is replaced and the rest go on.
        died = dict(executor.run([1, -1, 2, 3, 4, 5], exit_on_negative))
    assert {k: v for k, v in results.items() if k != -1.0} == {4.0: 2.0, 9.0: 3.0, 16.0: 4.0,
                                                               25.0: 5.0}
    assert str(results[-1.0]) == "ValueError: math domain error"
    lost = {k for k, v in died.items() if isinstance(v, BaseException)}
    assert lost == {-1}  # lost jobs rerun alone: only the one that kills its worker is lost twice
    assert died[4] == 4 and died[5] == 5


def test_worker_count_does_not_change_results():
    specs = [JobSpec.create(c, "synthetic", TINY_DATA, TINY_TRAINING, device="cpu")
             for c in plan_candidates("pairs", ["bright", "parity"])]
    outcomes = {}
    for workers in (1, 2):
        with LocalExecutor(workers, threads_per_worker=1) as executor:
            outcomes[workers] = {s.key: r for s, r in executor.run(specs, run_job)}
    assert all(not isinstance(r, BaseException) for r in outcomes[2].values())
    for spec in specs:
        assert outcomes[1][spec.key].scores == outcomes[2][spec.key].scores
    # Each worker process loaded the data once and reused it for its later jobs.
    two = outcomes[2].values()
    workers_seen = {o.worker for o in two}
    assert 1 <= len(workers_seen) <= 2
    assert sum(not o.data_cache_hit for o in two) == len(workers_seen)


def test_threads_are_shared_between_workers():
    assert LocalExecutor(1).threads_per_worker >= LocalExecutor(2).threads_per_worker >= 1
    assert LocalExecutor(4, threads_per_worker=3).threads_per_worker == 3


def test_create_executor_by_name():
    assert isinstance(create_executor("local", workers=2), LocalExecutor)
    assert create_executor("local", workers=None).capacity == 1
    assert isinstance(create_executor("inline", workers=3), InlineExecutor)
    ray = create_executor("ray", address="auto", workers=2)
    assert isinstance(ray, RayExecutor) and ray.address == "auto"  # nothing started yet
    with pytest.raises(ValueError, match="unknown executor 'slurm'; available: inline, local, ray"):
        create_executor("slurm")
    with pytest.raises(ValueError, match="--address is for the ray executor"):
        create_executor("local", address="auto")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        create_executor("local", workers=0)


def test_leaving_a_run_early_stops_the_running_jobs():
    import time

    with LocalExecutor(workers=2, threads_per_worker=1) as executor:
        executor.start()
        started = time.perf_counter()
        for spec, _ in executor.run([0.01, 60.0, 60.0], time.sleep):
            assert spec == 0.01
            break  # e.g. Ctrl-C in the driver: the 60 s jobs must not be waited for
        assert time.perf_counter() - started < 30
