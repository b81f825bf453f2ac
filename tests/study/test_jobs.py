from __future__ import annotations

import dataclasses
import json
import math

import pytest
from study_helpers import TINY_DATA, TINY_TRAINING

import mtlgroup.training as training
from mtlgroup.study.jobs import JobSpec, canonical_data_options, run_job, training_options
from mtlgroup.study.plans import Candidate
from mtlgroup.training import TrainConfig

BASE = dict(candidate=Candidate(("bright", "parity")), dataset="synthetic",
            data_options=TINY_DATA, train_config=TINY_TRAINING, seed=0)

# One changed value per result-defining field of TrainConfig. The test below checks the list is
# complete, so a new TrainConfig field must be added here (and so proven to reach the key).
TRAINING_CHANGES = {
    "epochs": 3, "max_steps": 5, "batch_size": 8, "optimizer": "sgd", "lr": 0.01,
    "momentum": 0.5, "weight_decay": 1e-4, "schedule": "cosine", "patience": 2,
    "eval_every": 1, "eval_batch_size": 64, "early_fraction": 0.5,
    "loss_weights": {"bright": 2.0},
}


def make(**changes) -> JobSpec:
    fields = {**BASE, **changes}
    return JobSpec.create(**fields)


def test_key_is_stable_across_processes():
    # FULL_KEY_BEFORE_PREFIX was computed by another process (and an older version): a key that
    # matches it depends on no process state (hash seeds, dict order); no subprocess needed.
    assert make().key == FULL_KEY_BEFORE_PREFIX
    assert len(FULL_KEY_BEFORE_PREFIX) == 64 and int(FULL_KEY_BEFORE_PREFIX, 16) >= 0


def test_every_result_defining_training_field_is_covered():
    defining = set(training_options(TrainConfig()))
    assert defining == set(TRAINING_CHANGES)
    assert not defining & {"seed", "device", "progress"}


@pytest.mark.parametrize("field,value", sorted(TRAINING_CHANGES.items()))
def test_key_changes_with_each_training_field(field, value):
    assert make(train_config={**TINY_TRAINING, field: value}).key != make().key


@pytest.mark.parametrize(
    "changes",
    [
        {"candidate": Candidate(("bright",))},
        {"candidate": Candidate(("parity", "bright"))},
        {"candidate": Candidate(("bright", "parity"), size=0.5)},
        {"candidate": Candidate(("bright", "parity"), budget_fraction=0.2)},
        {"data_options": {**TINY_DATA, "n_train": 48}},
        {"data_options": {**TINY_DATA, "seed": 1}},
        {"seed": 1},
    ],
)
def test_key_changes_with_network_data_and_seed(changes):
    assert make(**changes).key != make().key


def test_key_changes_with_the_trainer_version(monkeypatch):
    before = make().key
    monkeypatch.setattr(training, "TRAINER_VERSION", training.TRAINER_VERSION + "-next")
    assert make().key != before


def test_key_ignores_where_and_how_the_job_is_shown():
    assert make(device="cpu").key == make(device="auto").key
    config = TrainConfig(**TINY_TRAINING, device="cpu", progress=True, seed=123)
    assert make(train_config=config).key == make().key  # the spec's seed counts, not config's


def test_equivalent_options_give_one_key():
    # Loader defaults filled in, and numbers in their declared types.
    defaults = canonical_data_options("synthetic", {})
    assert make(data_options={}).key == make(data_options=defaults).key
    assert make(train_config={**TINY_TRAINING, "lr": 1}).key == \
        make(train_config={**TINY_TRAINING, "lr": 1.0}).key


def test_spec_roundtrips_through_json():
    spec = make(candidate=Candidate(("moments",), 0.5, 0.2), seed=3, device="cpu")
    back = JobSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back.key == spec.key and back.device == "cpu" and back == spec
    assert len({spec, back}) == 1


def test_bad_options_name_the_option():
    with pytest.raises(ValueError, match="dataset 'synthetic' has no option 'colour'"):
        make(data_options={"colour": 1})
    with pytest.raises(ValueError, match="unknown training option 'epoch'"):
        make(train_config={"epoch": 1})
    with pytest.raises(ValueError, match="lr"):
        make(train_config={"lr": -1.0})


