"""GroupedModel: each task read from the network that serves it, auxiliary heads never run."""

from __future__ import annotations

import pytest
import torch
from export_helpers import SYNTHETIC, SYNTHETIC_CHOICE, TRAIN
from torch import nn

from mtlgroup.cost import CostModel, count_flops
from mtlgroup.data import load_dataset
from mtlgroup.export import GroupedModel, grouped_model, run_choice
from mtlgroup.models.network_factory import NetworkFactory
from mtlgroup.study import Study


@pytest.fixture(scope="module")
def model(synthetic_run):
    return grouped_model(synthetic_run, 3.0)


@pytest.fixture(scope="module")
def inputs():
    return load_dataset("synthetic", **SYNTHETIC).test.inputs[:6]


def test_each_task_comes_from_the_network_that_serves_it(synthetic_run, model, inputs):
    _, served_by = SYNTHETIC_CHOICE[3.0]
    outputs = model(inputs)
    assert list(outputs) == ["bright", "parity", "moments", "contrast"]  # the dataset's order
    with Study(synthetic_run / "study.sqlite", "synthetic", SYNTHETIC, train_config=TRAIN,
               device="cpu") as study:
        for task, network in served_by.items():
            expected = study.network(network)(inputs)[task]
            torch.testing.assert_close(outputs[task], expected, rtol=0, atol=0)


def test_auxiliary_heads_are_not_computed(synthetic_run, model):
    """Its FLOPs are the serving cost: each network's encoder plus the heads it serves."""
    data = load_dataset("synthetic", **SYNTHETIC)
    costs = CostModel(data.tasks, data.input_shape, NetworkFactory.of("conv"))
    choice = run_choice(synthetic_run, 3.0)
    serving = sum(costs.flops(model.serves[name], choice.records[name].candidate.size)
                  for name in model.network_names)
    trained = sum(costs.flops(r.candidate.tasks, r.candidate.size)
                  for r in choice.records.values())
    measured = count_flops(model, data.input_shape).total
    assert measured == serving
    assert measured < trained  # parity+moments's parity head is gone
    assert "parity" not in model.network("parity+moments").heads


def test_a_batch_gives_what_its_samples_give_one_by_one(model, inputs):
    whole = model(inputs)
    for i in range(len(inputs)):
        single = model(inputs[i:i + 1])
        for task in whole:
            torch.testing.assert_close(single[task][0], whole[task][i], rtol=1e-5, atol=1e-5)


def test_the_order_of_the_networks_does_not_matter(synthetic_run, model, inputs):
    choice = run_choice(synthetic_run, 3.0)
    tasks = load_dataset("synthetic", **SYNTHETIC).tasks
    networks = {n: choice.build(n, tasks) for n in reversed(choice.networks)}
    reordered = GroupedModel(networks, choice.served_by).eval()
    for task, value in model(inputs).items():
        assert torch.equal(reordered(inputs)[task], value)


def test_it_compiles_in_one_graph(model, inputs):
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    for task, value in model(inputs).items():
        torch.testing.assert_close(compiled(inputs)[task], value)


def test_it_moves_and_switches_mode_like_any_module(synthetic_run):
    fresh = grouped_model(synthetic_run, 3.0)
    assert not any(m.training for m in fresh.modules())
    moved = fresh.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in moved.parameters())
    assert all(m.training for m in moved.train().modules())


def test_a_module_of_another_kind_keeps_only_the_outputs_it_serves():
    class Both(nn.Module):
        def forward(self, x):
            return {"a": x.sum(1, keepdim=True), "b": x.mean(1, keepdim=True)}

    model = GroupedModel({"a+b": Both()}, {"b": "a+b"})
    assert list(model(torch.ones(2, 3))) == ["b"]
    assert model.computes_auxiliary == ("a+b",)


@pytest.mark.parametrize("networks, served_by, message", [
    ({"x": nn.Identity()}, {"a": "y"}, "no network y"),
    ({"x": nn.Identity(), "z": nn.Identity()}, {"a": "x"}, "network z serves no task"),
    ({"x": nn.Identity()}, {}, "at least one task"),
])
def test_inconsistent_choices_are_refused(networks, served_by, message):
    with pytest.raises(ValueError, match=message):
        GroupedModel(networks, served_by)
