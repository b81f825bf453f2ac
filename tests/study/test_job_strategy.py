"""A job's update strategy: in its key and setting only when it is not the plain joint sum,
round-tripped through JSON, used by run_job and recorded in the outcome."""

from __future__ import annotations

import pytest
from study_helpers import TINY_DATA, TINY_TRAINING

from mtlgroup.study import Study
from mtlgroup.study.jobs import (
    JobSpec,
    StrategyUnavailable,
    make_strategy,
    parse_strategies,
    parse_strategy,
    run_job,
    strategy_request,
)
from mtlgroup.study.plans import Candidate


def make(strategy=None, **changes) -> JobSpec:
    return JobSpec.create(changes.pop("candidate", Candidate(("bright", "parity"))),
                          "synthetic", TINY_DATA, TINY_TRAINING, strategy=strategy, **changes)


@pytest.mark.parametrize("joint", [None, "joint", {"name": "joint"},
                                   {"name": "joint", "options": {}}])
def test_the_joint_sum_keeps_the_key_it_had(joint):
    plain = JobSpec.create(Candidate(("bright", "parity")), "synthetic", TINY_DATA,
                           TINY_TRAINING)
    spec = make(joint)
    assert spec.strategy is None
    assert (spec.key, spec.setting) == (plain.key, plain.setting)
    assert "strategy" not in spec.to_dict()


def test_a_strategy_is_part_of_the_setting_and_so_of_the_key():
    stgu, joint = make("stgu"), make()
    assert stgu.setting != joint.setting and stgu.key != joint.key
    # every candidate of one setting shares the strategy: a loss table never mixes two
    single = make("stgu", candidate=Candidate(("bright",)))
    assert single.setting == stgu.setting
    with_options = make({"name": "stgu", "options": {"warmup": 0}})
    assert with_options.setting not in (stgu.setting, joint.setting)


def test_the_strategy_round_trips_through_json():
    spec = make({"name": "stgu", "options": {"warmup": 0}})
    back = JobSpec.from_dict(spec.to_dict())
    assert back.strategy == {"name": "stgu", "options": {"warmup": 0}} and back == spec


def test_bad_requests_name_what_is_wrong():
    with pytest.raises(ValueError, match="a strategy is a name or"):
        strategy_request({"name": "pcgrad", "option": {}})
    with pytest.raises(ValueError, match="options must be a mapping"):
        strategy_request({"name": "pcgrad", "options": [1]})
    with pytest.raises(ValueError, match="unknown strategy 'nope'.*joint"):
        make_strategy(strategy_request("nope"))


def test_a_missing_extra_is_a_value_error_with_its_hint(monkeypatch):
    import mtlgroup.training as training

    def missing(name, **options):
        raise ImportError(f"strategy {name!r} needs torchjd, which is not installed: "
                          "pip install mtlgroup[torchjd]")

    monkeypatch.setattr(training, "create_strategy", missing)
    with pytest.raises(StrategyUnavailable, match=r"pip install mtlgroup\[torchjd\]") as found:
        make_strategy(strategy_request("upgrad"))
    assert isinstance(found.value, ValueError)


def test_command_line_text():
    assert parse_strategy("pcgrad") == "pcgrad"
    assert parse_strategy(" cagrad:c=0.4 ") == {"name": "cagrad", "options": {"c": 0.4}}
    assert parse_strategies("joint,cagrad:c=0.4, norm=true,stgu") == [
        "joint", {"name": "cagrad", "options": {"c": 0.4, "norm": True}}, "stgu"]
    assert strategy_request("cagrad:c=0.4") == {"name": "cagrad", "options": {"c": 0.4}}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_strategy("cagrad:0.4")


def test_run_job_trains_with_the_strategy_and_records_it():
    # stgu's warm-up trains each task alone: one optimizer step per task and batch
    spec = make({"name": "stgu", "options": {"warmup": 100}},
                candidate=Candidate(("bright", "parity"), 0.25))
    outcome = run_job(spec)
    assert outcome.extra["strategy"] == {"name": "stgu", "options": {"warmup": 100}}
    assert outcome.optimizer_steps == 2 * outcome.batches
    assert "strategy" not in run_job(make(candidate=Candidate(("bright",), 0.25))).extra


def test_a_study_of_one_strategy(tmp_path):
    with Study(tmp_path / "s.sqlite", "synthetic", TINY_DATA, ["bright", "parity"],
               TINY_TRAINING, strategy="stgu") as study:
        assert study.spec("bright+parity").strategy == {"name": "stgu", "options": {}}
        assert study.spec("bright").setting == study.setting
    with pytest.raises(ValueError, match="unknown strategy"):
        Study(tmp_path / "t.sqlite", "synthetic", TINY_DATA, ["bright"], TINY_TRAINING,
              strategy="nope")
    assert not (tmp_path / "t.sqlite").exists()  # checked before the store is opened
