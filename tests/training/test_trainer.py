from __future__ import annotations

import math

import pytest
import torch

from mtlgroup.data.base import LoaderSplit, MultiTaskData, TensorSplit
from mtlgroup.training import (
    Callback,
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    TrainResult,
    evaluate,
    total_loss,
)
from tiny_fixtures import TINY_TASKS, TinyNet, make_tiny_data

FAST = dict(epochs=3, batch_size=16, device="cpu", progress=False)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_same_seed_same_data_gives_identical_weights(tiny_data, tiny_net_factory):
    results, states = [], []
    for _ in range(2):
        model = tiny_net_factory(seed=3)
        results.append(Trainer(TrainConfig(seed=5, **FAST)).fit(model, tiny_data))
        states.append(weights(model))
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    assert results[0].val == results[1].val


def test_different_seed_changes_the_data_order(tiny_data, tiny_net_factory):
    a, b = tiny_net_factory(seed=3), tiny_net_factory(seed=3)
    Trainer(TrainConfig(seed=1, **FAST)).fit(a, tiny_data)
    Trainer(TrainConfig(seed=2, **FAST)).fit(b, tiny_data)
    pairs = zip(weights(a).values(), weights(b).values(), strict=True)
    assert any(not torch.equal(x, y) for x, y in pairs)


def test_training_lowers_the_validation_loss(tiny_data, tiny_net_factory):
    model = tiny_net_factory()
    before = total_loss(evaluate(model, tiny_data.val, TINY_TASKS))
    result = Trainer(TrainConfig(epochs=15, batch_size=16, lr=3e-3, device="cpu")).fit(
        model, tiny_data
    )
    assert result.total("val") < 0.7 * before


def test_restores_best_validation_weights(tiny_data, tiny_net_factory):
    # A large learning rate makes validation loss bounce, so the last step is rarely the best.
    config = TrainConfig(epochs=8, batch_size=8, lr=0.05, optimizer="sgd", eval_every=3,
                         device="cpu")
    model = tiny_net_factory()
    result = Trainer(config).fit(model, tiny_data)
    best_in_history = min(h["val_total"] for h in result.history)
    assert result.total("val") == pytest.approx(best_in_history, rel=1e-5)
    best_entry = next(h for h in result.history if h["val_total"] == best_in_history)
    assert result.best_step == best_entry["step"]


def test_patience_stops_early(tiny_data, tiny_net_factory):
    config = TrainConfig(epochs=200, batch_size=16, lr=1e-7, patience=2, device="cpu")
    result = Trainer(config).fit(tiny_net_factory(), tiny_data)
    assert result.stopped_early
    assert result.steps < result.total_steps
    # Stopped exactly `patience` validations after the best one.
    steps_after_best = [h for h in result.history if h["step"] > result.best_step]
    assert len(steps_after_best) == 2


def test_max_steps_and_early_table(tiny_data, tiny_net_factory):
    config = TrainConfig(max_steps=10, batch_size=16, eval_every=5, early_fraction=0.2,
                         device="cpu")
    seen = []

    class Watch(Callback):
        def on_evaluate(self, state, split, scores):
            seen.append(state.step)

    result = Trainer(config, callbacks=[Watch()]).fit(tiny_net_factory(), tiny_data)
    assert result.steps == 10 and result.total_steps == 10
    assert set(result.early_val) == set(TINY_TASKS.names)
    assert seen == [5, 10]


def test_early_table_is_the_validation_loss_at_that_step(tiny_data, tiny_net_factory):
    recorded = {}

    class Snapshot(Callback):
        def on_step_end(self, state):
            if state.step == 4:
                recorded.update(evaluate(state.model, tiny_data.val, state.tasks))

    config = TrainConfig(max_steps=20, batch_size=16, early_fraction=0.2, device="cpu")
    result = Trainer(config, callbacks=[Snapshot()]).fit(tiny_net_factory(), tiny_data)
    for task, scores in recorded.items():
        assert result.early_val[task]["loss"] == pytest.approx(scores["loss"], rel=1e-6)


def test_callbacks_see_batch_losses_and_model_at_every_step(tiny_data, tiny_net_factory):
    calls = []

    class Spy(Callback):
        def on_step_begin(self, state):
            assert state.batch is not None and state.batch.inputs.shape[1:] == (3, 8, 8)
            calls.append(("begin", state.step))

        def on_step_end(self, state):
            assert set(state.losses) == set(TINY_TASKS.names)
            assert all(torch.isfinite(v) for v in state.losses.values())
            assert state.model is model
            calls.append(("end", state.step))

    model = tiny_net_factory()
    result = Trainer(TrainConfig(**FAST), callbacks=[Spy()]).fit(model, tiny_data)
    assert len(calls) == 2 * result.steps
    assert calls[:4] == [("begin", 1), ("end", 1), ("begin", 2), ("end", 2)]


