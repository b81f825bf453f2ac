from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from study_helpers import TASKS, TINY_DATA, TINY_TRAINING, fake_outcome, integrity_ok

from mtlgroup.study.jobs import JobSpec
from mtlgroup.study.plans import plan_candidates
from mtlgroup.study.store import StoreError, StudyStore, current_owner


def specs_for(plan: str = "pairs", seed: int = 0) -> list[JobSpec]:
    return [JobSpec.create(c, "synthetic", TINY_DATA, TINY_TRAINING, seed)
            for c in plan_candidates(plan, TASKS)]


def finish_all(store: StudyStore, specs: list[JobSpec]) -> None:
    for spec in specs:
        assert store.claim(spec.key)
        assert store.record_result(spec.key, fake_outcome(spec))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def store(tmp_path):
    with StudyStore(tmp_path / "study.sqlite") as opened:
        yield opened


def test_adding_jobs_is_idempotent(store):
    specs = specs_for()
    assert store.add_jobs(specs) == len(specs)
    assert store.add_jobs(specs) == 0
    assert store.add_jobs(specs_for(seed=1)) == len(specs)  # another setting: other keys
    assert store.counts()["pending"] == 2 * len(specs)
    assert [r.network for r in store.jobs(setting=specs[0].setting)] == [s.network for s in specs]


def test_the_file_is_in_wal_mode(store):
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_job_is_claimed_once(store):
    spec = specs_for()[0]
    store.add_jobs([spec])
    assert store.claim(spec.key, "host:1")
    assert not store.claim(spec.key, "host:2")
    record = store.job(spec.key)
    assert (record.status, record.attempts, record.owner) == ("running", 1, "host:1")


def test_results_roundtrip_with_scores_per_split(store):
    specs = specs_for()
    store.add_jobs(specs)
    finish_all(store, specs)
    for spec in specs:
        record = store.job(spec.key)
        assert record.status == "done" and record.completions == 1 and record.owner is None
        assert record.outcome == fake_outcome(spec)
        assert record.spec == spec and record.flops == fake_outcome(spec).flops
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    assert rows == sum(3 * len(s.candidate.tasks) for s in specs)  # val, test, early; loss each


def test_a_result_is_never_overwritten(store):
    spec = specs_for()[0]
    store.add_jobs([spec])
    finish_all(store, [spec])
    first = store.job(spec.key)
    other = fake_outcome(specs_for(seed=9)[0])
    assert not store.record_result(spec.key, other)
    assert not store.record_failure(spec.key, "late failure")
    again = store.job(spec.key)
    assert again.outcome == first.outcome and again.finished_at == first.finished_at
    assert again.status == "done" and again.completions == 2  # the extra training is counted


def test_failures_keep_their_error_and_can_be_retried(store):
    spec = specs_for()[0]
    store.add_jobs([spec])
    store.claim(spec.key)
    store.record_failure(spec.key, "NonFiniteLossError: loss is nan\n\ntraceback...")
    record = store.job(spec.key)
    assert record.status == "failed" and record.error.startswith("NonFiniteLossError")
    assert not store.claim(spec.key)
    assert store.retry_failed() == 1
    assert store.claim(spec.key) and store.job(spec.key).attempts == 2


