"""The joint run of an affinity estimator is a job of the study's store."""

from __future__ import annotations

import pytest
from pipeline_helpers import DATA, TRAIN, served_by_lowest_val, tiny_settings

from mtlgroup.pipeline import run_pipeline
from mtlgroup.study import Study
from mtlgroup.study.jobs import JobSpec, _sha256, outcome_affinity
from mtlgroup.study.plans import Candidate


@pytest.fixture(scope="module")
def cs_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cs")
    messages: list[str] = []
    report = run_pipeline(tiny_settings(estimator="cs", budgets=[2.0, 3.0], baseline_budgets=[]),
                          out, echo=messages.append)
    return out, report, messages


def test_the_joint_run_is_one_done_job_with_its_affinity(cs_run):
    out, report, messages = cs_run
    with Study(out / "study.sqlite", "synthetic", DATA, None, TRAIN) as study:
        joint = [r for r in study.store.jobs("done") if not r.is_network]
        assert len(joint) == 1 and joint[0].spec.affinity == {"method": "cs",
                                                               "options": {"every": 10}}
        affinity = outcome_affinity(joint[0].outcome)
        assert affinity.method == "cs" and affinity.tasks == study.tasks
        # not a candidate network: absent from the loss tables
        networks = {r.network for r in study.store.jobs("done") if r.is_network}
        assert set(study.losses("val")) == networks
        assert set(study.store.losses("test")) == networks
    assert not (out / "affinity_run.json").exists()  # no second cache beside the store
    assert (out / "affinity.csv").exists()
    assert any("one joint training" in m for m in messages)


def test_a_rerun_trains_nothing_and_says_so(cs_run):
    out, report, _ = cs_run
    messages: list[str] = []
    again = run_pipeline(tiny_settings(estimator="cs", budgets=[2.0, 3.0], baseline_budgets=[]),
                         out, echo=messages.append)
    assert any("reusing the joint cs run" in m for m in messages)
    assert all(" 0 trained" in m for m in messages if "jobs:" in m)
    assert again.trainings == report.trainings
    assert [r.networks for r in again.rows] == [r.networks for r in report.rows]


def test_the_chosen_groups_are_served_by_their_validation_losses(cs_run):
    # ALGORITHMS §2.1: once trained, not by affinity score (issue 10)
    served_by_lowest_val(cs_run[0])


def test_a_job_without_affinity_keeps_its_key():
    spec = JobSpec.create(Candidate(("bright", "parity")), "synthetic", DATA, TRAIN)
    record = {**spec._setting_record(), "network": {
        "tasks": ["bright", "parity"], "size": 1.0, "budget_fraction": 1.0}}
    assert spec.key == _sha256(record)  # the record of KEY_FORMAT 2, unchanged
    joint = JobSpec.create(spec.candidate, "synthetic", DATA, TRAIN,
                           affinity={"method": "tag", "options": {"every": 2}})
    assert joint.key != spec.key and joint.setting == spec.setting
    assert JobSpec.from_dict(joint.to_dict()).key == joint.key


def test_a_malformed_affinity_request_is_refused():
    with pytest.raises(ValueError, match="affinity job needs"):
        JobSpec.create(Candidate(("bright",)), "synthetic", DATA, TRAIN,
                       affinity={"every": 2})