def test_subset_of_tasks_trains_only_those(tiny_data):
    model = TinyNet(("bright",))
    result = Trainer(TrainConfig(**FAST)).fit(model, tiny_data)
    assert result.tasks == ["bright"] and set(result.test) == {"bright"}


def test_missing_labels_are_masked_out(tiny_net_factory):
    clean = make_tiny_data()
    train = clean.train
    unlabelled = torch.arange(len(train)) % 3 == 0
    poisoned_targets = dict(train.targets)
    poisoned = train.targets["bright"].clone()
    poisoned[unlabelled] = float("nan")  # garbage where there is no label
    poisoned_targets["bright"] = poisoned
    masks = {"bright": ~unlabelled}
    variants = []
    for targets in (train.targets, poisoned_targets):
        data = MultiTaskData(
            "tiny", clean.tasks, TensorSplit(train.inputs, targets, masks), clean.val,
            clean.test, clean.input_shape,
        )
        model = tiny_net_factory(seed=1)
        variants.append((Trainer(TrainConfig(**FAST)).fit(model, data), weights(model)))
    (result_a, weights_a), (result_b, weights_b) = variants
    assert all(math.isfinite(v) for v in result_b.loss("val").values())
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key


def test_nan_loss_names_the_task_and_step(tiny_net_factory):
    data = make_tiny_data()
    data.train.targets["moments"][:] = float("inf")
    with pytest.raises(NonFiniteLossError) as error:
        Trainer(TrainConfig(**FAST)).fit(tiny_net_factory(), data)
    assert error.value.task == "moments" and error.value.step == 1
    assert "moments" in str(error.value) and "step 1" in str(error.value)


def test_result_roundtrips_through_json(tmp_path, tiny_data, tiny_net_factory):
    result = Trainer(TrainConfig(**FAST)).fit(tiny_net_factory(), tiny_data)
    path = result.save(tmp_path / "out" / "result.json")
    again = TrainResult.load(path)
    assert again == result
    assert again.loss("test") == result.loss("test")


class _ItemDataset(torch.utils.data.Dataset):
    def __init__(self, split: TensorSplit):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i):
        return self.split.inputs[i], {t: v[i] for t, v in self.split.targets.items()}


def test_a_plain_torch_dataset_evaluates_like_the_tensor_split(tiny_data, tiny_net_factory):
    model = tiny_net_factory()
    via_tensor = evaluate(model, tiny_data.val, TINY_TASKS, batch_size=7)
    via_loader = evaluate(model, LoaderSplit(_ItemDataset(tiny_data.val)), TINY_TASKS, batch_size=7)
    for task in TINY_TASKS.names:
        for metric, value in via_tensor[task].items():
            assert via_loader[task][metric] == pytest.approx(value, rel=1e-5)


def test_a_plain_torch_dataset_trains(tiny_data, tiny_net_factory):
    data = MultiTaskData(
        "tiny", tiny_data.tasks, LoaderSplit(_ItemDataset(tiny_data.train)), tiny_data.val,
        tiny_data.test, tiny_data.input_shape,
    )
    result = Trainer(TrainConfig(**FAST)).fit(tiny_net_factory(), data)
    assert result.steps == 3 * 6


@pytest.mark.parametrize("field,value", [("epochs", 0), ("lr", -1.0), ("optimizer", "lbfgs"),
                                         ("early_fraction", 1.5)])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("schedule,last_factor", [("constant", 1.0), ("step", 0.01),
                                                  ("cosine", 0.0)])
def test_learning_rate_schedules(tiny_data, tiny_net_factory, schedule, last_factor):
    rates = []

    class Rates(Callback):
        def on_step_begin(self, state):
            rates.append(state.learning_rate)

    config = TrainConfig(max_steps=40, batch_size=16, lr=0.01, schedule=schedule, device="cpu")
    Trainer(config, callbacks=[Rates()]).fit(tiny_net_factory(), tiny_data)
    assert rates[0] == pytest.approx(0.01)
    assert all(b <= a + 1e-12 for a, b in zip(rates, rates[1:], strict=False))  # never rises
    assert rates[-1] == pytest.approx(0.01 * last_factor, abs=2e-4)


def test_a_nan_validation_total_is_never_kept_as_best(tiny_net_factory):
    from mtlgroup.training.trainer import _BestWeights

    best, model = _BestWeights(), tiny_net_factory()
    assert best.offer(model, {"a": {"loss": 1.0}}, step=1)
    assert not best.offer(model, {"a": {"loss": float("nan")}}, step=2)
    assert best.step == 1 and best.offer(model, {"a": {"loss": 0.5}}, step=3)
