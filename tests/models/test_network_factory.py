"""Network factories: built-in families and a user's builder by import path, as values."""

from __future__ import annotations

import pickle

import pytest
import torch

from mtlgroup.cost import CostModel, count_flops
from mtlgroup.models import MultiTaskNet, NetworkFactory, NetworkFactoryError
from mtlgroup.study import Candidate, JobSpec
from mtlgroup.tasks import Task, TaskSet
from userpkg.tabular import TASKS

USER = "userpkg.tabular:build_net"


@pytest.mark.parametrize("spec,expected", [
    (None, NetworkFactory("conv")),
    ("mlp", NetworkFactory("mlp")),
    ({"name": "conv", "base_width": 8}, NetworkFactory("conv", {"base_width": 8})),
    ({"name": USER, "options": {"hidden": 4}}, NetworkFactory(USER, {"hidden": 4})),
])
def test_factories_from_config_values(spec, expected):
    assert NetworkFactory.of(spec) == expected


@pytest.mark.parametrize("spec,message", [
    ({"base_width": 8}, "a mapping needs `name"),
    (3, "expected a name, an import path or a mapping"),
    ({"name": "conv", "fn": print}, "options must be plain JSON values"),
])
def test_bad_factory_values(spec, message):
    with pytest.raises(NetworkFactoryError, match=message):
        NetworkFactory.of(spec)


def test_a_factory_is_picklable_and_its_identity_names_options_and_version():
    factory = NetworkFactory.of({"name": USER, "hidden": 4})
    assert pickle.loads(pickle.dumps(factory)) == factory
    assert factory.identity() == {"name": USER, "options": {"hidden": 4}, "version": None}
    assert NetworkFactory("conv").identity()["version"] == 1
    assert not factory.is_builtin and NetworkFactory("mlp").is_builtin


def test_the_factory_is_part_of_every_job_key():
    keys = {
        JobSpec.create(Candidate(("up",)), "userpkg.tabular:load_rows", {}, {"max_steps": 1},
                       model=model).key
        for model in (USER, {"name": USER, "hidden": 4}, "mlp", {"name": "mlp", "depth": 1})
    }
    assert len(keys) == 4
    same = JobSpec.create(Candidate(("up",)), "userpkg.tabular:load_rows", {},
                          {"max_steps": 1}, model={"name": USER, "hidden": 4})
    assert same.key in keys
    assert JobSpec.from_dict(same.to_dict()) == same  # the store round trip keeps the model


def test_a_user_builder_builds_what_it_says_and_passes_the_size_through():
    factory = NetworkFactory(USER)
    small, large = factory.build(TASKS, (6,), 0.5), factory.build(TASKS, (6,), 2.0)
    assert small.encoder[0].out_features == 8 and large.encoder[0].out_features == 32
    factory.check(TASKS, (6,))  # returns {task: tensor} for exactly its tasks


@pytest.mark.parametrize("builder,message", [
    ("build_plain_tensor", "forward returned Tensor; expected a dict"),
    ("build_one_task_short", "missing: odd"),
    ("build_not_a_module", "returned function, not an nn.Module"),
    ("NOT_CALLABLE", "int is not callable"),
    ("nothing_here", "has no attribute 'nothing_here'"),
])
def test_a_model_that_breaks_the_contract_is_one_clear_error(builder, message):
    with pytest.raises(ValueError, match=message):
        NetworkFactory(f"userpkg.tabular:{builder}").check(TASKS, (6,))


def test_options_the_builder_does_not_take_are_named():
    with pytest.raises(NetworkFactoryError, match="unexpected keyword argument 'depth'"):
        NetworkFactory(USER, {"depth": 3}).build(TASKS, (6,))


def test_a_users_costs_are_measured_network_by_network():
    costs = CostModel(TASKS, (6,), USER)
    assert not costs.additive
    for names in (["up"], ["up", "odd"], ["up", "also_up", "odd"]):
        for size in (0.5, 1.0, 2.0):
            torch.manual_seed(0)
            built = NetworkFactory(USER).build(TASKS.subset(names), (6,), size)
            assert costs.flops(names, size) == count_flops(built, (6,)).total
    assert costs.cost(["up", "odd"], 2.0) > costs.cost(["up", "odd"], 1.0)


def test_builtin_costs_add_up_from_encoder_and_heads():
    tasks = TaskSet([Task("a", "vector", 1), Task("b", "label", 3)])
    costs = CostModel(tasks, (10,), "mlp")
    assert costs.additive
    for size in (0.5, 1.0, 2.0):
        torch.manual_seed(0)
        net = NetworkFactory("mlp").build(tasks, (10,), size)
        assert isinstance(net, MultiTaskNet)
        assert costs.flops(["a", "b"], size) == count_flops(net, (10,)).total
