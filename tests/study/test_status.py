"""`study_status` reads a store (also while another process writes it) and `prune_store` keeps
exactly the networks a run or study may still need."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from study_helpers import TASKS, TINY_DATA, TINY_TRAINING, failing_on, fake_job, fake_outcome

from mtlgroup.pipeline import STAGES, BudgetRow
from mtlgroup.pipeline.context import STAGE_DIR
from mtlgroup.study import Candidate, Study
from mtlgroup.study.jobs import JobSpec, run_job
from mtlgroup.study.plans import parse_candidate
from mtlgroup.study.status import (
    RUN_STAGES,
    StorePathError,
    needed_networks,
    prune_store,
    study_status,
)
from mtlgroup.study.status import STAGE_DIR as STATUS_STAGE_DIR
from mtlgroup.study.store import StudyStore, current_owner

HOST = current_owner().rsplit(":", 1)[0]


def make_study(path: Path, job_fn=fake_job, tasks=TASKS, train=TINY_TRAINING, **kwargs) -> Study:
    return Study(path, "synthetic", TINY_DATA, list(tasks), train, job_fn=job_fn, **kwargs)


@pytest.fixture
def partial(tmp_path) -> Path:
    """A pairs study of three tasks, run for its first six jobs: the two with `moments` fail,
    four are done, the three pairs remain."""
    path = tmp_path / "study.sqlite"
    with make_study(path, failing_on("moments")) as study:
        study.add_plan("pairs")
        study.run("inline", specs=study.specs[:6])
    return path


def test_a_partly_run_study_shows_its_counts_failures_and_what_remains(partial):
    status = study_status(partial)
    with StudyStore(partial) as store:
        assert status.counts == store.counts() == {"pending": 3, "running": 0, "done": 4,
                                                   "failed": 2}
        records = store.jobs()
    (setting,) = status.settings
    assert setting.pending == ["bright+parity", "bright+moments", "parity+moments"]
    assert [(f.network, f.attempts, f.summary) for f in setting.failed] == [
        ("moments/2", 1, "FloatingPointError: loss of moments is nan"),
        ("moments", 1, "FloatingPointError: loss of moments is nan")]
    assert all("Traceback" in f.error for f in setting.failed)  # the full text is kept
    done_time = sum(r.wall_time for r in records if r.status == "done")
    assert setting.training_seconds == pytest.approx(done_time)
    assert setting.remaining_seconds == pytest.approx(3 * done_time / 4)
    assert (setting.weights.files, setting.weights.done_without) == (0, 4)  # fake jobs: none
    text = status.format()
    assert "9 jobs: 3 pending, 0 running, 4 done, 2 failed" in text
    assert "failed moments (1 attempts): FloatingPointError: loss of moments is nan" in text
    assert "pending: bright+parity, bright+moments, parity+moments" in text
    assert "estimate: 3 pending" in text
    assert "Traceback" not in text


def test_json_agrees_with_the_store(partial):
    data = json.loads(json.dumps(study_status(partial).to_dict()))
    with StudyStore(partial) as store:
        assert data["counts"] == store.counts()
        (setting,) = data["settings"]
        assert setting["pending"] == [r.network for r in store.jobs("pending")]
        assert [(f["key"], f["error"]) for f in setting["failed"]] == [
            (r.key, r.error) for r in store.jobs("failed")]
    assert data["run_dir"] is None and data["stages"] == []
    assert setting["done"]["jobs"] == 4


WRITER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
for beat in range(100000):
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('beat', ?)", (str(beat),))
    db.execute("COMMIT")
    if beat == 0:
        print("writing", flush=True)
    time.sleep(0.005)
"""