def test_esa_budget_is_a_share_of_the_full_steps():
    from mtlgroup.data import load_dataset

    data = load_dataset("synthetic", **TINY_DATA)  # 32 samples, batch 16: 2 steps per epoch
    config = {"epochs": 10, "batch_size": 16}
    full = make(train_config=config).train_config_for(data)
    short = make(candidate=Candidate(("bright",), budget_fraction=0.2),
                 train_config=config).train_config_for(data)
    assert full.max_steps is None and full.total_steps(2) == 20
    # The prefix of the full run (ALGORITHMS §1.2): the full budget, stopped at the share.
    assert short.total_steps(2) == 20 and short.prefix_fraction == 0.2
    assert dataclasses.replace(short, prefix_fraction=None) == full


def test_run_job_reports_every_split_task_and_the_cost():
    spec = make(candidate=Candidate(("bright", "parity")), device="cpu")
    outcome = run_job(spec)
    assert outcome.network == "bright+parity" and outcome.tasks == ["bright", "parity"]
    for split in ("val", "test", "early"):
        assert list(outcome.loss(split)) == ["bright", "parity"]
        assert all(math.isfinite(v) for v in outcome.loss(split).values())
    assert outcome.scores["test"]["parity"]["accuracy"] >= 0
    assert outcome.flops > 0 and outcome.input_shape == [3, 8, 8]
    assert outcome.steps == TINY_TRAINING["max_steps"]
    again = run_job(spec)
    assert again.data_cache_hit  # the worker loaded the data once
    assert again.scores == outcome.scores  # same key, same result


def test_an_esa_job_trains_a_fifth_of_the_steps():
    spec = make(candidate=Candidate(("moments",), budget_fraction=0.2),
                train_config={"epochs": 5, "batch_size": 16}, device="cpu")
    outcome = run_job(spec)
    assert outcome.steps == round(0.2 * 5 * 2) and outcome.total_steps == 5 * 2
    assert outcome.loss("early") == outcome.loss("val")  # one validation, at its stop step


def test_a_size_revision_reaches_only_the_keys_of_its_sizes(monkeypatch):
    # The conv family's widths changed at sizes other than 1 and 0.5 (issue 10): networks of
    # those sizes train again, the others keep their keys (their stores stay valid).
    from mtlgroup.models.network_factory import NetworkFactory

    def keys(candidate: Candidate) -> tuple[str, str]:
        revised = make(candidate=candidate).key
        monkeypatch.setattr(NetworkFactory, "size_revision", lambda self, size: None)
        plain = make(candidate=candidate).key
        monkeypatch.undo()
        return revised, plain

    for size in (1.0, 0.5):
        revised, plain = keys(Candidate(("bright", "parity"), size=size))
        assert revised == plain
    revised, plain = keys(Candidate(("bright", "parity"), size=0.431))
    assert revised != plain


# Keys computed before ESA jobs became prefixes of the full run (ALGORITHMS §1.2).
FULL_KEY_BEFORE_PREFIX = "f3f4d6aeaaaba61a949a2fbd8604df3c5e865a8a8d5e59c0c09fb04a58b50615"
ESA_KEY_BEFORE_PREFIX = "345545c7841389f950f8ae0e515d5ef9204c12ad8faefd426bd9cb91da7be377"


def test_full_keys_stay_and_esa_keys_change_with_the_prefix_definition():
    # A full job's result is what it was: its key must not move. An ESA job's result is now
    # defined differently, so its old results must not be reused.
    assert make().key == FULL_KEY_BEFORE_PREFIX
    assert make(candidate=Candidate(("bright", "parity"), budget_fraction=0.2)).key \
        != ESA_KEY_BEFORE_PREFIX


def test_a_prefix_fraction_reaches_the_key_only_when_set():
    assert "prefix_fraction" not in training_options(TrainConfig())
    assert make(train_config={**TINY_TRAINING, "prefix_fraction": 0.5}).key != make().key
