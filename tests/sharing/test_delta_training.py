"""Learning a sub-task's deltas (mtlgroup.sharing.train): density, penalties, thresholds,
determinism, the starting point and the gain over a zero delta."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from training_helpers import fast_config, single_network, tiny_data

from mtlgroup.sharing.deltas import LinearRecorder, subtask_network, zero_delta
from mtlgroup.sharing.train import (
    DeltaConfig,
    calibrate_thresholds,
    delta_scores,
    per_layer_masks,
    train_task_delta,
)

BASE, SUB = "bright", "contrast"


@pytest.fixture(scope="module")
def setting():
    data = tiny_data()
    return data, single_network(data, BASE), single_network(data, SUB, seed=1)


def _linear_gaps(base, delta, images):
    """``|x_sub − x_base|`` at every linear input, computed independently of the trainer."""
    base_in, sub_in = LinearRecorder(), LinearRecorder()
    with torch.no_grad():
        base.encoder.tokens(images, base_in)
        subtask_network(base, delta).encoder.tokens(images, sub_in)
    return {name: (sub_in.inputs[name] - base_in.inputs[name]).abs() for name in base_in.inputs}


@pytest.mark.parametrize("density", [0.05, 0.2])
def test_every_layer_keeps_the_target_density(setting, density):
    data, base, single = setting
    delta = train_task_delta(base, BASE, single, data.tasks[SUB], data,
                             fast_config(weight_density=density))
    assert list(delta.weight_deltas) == list(base.encoder.linear_names)
    for name, values in delta.weight_deltas.items():
        weight = base.encoder.linear_layer(name).weight
        assert values.shape == weight.shape
        assert int(values.count_nonzero()) == max(1, round(density * values.numel())), name


def test_penalties_drive_weight_and_activation_deltas_down(setting):
    data, base, single = setting
    # Density 1 and no fine-tune: the returned delta is phase 1's, unpruned.
    def phase_one(penalty, weight, activation):
        config = fast_config(weight_density=1.0, finetune_epochs=0, sparse_epochs=3,
                             batch_size=8, penalty=penalty, weight_penalty=weight,
                             activation_penalty=activation)
        return train_task_delta(base, BASE, single, data.tasks[SUB], data, config)

    def near_zero(delta):
        values = torch.cat([v.flatten() for v in delta.weight_deltas.values()])
        return float((values.abs() < 1e-3).float().mean())

    def mean_gap(delta):
        gaps = _linear_gaps(base, delta, data.val.inputs)
        return float(torch.stack([g.mean() for g in gaps.values()]).mean())

    free = phase_one("l1", 0.0, 0.0)
    for penalty, weight in (("l1", 30.0), ("l0", 300.0)):
        penalised = phase_one(penalty, weight, 3.0)
        assert near_zero(penalised) > near_zero(free) + 0.1, penalty
        assert mean_gap(penalised) < 0.5 * mean_gap(free), penalty


def test_thresholds_drop_the_target_fraction_of_activation_differences(setting):
    data, base, single = setting
    sparsity = 0.8
    delta = train_task_delta(base, BASE, single, data.tasks[SUB], data,
                             fast_config(activation_sparsity=sparsity))
    images = data.train.inputs
    assert delta.thresholds == calibrate_thresholds(base, delta, images, sparsity)
    for name, gap in _linear_gaps(base, delta, images).items():
        tau = delta.thresholds[name]
        if not bool(gap.any()):  # the patch embedding: both read the same pixels
            assert tau == 0.0
            continue
        dropped = float((gap < tau).float().mean())
        assert dropped == pytest.approx(sparsity, abs=0.01), name


def test_same_seed_same_delta_and_the_seed_matters(setting):
    data, base, _ = setting
    # No single-task network: the fresh head is seeded too.
    runs = [train_task_delta(base, BASE, None, data.tasks[SUB], data, fast_config(seed=seed))
            for seed in (3, 3, 4)]

    def same(a, b):
        return (all(torch.equal(a.weight_deltas[n], b.weight_deltas[n]) for n in a.weight_deltas)
                and all(torch.equal(a.own_state[k], b.own_state[k]) for k in a.own_state)
                and all(torch.equal(v, b.head.state_dict()[k])
                        for k, v in a.head.state_dict().items())
                and a.thresholds == b.thresholds)

    assert same(runs[0], runs[1])
    assert not same(runs[0], runs[2])


def test_the_subtask_starts_as_the_base_and_the_base_is_left_alone(setting):
    data, base, single = setting
    before = {k: v.clone() for k, v in base.state_dict().items()}
    untrained = train_task_delta(base, BASE, single, data.tasks[SUB], data,
                                 fast_config(sparse_epochs=0, finetune_epochs=0))
    assert all(int(v.count_nonzero()) == 0 for v in untrained.weight_deltas.values())
    x = data.val.inputs
    with torch.no_grad():
        assert torch.equal(subtask_network(base, untrained).encoder(x), base.encoder(x))
    train_task_delta(base, BASE, single, data.tasks[SUB], data, fast_config())
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())


def test_training_beats_the_zero_delta_on_validation(setting):
    data, base, single = setting
    task = data.tasks[SUB]
    start = delta_scores(base, zero_delta(base, SUB, single.heads[SUB]), data.val, task)["loss"]
    for penalty in ("l1", "l0"):
        delta = train_task_delta(base, BASE, single, task, data,
                                 fast_config(sparse_epochs=3, finetune_epochs=2, penalty=penalty))
        assert delta_scores(base, delta, data.val, task)["loss"] < start, penalty


def test_a_threshold_finetune_is_kept_only_when_it_helps(setting):
    data, base, single = setting
    task = data.tasks[SUB]
    without = train_task_delta(base, BASE, single, task, data, fast_config())
    with_tune = train_task_delta(base, BASE, single, task, data,
                                 fast_config(threshold_epochs=2))
    assert delta_scores(base, with_tune, data.val, task)["loss"] <= \
        delta_scores(base, without, data.val, task)["loss"]
    assert all(int(v.count_nonzero()) == int(without.weight_deltas[n].count_nonzero())
               for n, v in with_tune.weight_deltas.items())


def test_per_layer_masks_keep_the_largest_entries():
    values = torch.randn(6, 10, generator=torch.Generator().manual_seed(0))
    mask = per_layer_masks({"w": values}, 0.25)["w"]
    kept, dropped = values.abs()[mask], values.abs()[~mask]
    assert int(mask.sum()) == 15 and float(kept.min()) >= float(dropped.max())


@pytest.mark.parametrize("field, value", [
    ("weight_density", 0.0), ("weight_density", 1.5), ("activation_sparsity", 1.0),
    ("penalty", "l2"), ("weight_penalty", -1.0), ("sparse_epochs", -1), ("lr", 0.0),
    ("batch_size", 0), ("device", "tpu9"),
])
def test_bad_configurations_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=field if field != "device" else "device"):
        DeltaConfig(**{field: value})


def test_short_keeps_everything_but_the_epochs():
    config = DeltaConfig(weight_density=0.1, penalty="l0", sparse_epochs=8, finetune_epochs=6)
    short = config.short(2)
    assert (short.sparse_epochs, short.finetune_epochs) == (2, 2)
    assert dataclasses.replace(short, sparse_epochs=8, finetune_epochs=6) == config


def test_the_base_task_needs_no_delta(setting):
    data, base, single = setting
    with pytest.raises(ValueError, match="base task"):
        train_task_delta(base, BASE, single, data.tasks[BASE], data, fast_config())


def test_the_trained_network_is_the_one_the_shared_model_computes(setting):
    # Validation selection and delta_scores run a dense simulation of the thresholded
    # sub-task; the real sparse model must give the same predictions.
    from mtlgroup.sharing.model import SharedMultiTaskViT
    from mtlgroup.sharing.train import _SubTask

    data, base, single = setting
    delta = train_task_delta(base, BASE, single, data.tasks[SUB], data, fast_config())
    simulated = _SubTask(base.encoder, delta).eval()
    simulated.thresholds = dict(delta.thresholds)
    shared = SharedMultiTaskViT(base, BASE, {SUB: delta}).eval()
    x = data.val.inputs
    with torch.no_grad():
        assert torch.allclose(simulated(x)[SUB], shared(x)[SUB], atol=1e-5)
