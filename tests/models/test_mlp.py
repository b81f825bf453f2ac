"""The MLP encoder family for tables: FLOPs scale with ``size``, shapes, heads, errors."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlgroup.cost import count_flops
from mtlgroup.models import mlp
from mtlgroup.models.mlp import MLPEncoder, create_mlp_encoder, mlp_macs, mlp_network, mlp_widths
from mtlgroup.tasks import Task

TASKS = [
    Task("sales", "vector", channels=1, loss="l1"),
    Task("churn", "label", channels=2, loss="cross_entropy"),
    Task("pose", "vector", channels=3, loss="l2"),
]
INPUT_WIDTHS = [3, 10, 34, 100, 784]


def encoder_flops(in_features: int, size: float, depth: int = 2) -> int:
    return count_flops(MLPEncoder((in_features,), size, depth=depth), (in_features,)).encoder


@settings(max_examples=40, deadline=None)
@given(
    in_features=st.sampled_from(INPUT_WIDTHS),
    depth=st.integers(1, 3),
    size=st.floats(0.25, 4.0),
)
def test_flops_are_size_times_the_standard_encoders(in_features: int, depth: int, size: float):
    standard = encoder_flops(in_features, 1.0, depth)
    assert encoder_flops(in_features, size, depth) == pytest.approx(size * standard, rel=0.03)


@pytest.mark.parametrize("in_features", INPUT_WIDTHS)
def test_counted_flops_are_twice_the_predicted_multiply_adds(in_features: int):
    encoder = MLPEncoder((in_features,), 0.7, depth=3)
    flops = count_flops(encoder, (in_features,)).encoder
    assert flops == 2 * mlp_macs(in_features, encoder.widths)


def test_whole_network_flops_scale_with_the_encoder():
    small, large = (mlp_network(TASKS, (20,), size) for size in (0.5, 2.0))
    small_flops, large_flops = count_flops(small, (20,)), count_flops(large, (20,))
    assert large_flops.encoder == pytest.approx(4 * small_flops.encoder, rel=0.03)
    assert set(large_flops.heads) == {"sales", "churn", "pose"}
    assert large_flops.total > small_flops.total


def test_size_one_is_the_standard_width():
    assert mlp_widths(10) == (128, 128)
    assert mlp_widths(10, base_width=64, depth=3) == (64, 64, 64)


@settings(max_examples=60, deadline=None)
@given(
    in_features=st.integers(1, 2000),
    depth=st.integers(1, 4),
    sizes=st.lists(st.floats(0.01, 16.0), min_size=2, max_size=2),
)
def test_widths_never_shrink_as_size_grows(in_features: int, depth: int, sizes: list[float]):
    low, high = sorted(sizes)
    assert mlp_widths(in_features, low, depth=depth) <= mlp_widths(in_features, high, depth=depth)


def test_widths_are_monotone_on_a_fine_grid():
    widths = [mlp_widths(34, 0.05 + 0.01 * i)[0] for i in range(400)]
    assert widths == sorted(widths)


@pytest.mark.parametrize("shape", [(10,), (3, 4), (1, 28, 28)])
def test_output_shapes(shape: tuple[int, ...]):
    encoder = MLPEncoder(shape, size=0.5, depth=3)
    assert encoder.in_features == math.prod(shape)
    assert encoder(torch.zeros(5, *shape)).shape == (5, encoder.out_features)
    outputs = mlp_network(TASKS, shape, size=0.5)(torch.zeros(5, *shape))
    assert {name: tuple(out.shape) for name, out in outputs.items()} == {
        "sales": (5, 1), "churn": (5, 2), "pose": (5, 3)
    }


def test_options_reach_the_encoder():
    net = mlp_network(TASKS, (8,), size=1.0, base_width=32, depth=3, dropout=0.1)
    assert net.encoder.widths == (32, 32, 32)
    assert any(isinstance(m, torch.nn.Dropout) for m in net.encoder.modules())
    assert not any(isinstance(m, torch.nn.Dropout) for m in MLPEncoder((8,)).modules())


def test_a_batch_of_one_trains():
    # LayerNorm, not BatchNorm1d: a last batch of one sample must not fail in train mode.
    net = mlp_network(TASKS, (6,)).train()
    outputs = net(torch.randn(1, 6))
    sum(out.sum() for out in outputs.values()).backward()


def test_dense_tasks_are_refused_with_their_name():
    with pytest.raises(ValueError, match=r"task edges is dense: dense tasks need a spatial "
                                         r"encoder such as conv"):
        mlp_network([TASKS[0], Task("edges", "dense", 1)], (8,))


def test_same_seed_same_weights():
    def build(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return mlp_network(TASKS, (12,), size=0.8).state_dict()

    first, second, other = build(3), build(3), build(4)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


def test_registry_style_builder_matches_the_class():
    encoder = create_mlp_encoder(7, size=0.5, depth=3)
    assert isinstance(encoder, MLPEncoder)
    assert encoder.widths == MLPEncoder((7,), 0.5, depth=3).widths


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0.0}, "size must be a positive finite number"),
        ({"size": -1.0}, "size must be a positive finite number"),
        ({"size": float("nan")}, "size must be a positive finite number"),
        ({"size": float("inf")}, "size must be a positive finite number"),
        ({"depth": 0}, "depth must be an integer >= 1"),
        ({"base_width": 0}, "base_width must be an integer >= 1"),
        ({"in_features": 0}, "in_features must be an integer >= 1"),
    ],
)
def test_bad_architecture_arguments(kwargs: dict, message: str):
    arguments = {"in_features": 10, "size": 1.0, "base_width": 128, "depth": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        mlp_widths(**arguments)


def test_bad_encoder_arguments():
    with pytest.raises(ValueError, match="dropout"):
        MLPEncoder((4,), dropout=1.0)
    with pytest.raises(ValueError, match="input_shape"):
        MLPEncoder((0,))
    with pytest.raises(ValueError, match="at least one task"):
        mlp_network([], (4,))


def test_docstring_examples_run():
    assert doctest.testmod(mlp).failed == 0
