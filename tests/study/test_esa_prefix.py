"""An ESA job is the prefix of the full run (ALGORITHMS §1.2): the full budget's learning-rate
schedule, stopped after its share of the steps, scored on the weights it has then (no restore).
So its early losses are the full run's early losses, exactly, and the store has one early
column."""

from __future__ import annotations

import pytest
from study_helpers import TASKS, TINY_DATA

from mtlgroup.study import Study
from mtlgroup.study.jobs import JobSpec
from mtlgroup.study.plans import ESA_FRACTION, Candidate

# A cosine schedule (a rebuilt one would differ over the 20%) and a validation at every step (a
# restored best checkpoint would differ from the weights at the stop step): 10 steps, early at 2.
PREFIX_TRAINING = {"max_steps": 10, "batch_size": 16, "eval_every": 1, "schedule": "cosine",
                   "lr": 0.01}


@pytest.fixture(scope="module")
def esa_and_full(tmp_path_factory):
    """The ``esa`` and ``all`` plans of one tiny study, trained: ``(store, {network: {budget
    fraction: record}})``."""
    path = tmp_path_factory.mktemp("esa") / "study.sqlite"
    with Study(path, "synthetic", TINY_DATA, TASKS[:2], PREFIX_TRAINING, device="cpu",
               keep_weights="none") as study:
        study.add_plan("esa")
        study.add_plan("all")
        study.run("inline", progress=False)
        records: dict[str, dict[float, object]] = {}
        for record in study.records("done"):
            records.setdefault(record.network, {})[record.candidate.budget_fraction] = record
        yield study.store, records


def test_an_esa_job_scores_exactly_what_the_full_run_records_at_that_step(esa_and_full):
    _, records = esa_and_full
    assert records and all(set(r) == {ESA_FRACTION, 1.0} for r in records.values())
    for network, by_fraction in records.items():
        esa, full = by_fraction[ESA_FRACTION].outcome, by_fraction[1.0].outcome
        assert esa.loss("early") == full.loss("early"), network
        # Its own validation is that same validation: the weights at the stop step, no restore.
        assert esa.loss("val") == esa.loss("early"), network
        assert (esa.steps, esa.total_steps) == (2, 10) and full.total_steps == 10
        assert esa.best_step == esa.steps


def test_the_store_has_one_early_column(esa_and_full):
    store, records = esa_and_full
    early = store.losses("early")
    assert early == {n: r[1.0].outcome.loss("early") for n, r in records.items()}


def _spec(fraction: float, early_fraction: float | None) -> JobSpec:
    return JobSpec.create(Candidate(("bright",), budget_fraction=fraction), "synthetic",
                          TINY_DATA, {**PREFIX_TRAINING, "early_fraction": early_fraction})


def test_a_share_below_the_early_fraction_is_refused():
    # The prefix would end before the step where early losses are defined.
    with pytest.raises(ValueError, match="budget share 0.1 .* early_fraction 0.2"):
        _spec(0.1, 0.2)


def test_a_larger_share_records_early_losses_at_the_early_fraction():
    # Both recorded at their own steps: early at 20% (the store's column), val at 50%.
    from mtlgroup.data import load_dataset

    config = _spec(0.5, 0.2).train_config_for(load_dataset("synthetic", **TINY_DATA))
    assert (config.prefix_fraction, config.early_fraction) == (0.5, 0.2)
    assert config.max_steps == PREFIX_TRAINING["max_steps"]  # the full budget, not the share
    # Without an early fraction of its own, the ESA job's early losses are at its stop step.
    assert _spec(0.2, None).train_config_for(None).early_fraction == 0.2