def test_a_job_claimed_by_a_live_process_is_running_and_alive_then_stale(partial):
    """Another process writes the store all along; its claim is alive until it dies."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(partial)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        with StudyStore(partial) as store:
            key = store.jobs("pending")[0].key
            assert store.claim(key, f"{HOST}:{writer.pid}")
        status = study_status(partial)
        (running,) = status.settings[0].running
        assert (running.key, running.owner, running.alive) == (key, f"{HOST}:{writer.pid}", True)
        assert running.running_seconds is not None and 0 <= running.running_seconds < 60
        assert status.counts["running"] == 1 and status.counts["pending"] == 2
        assert "(alive, for" in status.format()
    finally:
        writer.kill()
        writer.wait()
    (stale,) = study_status(partial).settings[0].running
    assert stale.key == key and not stale.alive
    assert "owner gone: stale" in study_status(partial).format()


def test_several_settings_in_one_store_are_listed_apart(tmp_path):
    path = tmp_path / "study.sqlite"
    for seed, count in ((0, 2), (1, 3)):
        with make_study(path, seed=seed) as study:
            study.add_plan("pairs")
            study.run("inline", specs=study.specs[:count])
    status = study_status(path)
    assert [(s.seed, s.counts["done"], s.counts["pending"]) for s in status.settings] == [
        (0, 2, 7), (1, 3, 6)]
    assert "2 settings in this store, each listed apart" in status.format()


def sqlite_without_jobs(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE other (x)")
    return path


def two_stores(directory: Path) -> Path:
    for name in ("a.sqlite", "b.sqlite"):
        sqlite_without_jobs(directory / name)
    return directory


def text_file(directory: Path) -> Path:
    (directory / "notes.txt").write_text("hello")
    return directory / "notes.txt"


@pytest.mark.parametrize("make,message", [
    (lambda d: d / "missing", "no such file or directory; expected a run directory"),
    (lambda d: d / "missing" / "study.sqlite", "no such file or directory"),
    (lambda d: d, "no study store in this directory"),
    (two_stores, "2 stores in this directory (a.sqlite, b.sqlite); name one of them"),
    (text_file, "not a study store (not an SQLite file)"),
    (lambda d: sqlite_without_jobs(d / "other.db"), "without a jobs table"),
])
def test_a_path_that_names_no_store_is_one_line_and_creates_nothing(tmp_path, make, message):
    path = make(tmp_path)
    before = sorted((p, p.stat().st_size) for p in tmp_path.rglob("*"))
    with pytest.raises(StorePathError) as raised:
        study_status(path)
    assert str(path) in str(raised.value) and message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert sorted((p, p.stat().st_size) for p in tmp_path.rglob("*")) == before


def test_the_stage_layout_is_the_pipelines():
    assert STATUS_STAGE_DIR == STAGE_DIR
    assert list(RUN_STAGES) == [name for name in STAGES.names() if name != "report"]


# -- kept networks ----------------------------------------------------------------------------

TWO = ("parity", "moments")  # the data's task order, not sorted
TRAINED = ["parity/2", "parity", "moments", "parity+moments", Candidate(("moments",), 1.0, 0.2)]
"""Real (two-step) trainings: four full-budget networks and one ESA short run."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    with make_study(out / "study.sqlite", job_fn=run_job, tasks=TWO,
                    train={"max_steps": 2, "batch_size": 16}) as study:
        study.add_plan(TRAINED)
        assert study.run("inline").ok
    return out


def copy_of(trained: Path, into: Path) -> Path:
    shutil.copytree(trained, into, dirs_exist_ok=True)
    return into


def open_trained(directory: Path) -> Study:
    return make_study(directory / "study.sqlite", tasks=TWO, train={"max_steps": 2,
                                                                     "batch_size": 16})


def test_status_reports_the_disk_use_of_the_kept_networks(trained):
    status = study_status(trained)
    (setting,) = status.settings
    with StudyStore(trained / "study.sqlite") as store:
        sizes = store.weights_sizes()
        recorded = {r.key: r.outcome.weights_record["bytes"] for r in store.jobs("done")}
    assert len(sizes) == len(TRAINED) and recorded == sizes  # every job's file, as recorded
    weights = setting.weights
    assert {k.key: k.bytes for k in weights.kept} == sizes
    assert (weights.files, weights.bytes, weights.done_without) == (5, sum(sizes.values()), 0)
    assert weights.mean_bytes == pytest.approx(sum(sizes.values()) / 5)
    assert weights.largest.bytes == max(sizes.values())
    assert (status.weights_files, status.weights_bytes) == (5, sum(sizes.values()))
    assert {n["key"]: n["bytes"] for n in status.to_dict()["settings"][0]["weights"]
            ["networks"]} == sizes
    assert "a network on average, largest" in status.format()


