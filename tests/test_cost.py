"""Forward FLOPs, relative cost (ALGORITHMS §7) and latency."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from mtlgroup.cost import (
    CostModel,
    FlopBreakdown,
    count_flops,
    measure_latency,
    network_cost,
    relative_cost,
    standard_network_flops,
)
from mtlgroup.models import MultiTaskNet, make_network
from mtlgroup.tasks import Task

SHAPES = [(3, 32, 32), (3, 64, 64), (1, 28, 28)]
TASKS = [
    Task("depth", "dense", 1),
    Task("semseg", "dense", 6, loss="cross_entropy"),
    Task("room", "label", 5, loss="cross_entropy"),
    Task("pose", "vector", 3),
]


def whole_model_flops(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1) -> int:
    """FlopCounterMode around one real forward of the whole model, per sample."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(batch, *input_shape))
    return counter.get_total_flops() // batch


@pytest.mark.parametrize("input_shape", SHAPES)
def test_breakdown_sums_to_the_whole_model_count(input_shape: tuple[int, ...]) -> None:
    net = make_network(TASKS, input_shape, size=0.5)
    breakdown = count_flops(net, input_shape)
    assert breakdown.heads.keys() == {t.name for t in TASKS}
    assert breakdown.total == breakdown.encoder + sum(breakdown.heads.values())
    assert breakdown.total == whole_model_flops(net, input_shape)
    assert breakdown.total == whole_model_flops(net, input_shape, batch=4)  # per sample


@pytest.mark.parametrize("input_shape", SHAPES)
def test_meta_counting_equals_cpu_counting(input_shape: tuple[int, ...]) -> None:
    net = make_network(TASKS, input_shape, size=2.0)
    on_meta = count_flops(net, input_shape, device="meta")
    assert on_meta == count_flops(net, input_shape, device="cpu")


def test_counting_leaves_the_model_unchanged() -> None:
    net = make_network(TASKS, (3, 32, 32)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    count_flops(net, (3, 32, 32), device="cpu")
    count_flops(net, (3, 32, 32))
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


class ItemHead(nn.Module):
    """A head that reads a number out of its input, which fails on the meta device."""

    def __init__(self, channels: int):
        super().__init__()
        self.linear = nn.Linear(channels, 2)

    def forward(self, features: Tensor) -> Tensor:
        gate = 1.0 if features.abs().sum().item() >= 0 else 0.0
        return self.linear(features.mean(dim=(2, 3))) * gate


def test_a_meta_hostile_model_is_counted_for_real() -> None:
    net = make_network([TASKS[0]], (3, 32, 32), size=0.5)
    hostile = MultiTaskNet(net.encoder, {"depth": net.heads["depth"], "odd": ItemHead(47)})
    with pytest.raises(RuntimeError):
        count_flops(hostile, (3, 32, 32), device="meta")
    assert count_flops(hostile, (3, 32, 32)) == count_flops(hostile, (3, 32, 32), device="cpu")


def test_only_the_requested_heads_are_counted() -> None:
    net = make_network(TASKS, (3, 32, 32))
    full, part = count_flops(net, (3, 32, 32)), count_flops(net, (3, 32, 32), ["room", "depth"])
    assert part == full.subset(["room", "depth"])
    assert list(part.heads) == ["room", "depth"]


def test_a_plain_module_counts_as_encoder_only() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    breakdown = count_flops(conv, (3, 32, 32))
    assert breakdown == FlopBreakdown(whole_model_flops(conv, (3, 32, 32)), {})
    with pytest.raises(ValueError, match="not a MultiTaskNet"):
        count_flops(conv, (3, 32, 32), tasks=["a"])


@pytest.mark.parametrize("input_shape", SHAPES)
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_half_size_single_task_network_costs_half(task: Task, input_shape: tuple[int, ...]) -> None:
    reference = standard_network_flops(task, input_shape)
    half = make_network([task], input_shape, size=0.5)
    assert relative_cost(half, input_shape, reference) == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize("input_shape", [(3, 32, 32), (3, 64, 64)])
def test_whole_network_flops_scale_with_size(input_shape: tuple[int, ...]) -> None:
    costs = CostModel(TASKS, input_shape)
    for task, size in itertools.product(TASKS, [0.25, 0.5, 2.0]):
        ratio = costs.flops([task.name], size) / costs.flops([task.name], 1.0)
        assert ratio == pytest.approx(size, rel=0.1), (task.name, size)


def test_standard_network_flops_is_the_size_one_network() -> None:
    for task in TASKS:
        built = count_flops(make_network([task], (3, 32, 32)), (3, 32, 32)).total
        assert standard_network_flops(task, (3, 32, 32)) == built


def test_cost_model_equals_building_each_network() -> None:
    costs = CostModel(TASKS, (3, 32, 32))
    reference = sum(standard_network_flops(t, (3, 32, 32)) for t in TASKS) / len(TASKS)
    assert costs.reference_flops == pytest.approx(reference)
    for size, k in itertools.product([1.0, 0.5], [1, 2, 4]):
        for subset in itertools.combinations(TASKS, k):
            net = make_network(subset, (3, 32, 32), size=size)
            expected = relative_cost(net, (3, 32, 32), reference)
            assert costs.cost([t.name for t in subset], size) == pytest.approx(expected)


def test_one_standard_network_costs_one_on_average() -> None:
    costs = CostModel(TASKS, (3, 32, 32))
    singles = [costs.cost([t.name]) for t in TASKS]
    assert sum(singles) / len(singles) == pytest.approx(1.0)
    # Sharing the encoder: the all-task network is cheaper than the four single-task ones.
    assert 1.0 < costs.cost([t.name for t in TASKS]) < sum(singles)


def test_network_cost_uses_the_study_reference() -> None:
    study = CostModel(TASKS, (3, 32, 32))
    pair = TASKS[:2]
    assert network_cost(pair, (3, 32, 32), 0.5, study_tasks=TASKS) == pytest.approx(
        study.cost(["depth", "semseg"], 0.5)
    )
    own = CostModel(pair, (3, 32, 32)).cost(["depth", "semseg"], 0.5)
    assert network_cost(pair, (3, 32, 32), 0.5) == pytest.approx(own)


def test_computing_costs_does_not_move_the_global_rng() -> None:
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    CostModel(TASKS, (3, 32, 32)).cost(["depth"], 0.5)
    assert torch.equal(torch.rand(3), expected)


def test_bad_arguments_are_explained() -> None:
    net = make_network(TASKS[:1], (3, 32, 32))
    with pytest.raises(ValueError, match="reference_flops"):
        relative_cost(net, (3, 32, 32), 0.0)
    with pytest.raises(ValueError, match="input_shape"):
        count_flops(net, (3, 0, 32))
    with pytest.raises(KeyError, match="valid tasks"):
        CostModel(TASKS, (3, 32, 32)).cost(["missing"])


def test_latency_is_a_positive_finite_median_and_keeps_the_mode() -> None:
    net = make_network(TASKS[:1], (3, 32, 32), size=0.25).train()
    seconds = measure_latency(net, (3, 32, 32), repeats=5, warmup=1)
    assert math.isfinite(seconds) and seconds > 0
    assert net.training
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(net, (3, 32, 32), repeats=0)
