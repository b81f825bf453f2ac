"""A training budget names its unit (batches or optimizer steps) and results record both."""

from __future__ import annotations

import math

import pytest
import torch

from mtlgroup.data import load_dataset
from mtlgroup.data.base import MultiTaskData
from mtlgroup.models import make_network
from mtlgroup.study.jobs import JobOutcome, JobSpec, training_options
from mtlgroup.study.plans import Candidate
from mtlgroup.training import (
    Callback,
    JointStrategy,
    TrainConfig,
    Trainer,
    TrainResult,
    TrainState,
    train_network,
)
from mtlgroup.training.budget import Budget


@pytest.fixture(scope="module")
def data() -> MultiTaskData:
    return load_dataset("synthetic", n_train=32, n_val=8, n_test=8, size=8)


TASKS = ("bright", "parity")


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{"batch_size": 8, "device": "cpu", "progress": False,
                          "early_fraction": None, **changes})


class _TwiceJoint(JointStrategy):
    """Two joint steps per batch, as a two-group STGU would take."""

    def step(self, model, batch, optimizer, tasks, weights=None):
        first = super().step(model, batch, optimizer, tasks, weights)
        super().step(model, batch, optimizer, tasks, weights)
        return first


class _PrivateOptimizer(JointStrategy):
    """A joint step plus a step of an optimizer of its own (like FAMO's loss weights)."""

    def setup(self, model, optimizer, tasks):
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.inner = torch.optim.SGD([self.weight], lr=0.1)

    def step(self, model, batch, optimizer, tasks, weights=None):
        self.weight.grad = torch.ones(1)
        self.inner.step()
        return super().step(model, batch, optimizer, tasks, weights)


class _LearningRates(Callback):
    def __init__(self):
        self.rates: list[float] = []

    def on_step_end(self, state: TrainState) -> None:
        self.rates.append(state.learning_rate)


def _train(data, config, strategy=None, callbacks=()):
    return train_network(TASKS, data, 0.25, config, callbacks, strategy)


def test_results_count_batches_and_optimizer_steps_apart(data):
    _, result = _train(data, _config(max_steps=3), _TwiceJoint())
    assert (result.batches, result.steps, result.optimizer_steps) == (3, 3, 6)
    assert result.total_steps == 3
    _, joint = _train(data, _config(max_steps=3))
    assert joint.batches == joint.optimizer_steps == 3


def test_an_optimizer_step_budget_ends_at_its_budget(data):
    _, exact = _train(data, _config(max_steps=6, budget_unit="optimizer_steps"), _TwiceJoint())
    assert (exact.batches, exact.optimizer_steps) == (3, 6)
    # A batch is never cut: an odd budget is overshot by less than one batch's steps.
    _, odd = _train(data, _config(max_steps=5, budget_unit="optimizer_steps"), _TwiceJoint())
    assert 5 <= odd.optimizer_steps < 5 + 2 and odd.batches == 3
    # epochs count the unit too: one epoch = as many optimizer steps as it has batches (4).
    _, epoch = _train(data, _config(epochs=1, budget_unit="optimizer_steps"), _TwiceJoint())
    assert (epoch.batches, epoch.optimizer_steps, epoch.total_steps) == (2, 4, 4)


def test_private_optimizers_of_a_strategy_do_not_count(data):
    _, result = _train(data, _config(max_steps=3, budget_unit="optimizer_steps"),
                       _PrivateOptimizer())
    assert result.batches == result.optimizer_steps == 3


def test_the_unit_does_not_change_a_one_step_per_batch_training(data):
    config = _config(max_steps=4, eval_every=2, schedule="cosine")
    a_model, a = _train(data, config)
    b_model, b = _train(data, _config(max_steps=4, eval_every=2, schedule="cosine",
                                      budget_unit="optimizer_steps"))
    assert a.history == b.history
    for (name, x), y in zip(a_model.state_dict().items(), b_model.state_dict().values(),
                            strict=True):
        assert torch.equal(x, y), name


def test_schedule_validation_and_early_table_count_the_budget_unit(data):
    rates = _LearningRates()
    config = _config(max_steps=8, budget_unit="optimizer_steps", eval_every=4,
                     schedule="cosine", early_fraction=0.25, lr=1.0)
    _, result = _train(data, config, _TwiceJoint(), [rates])
    assert result.batches == 4
    # validations at optimizer steps 4 and 8, i.e. after batches 2 and 4
    assert [h["step"] for h in result.history] == [2, 4]
    assert [h["optimizer_steps"] for h in result.history] == [4, 8]
    assert result.early_val is not None  # at 2 optimizer steps (after batch 1)
    # the cosine schedule runs over the 8 optimizer steps: after batch b, 2b of them are spent
    expected = [0.5 * (1 + math.cos(math.pi * 2 * b / 8)) for b in range(1, 5)]
    assert rates.rates == pytest.approx(expected, abs=1e-9)


def test_default_unit_is_left_out_of_what_defines_a_result():
    assert "budget_unit" not in TrainConfig().result_defining()
    assert "budget_unit" not in training_options(TrainConfig())
    steps = TrainConfig(budget_unit="optimizer_steps")
    assert steps.result_defining()["budget_unit"] == "optimizer_steps"
    assert training_options(steps)["budget_unit"] == "optimizer_steps"

    def key(**training) -> str:
        return JobSpec.create(Candidate(TASKS), "synthetic", {"n_train": 32},
                              {"max_steps": 4, **training}).key

    assert key(budget_unit="batches") == key()  # every existing job keeps its key
    assert key(budget_unit="optimizer_steps") != key()


def test_a_bad_unit_is_refused():
    with pytest.raises(ValueError, match="budget_unit='epochs'"):
        TrainConfig(budget_unit="epochs")  # type: ignore[arg-type]


def test_job_outcomes_carry_both_counters(data):
    _, result = _train(data, _config(max_steps=2), _TwiceJoint())
    spec = JobSpec.create(Candidate(TASKS), "synthetic", {"n_train": 32}, {"max_steps": 2})
    outcome = JobOutcome.from_train_result(spec, result, data.input_shape, 0.0, False)
    assert (outcome.batches, outcome.optimizer_steps) == (2, 4)
    assert JobOutcome.from_dict(outcome.to_dict()) == outcome


def test_results_saved_before_the_counters_still_load():
    old = TrainResult(["bright"], {}, {}, steps=5).to_dict()
    del old["batches"], old["optimizer_steps"]
    assert TrainResult.from_dict(old).steps == 5


def test_a_strategy_learns_the_budget_before_setup(data):
    seen = []

    class _Watcher(JointStrategy):
        def setup(self, model, optimizer, tasks):
            seen.append(self.budget)

    torch.manual_seed(0)
    model = make_network(data.tasks.subset(TASKS), data.input_shape, 0.25)
    Trainer(_config(epochs=2, budget_unit="optimizer_steps"), strategy=_Watcher()).fit(
        model, data, TASKS)
    assert seen == [Budget(8, "optimizer_steps")]