def test_prune_of_a_bare_study_keeps_the_full_budget_networks(trained, tmp_path):
    out = copy_of(trained, tmp_path / "copy")
    with StudyStore(out / "study.sqlite") as store:
        before = store.weights_sizes()
        full = {r.key for r in store.jobs() if r.candidate.is_full_budget}
    assert needed_networks(out) == full and len(full) == 4
    preview = prune_store(out, dry_run=True)
    assert [k.network for k in preview.removed] == ["moments (20% budget)"]
    assert "would remove 1 weight files" in preview.format()
    with StudyStore(out / "study.sqlite") as store:
        assert store.weights_sizes() == before  # a dry run deletes nothing
    result = prune_store(out)
    assert {k.key for k in result.removed} == set(before) - full
    assert result.freed_bytes == sum(before[k] for k in set(before) - full)
    with StudyStore(out / "study.sqlite") as store:
        assert set(store.weights_sizes()) == full
        assert store.counts()["done"] == 5  # the results stay
    assert study_status(out).settings[0].weights.done_without == 1


def write_run(out: Path, chosen: list[list[str]], baselines: dict[str, str],
              keys: list[str]) -> None:
    """The stages' values a pipeline run saves, in its format (BudgetRow.to_dict)."""
    stages = out / STAGE_DIR
    stages.mkdir(exist_ok=True)
    rows = [BudgetRow(float(i + 1), bool(networks), networks=networks).to_dict()
            for i, networks in enumerate(chosen)]
    (stages / "select.json").write_text(json.dumps({"rows": rows}))
    plan = {"budget": 2.0, "all_task": baselines.pop("all"), "independent": baselines}
    (stages / "baselines.json").write_text(json.dumps({"budgets": [plan], "keys": keys,
                                                       "failures": []}))


def test_prune_of_a_run_keeps_its_chosen_networks_and_baselines_and_they_still_load(
        trained, tmp_path):
    out = copy_of(trained, tmp_path / "run")
    with open_trained(out) as study:
        key = {name: study.spec(name).key for name in ("parity+moments", "parity/2", "parity")}
        # Another setting's network in the same store is not the run's, even by name.
        other = JobSpec.create(Candidate(("parity", "moments")), "synthetic", TINY_DATA,
                               TINY_TRAINING, seed=7)
        study.store.add_jobs([other])
        study.store.claim(other.key)
        outcome = fake_outcome(other)
        outcome.weights = b"not a network"
        study.store.record_result(other.key, outcome)
    write_run(out, [["moments+parity"], []], {"all": "moments+parity", "parity": "parity/2",
                                             "moments": "moments/2"}, [key["parity"]])
    assert needed_networks(out) == {key["parity+moments"], key["parity/2"]}
    status = study_status(out)
    assert status.stages == ["baselines", "select"]
    assert "not yet: estimate, finalize, evaluate" in status.format()
    result = prune_store(out)
    assert "chose at any budget and its baselines" in result.format()
    assert other.key in {k.key for k in result.removed}
    with open_trained(out) as study:
        assert set(study.store.weights_sizes()) == {key["parity+moments"], key["parity/2"]}
        network = study.network("moments+parity")  # tasks in any order
        assert set(network.state_dict()) == set(study.store.load_weights(key["parity+moments"]))
        assert not network.training
        study.network("parity/2")
        with pytest.raises(FileNotFoundError, match="pruned or never kept"):
            study.network("parity")


def test_a_run_that_has_not_selected_yet_is_not_pruned(trained, tmp_path):
    out = copy_of(trained, tmp_path / "early-run")
    (out / STAGE_DIR).mkdir()
    (out / STAGE_DIR / "estimate.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="select.json not found"):
        prune_store(out)
    with StudyStore(out / "study.sqlite") as store:
        assert len(store.weights_sizes()) == len(TRAINED)


NAMES = ["parity/2", "parity", "moments", "parity+moments", "moments+parity", "moments/2",
         "parity@0.25"]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.lists(st.lists(st.sampled_from(NAMES), max_size=3), max_size=3),
       baselines=st.lists(st.sampled_from(NAMES), min_size=3, max_size=3))
def test_prune_keeps_exactly_the_needed_networks_present(trained, chosen, baselines):
    with tempfile.TemporaryDirectory() as directory:
        out = copy_of(trained, Path(directory))
        write_run(out, chosen, dict(zip(("all", "parity", "moments"), baselines, strict=True)),
                  [])
        with StudyStore(out / "study.sqlite") as store:
            before = set(store.weights_sizes())
            candidates = {r.key: r.candidate for r in store.jobs()}
        needed = needed_networks(out)
        wanted = {parse_candidate(n).ordered(TWO) for n in [*sum(chosen, []), *baselines]}
        assert needed == {k for k, c in candidates.items() if c in wanted}  # full budget only
        prune_store(out)
        with StudyStore(out / "study.sqlite") as store:
            assert set(store.weights_sizes()) == needed & before
