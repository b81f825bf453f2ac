"""Kept networks: every finished job's weights exactly once, written atomically, read back as
the network that was trained, and only what the store's policy keeps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from study_helpers import TASKS, TINY_DATA, TINY_TRAINING

from mtlgroup.data import load_dataset
from mtlgroup.study import Study
from mtlgroup.study.plans import Candidate
from mtlgroup.study.store import StudyStore
from mtlgroup.study.weights import WeightStore, read_state_dict, weights_directory

TWO = TASKS[:2]
"""Two tasks: a pairs plan of three networks keeps these tests fast."""


def _study(path, **kwargs):
    return Study(path, "synthetic", TINY_DATA, TWO, TINY_TRAINING, device="cpu", **kwargs)


def test_each_done_job_keeps_the_network_it_trained(tmp_path):
    with _study(tmp_path / "study.sqlite") as study:
        study.add_plan("pairs")
        study.run("inline", progress=False)
        sizes = study.store.weights_sizes()
        done = study.records("done")
        assert set(sizes) == {r.key for r in done}
        x = load_dataset("synthetic", **TINY_DATA).test.inputs[:4]
        for record in done:
            assert record.outcome is not None and record.outcome.weights_record is not None
            assert record.outcome.weights_record["bytes"] == sizes[record.key]
            a = study.network(record.network)(x)
            b = study.network(record.network)(x)
            assert all(torch.equal(a[t], b[t]) for t in a)
        # The val loss it recorded is the loss of the network read back (best weights kept).
        record = done[0]
        data = load_dataset("synthetic", **TINY_DATA)
        network = study.network(record.network)
        task = data.tasks[record.candidate.tasks[0]]
        with torch.no_grad():
            inputs, targets = data.val.inputs, data.val.targets[task.name]
            loss = float(task.masked_loss(network(inputs)[task.name], targets.float()
                                          if task.kind != "label" else targets.long()))
        assert loss == pytest.approx(record.outcome.scores["val"][task.name]["loss"], rel=1e-4)


@pytest.mark.parametrize("policy, kept", [("all", {1.0, 0.2}), ("full", {1.0}), ("none", set())])
def test_the_store_keeps_what_its_policy_says(tmp_path, policy, kept):
    with _study(tmp_path / "study.sqlite", keep_weights=policy) as study:
        study.add_plan([Candidate(("bright",), budget_fraction=0.2), "bright+parity"])
        study.run("inline", progress=False)
        sizes = study.store.weights_sizes()
        fractions = {r.candidate.budget_fraction for r in study.records("done")
                     if r.key in sizes}
        assert fractions == kept


def test_a_bad_policy_is_named(tmp_path):
    with pytest.raises(ValueError, match="keep_weights must be one of all, full, none"):
        StudyStore(tmp_path / "s.sqlite", keep_weights="some")  # type: ignore[arg-type]


KILLED_STUDY = textwrap.dedent("""
    import os, signal, sys
    from mtlgroup.study import Study
    from mtlgroup.study.jobs import run_job
    from mtlgroup.study.weights import WeightStore, weights_directory

    calls = []

    def job(spec):
        outcome = run_job(spec)
        calls.append(spec.key)
        if len(calls) == 2:
            # Killed while writing the second network: a partial file and no record.
            store = WeightStore(weights_directory(sys.argv[1]))
            tmp = store.path(spec.key).with_name(spec.key + ".pt.partial-" + str(os.getpid()))
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(outcome.weights[:100])
            os.kill(os.getpid(), signal.SIGKILL)
        return outcome

    study = Study(sys.argv[1], "synthetic", {data}, {tasks}, {training}, device="cpu", job_fn=job)
    study.add_plan("pairs")
    study.run("inline", progress=False)
""")


def test_a_killed_and_resumed_study_has_each_network_exactly_once(tmp_path):
    path = tmp_path / "study.sqlite"
    script = KILLED_STUDY.format(data=TINY_DATA, tasks=TWO, training=TINY_TRAINING)
    killed = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    directory = weights_directory(path)
    assert len(list(directory.glob("*.partial-*"))) == 1
    with _study(path) as study:
        assert study.store.counts()["done"] == 1
        plan = study.add_plan("pairs")
        summary = study.run("inline", progress=False)
        assert summary.skipped == 1 and summary.done == len(plan) - 1
        files = sorted(p.name for p in directory.iterdir())
        assert files == sorted(f"{s.key}.pt" for s in plan)  # no partial file left
        assert all(r.completions == 1 for r in study.records())
        for spec in plan:  # whole files, each the state_dict of its network
            assert set(read_state_dict(WeightStore(directory).path(spec.key)))


def test_a_partial_file_of_a_live_writer_is_left_alone(tmp_path):
    weights = WeightStore(tmp_path / "w")
    weights.directory.mkdir()
    mine = weights.directory / f"k.pt.partial-{os.getpid()}"
    mine.write_bytes(b"x")
    assert weights.clean_partial() == 0 and mine.exists()


def test_a_file_that_is_not_a_state_dict_is_named(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"not torch")
    with pytest.raises(ValueError, match="w.pt: not a readable weight file"):
        read_state_dict(path)
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="holds a list, not a state_dict"):
        read_state_dict(path)