def test_stale_running_jobs_of_dead_processes_go_back_to_pending(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    specs = specs_for()[:3]
    store.add_jobs(specs)
    host = current_owner().rsplit(":", 1)[0]
    store.claim(specs[0].key, f"{host}:{dead.pid}")
    store.claim(specs[1].key)  # this (live) process
    store.claim(specs[2].key, "other-host:1")  # cannot be checked: assumed alive
    assert store.reset_stale_running() == 1
    assert store.job(specs[0].key).status == "pending"
    assert store.job(specs[1].key).status == "running"
    assert store.reset_stale_running(force=True) == 2
    assert store.counts()["running"] == 0


def test_release_gives_back_only_this_owners_claims(store):
    specs = specs_for()[:2]
    store.add_jobs(specs)
    store.claim(specs[0].key)
    store.claim(specs[1].key, "elsewhere:1")
    assert store.release() == 1
    assert [store.job(s.key).status for s in specs] == ["pending", "running"]


def test_export_writes_the_loss_table_format(store, tmp_path):
    specs = specs_for("all")
    store.add_jobs(specs)
    finish_all(store, specs)
    paths = store.export_tables(tmp_path / "tables", cost="flops", reference_flops=1000.0)
    assert sorted(paths) == ["early", "test", "val"]
    for split, path in paths.items():
        lines = path.read_text().splitlines()
        assert lines[0] == "network,cost,task,loss"
        rows = read_csv(path)
        assert len(rows) == sum(len(s.candidate.tasks) for s in specs)  # one per (network, task)
        for spec in specs:
            mine = [r for r in rows if r["network"] == spec.network]
            assert [r["task"] for r in mine] == list(spec.candidate.tasks)
            outcome = fake_outcome(spec)
            for row in mine:
                assert float(row["loss"]) == outcome.scores[split][row["task"]]["loss"]
                assert float(row["cost"]) == outcome.flops / 1000.0
    assert [r["network"] for r in read_csv(paths["val"])][:3] == ["bright/2", "parity/2",
                                                                 "moments/2"]


def test_nominal_cost_is_the_encoder_size(store, tmp_path):
    specs = specs_for()
    store.add_jobs(specs)
    finish_all(store, specs)
    rows = read_csv(store.export_tables(tmp_path, cost="nominal")["val"])
    assert {(r["network"].endswith("/2"), float(r["cost"])) for r in rows} == {
        (True, 0.5), (False, 1.0)}


def test_early_table_prefers_esa_jobs_over_the_early_losses_of_full_jobs(store, tmp_path):
    full = specs_for("all")
    esa, old_esa = specs_for("esa")[:4], specs_for("esa")[4]
    store.add_jobs(full + esa + [old_esa])
    finish_all(store, full + esa)
    # An ESA job from before it was the prefix of the full run recorded no early losses.
    outcome = fake_outcome(old_esa)
    del outcome.scores["early"]
    assert store.claim(old_esa.key) and store.record_result(old_esa.key, outcome)
    early = store.losses("early")
    for spec in esa:  # one definition: an ESA job's early losses (equal to the full run's)
        assert early[spec.network] == fake_outcome(spec).loss("early")
    for spec in full[4:]:  # old_esa's network among them
        assert early[spec.network] == fake_outcome(spec).loss("early")
    # ESA jobs never enter the val and test tables.
    assert store.losses("val") == {s.network: fake_outcome(s).loss("val") for s in full}


def test_two_settings_in_one_store_need_a_filter(store, tmp_path):
    first, second = specs_for(seed=0), specs_for(seed=1)
    store.add_jobs(first + second)
    finish_all(store, first + second)
    with pytest.raises(ValueError, match="more than one done job"):
        store.losses("val")
    assert store.losses("val", setting=second[0].setting) == {
        s.network: fake_outcome(s).loss("val") for s in second}
    assert store.settings() == [first[0].setting, second[0].setting]


def test_export_needs_a_reference_for_flops(store, tmp_path):
    with pytest.raises(ValueError, match="reference_flops"):
        store.export_tables(tmp_path, cost="flops")
    with pytest.raises(ValueError, match="unknown cost"):
        store.export_tables(tmp_path, cost="latency")  # type: ignore[arg-type]


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "study.sqlite"
    StudyStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        StudyStore(path)
    (tmp_path / "junk.sqlite").write_text("not a database at all, just text" * 100)
    with pytest.raises(StoreError, match="not a usable study store"):
        StudyStore(tmp_path / "junk.sqlite")


WRITER = """
import sys
sys.path.insert(0, {helpers!r})
from study_helpers import fake_outcome
from test_store import specs_for
from mtlgroup.study.store import StudyStore

store = StudyStore({path!r})
specs = specs_for("all") + specs_for("all", seed=1)
for spec in specs:  # every writer adds every job, then races for them
    store.add_jobs([spec])
claimed = [s for s in specs if store.claim(s.key)]
for spec in claimed:
    store.record_result(spec.key, fake_outcome(spec))
print(len(claimed))
"""


def test_concurrent_writers_leave_a_consistent_store(tmp_path):
    path = tmp_path / "study.sqlite"
    code = WRITER.format(helpers=str(Path(__file__).parent), path=str(path))
    writers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
               for _ in range(3)]
    claimed = [int(w.communicate(timeout=120)[0]) for w in writers]
    assert all(w.returncode == 0 for w in writers)
    specs = specs_for("all") + specs_for("all", seed=1)
    assert sum(claimed) == len(specs)  # every job handed out exactly once
    assert integrity_ok(path)
    with StudyStore(path) as store:
        records = store.jobs()
        assert len(records) == len(specs)
        assert all(r.status == "done" and r.completions == 1 and r.attempts == 1
                   for r in records)
        assert all(r.outcome == fake_outcome(r.spec) for r in records)
        assert json.loads(json.dumps(store.counts())) == {
            "pending": 0, "running": 0, "done": len(specs), "failed": 0}


def test_selection_reads_the_exported_tables(store, tmp_path):
    from mtlgroup.selection.approx import hoa_table
    from mtlgroup.selection.table import read_loss_table

    specs = specs_for("pairs")
    store.add_jobs(specs)
    finish_all(store, specs)
    paths = store.export_tables(tmp_path, cost="flops", reference_flops=1234.5)
    for split, path in paths.items():
        table = read_loss_table(path)
        assert table.by_network() == {
            s.network: (fake_outcome(s).flops / 1234.5, fake_outcome(s).loss(split))
            for s in specs}
    # A pairs study is what HOA needs: it predicts the three-task network from the pairs.
    predicted = hoa_table(read_loss_table(paths["val"]))
    assert "bright+parity+moments" in predicted.networks


def test_a_claim_of_a_dead_process_whose_pid_this_process_reuses_is_stale(store):
    specs = specs_for()[:2]
    store.add_jobs(specs)
    host_and_pid = current_owner().split("@")[0]
    store.claim(specs[0].key, f"{host_and_pid}@deadbeef")  # same PID, earlier process
    store.claim(specs[1].key)  # this process
    assert store.reset_stale_running() == 1
    assert store.job(specs[0].key).status == "pending"
    assert store.job(specs[1].key).status == "running"


def test_opening_retries_while_sqlite_says_the_database_is_locked():
    # SQLite answers "database is locked" at once (no busy handler) when several processes
    # switch one new store to WAL together: the open must wait, not fail (a CI run met it).
    from mtlgroup.study.store import retry_when_busy

    answers = [sqlite3.OperationalError("database is locked")] * 3 + [None]
    calls = []

    def statement():
        calls.append(1)
        answer = answers[len(calls) - 1]
        if answer is not None:
            raise answer

    retry_when_busy(statement, timeout=5)
    assert len(calls) == 4

    def fails(message: str):
        def statement():
            raise sqlite3.OperationalError(message)
        return statement

    with pytest.raises(sqlite3.OperationalError, match="locked"):  # until the timeout
        retry_when_busy(fails("database is locked"), timeout=0.05)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):  # never retried
        retry_when_busy(fails("no such table"))
