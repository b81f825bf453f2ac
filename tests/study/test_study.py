from __future__ import annotations

import csv
import math

import pytest
from study_helpers import TASKS, TINY_DATA, TINY_TRAINING, failing_on, fake_job, fake_outcome

from mtlgroup.study import InlineExecutor, Study
from mtlgroup.study.store import StudyStore


def make_study(tmp_path, job_fn=fake_job, **kwargs) -> Study:
    return Study(tmp_path / "study.sqlite", "synthetic", TINY_DATA, list(TASKS),
                 TINY_TRAINING, job_fn=job_fn, **kwargs)


def snapshot(store: StudyStore) -> dict[str, tuple]:
    return {r.key: (r.status, r.attempts, r.completions, r.finished_at, r.outcome)
            for r in store.jobs()}


def test_rerunning_skips_finished_jobs(tmp_path):
    with make_study(tmp_path) as study:
        study.add_plan("pairs")
        first = study.run("inline")
        assert (first.done, first.skipped, first.ok, first.complete) == (9, 0, True, True)
        before = snapshot(study.store)
    with make_study(tmp_path) as again:  # a new process would do the same
        again.add_plan("pairs")
        second = again.run("inline")
        assert (second.done, second.skipped) == (0, 9)
        assert snapshot(again.store) == before  # nothing retrained, nothing rewritten


def test_a_failing_job_is_recorded_and_the_others_go_on(tmp_path):
    with make_study(tmp_path, job_fn=failing_on("parity")) as study:
        study.add_plan("pairs")
        summary = study.run("inline")
        failed = {f.network for f in summary.failed}
        assert failed == {"parity/2", "parity", "bright+parity", "parity+moments"}
        assert summary.done == 5 and not summary.ok
        assert all(f.summary == "FloatingPointError: loss of parity is nan"
                   for f in summary.failed)
        records = {r.network: r for r in study.records()}
        assert records["parity"].status == "failed"
        assert "FloatingPointError: loss of parity is nan" in records["parity"].error
        assert "Traceback" in records["parity"].error
        assert "FAILED parity" in summary.format()
        # Tables hold the networks that finished.
        study.tables(tmp_path / "tables", cost="nominal")
        with (tmp_path / "tables" / "val.csv").open() as handle:
            assert {r["network"] for r in csv.DictReader(handle)} == {
                "bright/2", "moments/2", "bright", "moments", "bright+moments"}
    # Rerunning retries the failed jobs only (here they succeed).
    with make_study(tmp_path) as study:
        study.add_plan("pairs")
        again = study.run("inline")
        assert (again.done, again.skipped, again.ok) == (4, 5, True)
        assert {r.attempts for r in study.records() if r.network in failed} == {2}
    with make_study(tmp_path, job_fn=failing_on("parity")) as study:
        study.add_plan("pairs")
        assert study.run("inline", retry_failed=False).done == 0


def test_an_interrupted_run_gives_its_claims_back(tmp_path):
    calls = []

    def interrupted(spec):
        calls.append(spec.network)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fake_outcome(spec)

    with make_study(tmp_path, job_fn=interrupted) as study:
        study.add_plan("pairs")
        with pytest.raises(KeyboardInterrupt):
            study.run("inline")
        assert study.store.counts() == {"pending": 7, "running": 0, "done": 2, "failed": 0}


def test_finalize_trains_only_the_missing_networks(tmp_path):
    with make_study(tmp_path) as study:
        study.add_plan("pairs")
        study.run("inline")
        summary = study.finalize(["moments+bright+parity", "bright+parity", "parity/2"])
        assert (summary.total, summary.done, summary.skipped) == (3, 1, 2)
        val = study.losses("val")
        assert "bright+parity+moments" in val  # named in the dataset's order
        served_by = {"bright": "bright+parity+moments", "parity": "parity/2",
                     "moments": "bright+moments"}
        scores = study.evaluate(served_by)
        test = study.losses("test")
        assert scores == {t: test[served_by[t]][t] for t in TASKS}
        with pytest.raises(ValueError, match="train it first"):
            study.evaluate({"bright": "bright+parity@0.5"})


def test_an_esa_study_fills_only_the_early_table(tmp_path):
    with make_study(tmp_path) as study:
        specs = study.add_plan("esa")
        study.run("inline")
        paths = study.tables(tmp_path / "tables")
        assert sorted(paths) == ["early"]
        assert study.losses("early") == {s.network: fake_outcome(s).loss("early") for s in specs}
        study.finalize(["bright+parity"])
        assert sorted(study.tables(tmp_path / "tables")) == ["early", "test", "val"]
        assert list(study.losses("val")) == ["bright+parity"]


def test_networks_outside_the_study_tasks_are_refused(tmp_path):
    with make_study(tmp_path) as study:
        with pytest.raises(ValueError, match="unknown task 'contrast'"):
            study.add_plan(["bright+contrast"])
        with pytest.raises(ValueError, match="nothing to run"):
            study.run("inline")


def test_a_real_study_trains_and_writes_tables(tmp_path):
    # The one test here that trains: a 'pairs' study over two tasks, inline.
    with Study(tmp_path / "study.sqlite", "synthetic", TINY_DATA, ["bright", "moments"],
               TINY_TRAINING, device="cpu") as study:
        study.add_plan("pairs")
        summary = study.run(InlineExecutor(), progress=False)
        assert summary.ok and summary.done == 5 and summary.jobs_per_hour > 0
        paths = study.tables(tmp_path / "tables")
        with paths["val"].open() as handle:
            rows = list(csv.DictReader(handle))
        costs = {r["network"]: float(r["cost"]) for r in rows}
        # ALGORITHMS §7: the standard single-task networks average to cost 1; half size is cheaper.
        assert math.isclose((costs["bright"] + costs["moments"]) / 2, 1.0, rel_tol=1e-9)
        assert costs["bright/2"] < costs["bright"] and costs["moments/2"] < costs["moments"]
        assert costs["bright+moments"] > max(costs["bright"], costs["moments"]) - 1e-9
        assert all(math.isfinite(float(r["loss"])) for r in rows)
        assert sorted(paths) == ["early", "test", "val"]


DRIVER = """
import sys, time
sys.path.insert(0, {helpers!r})
from study_helpers import TASKS, TINY_DATA, TINY_TRAINING, fake_outcome
from mtlgroup.study import Study

def slow_job(spec):
    time.sleep(0.02)  # long enough for the two drivers to interleave
    return fake_outcome(spec)

if __name__ == "__main__":
    with Study({path!r}, "synthetic", TINY_DATA, list(TASKS), TINY_TRAINING,
               job_fn=slow_job) as study:
        study.add_plan("all")
        summary = study.run("inline", progress=False)
    print(summary.done, summary.skipped, summary.busy)
"""


def test_two_studies_sharing_a_store_train_each_job_once(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from study_helpers import integrity_ok

    path = tmp_path / "study.sqlite"
    code = DRIVER.format(helpers=str(Path(__file__).parent), path=str(path))
    drivers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    reports = [tuple(map(int, d.communicate(timeout=120)[0].split())) for d in drivers]
    assert all(d.returncode == 0 for d in drivers)
    assert sum(done for done, _, _ in reports) == 10  # 'all' over 3 tasks, split between them
    assert integrity_ok(path)
    with StudyStore(path) as store:
        assert {(r.status, r.completions, r.attempts) for r in store.jobs()} == {("done", 1, 1)}
