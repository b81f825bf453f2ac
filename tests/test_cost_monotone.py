"""Cost never drops when the encoder grows, and a baseline lands a width step under its budget
(ALGORITHMS §7): for every built-in family, whole-network FLOPs (encoder and heads)."""

from __future__ import annotations

import pytest

from mtlgroup.cost import CostModel
from mtlgroup.models.network_factory import NETWORKS
from mtlgroup.tasks import Task

SHAPES = {"conv": (3, 8, 8), "mlp": (12,), "vit": (3, 8, 8)}
"""A small input per family: the FLOP ratios do not depend on the resolution."""
GRID = [0.13, 0.25, 0.26, 0.45, 0.6, 0.61, 0.62, 0.63, 1.2, 1.7]
"""Sizes around the ones where the earlier width fitting made cost drop (0.25, 0.6, 0.62)."""


def tasks_for(family: str) -> list[Task]:
    """A task of each kind the family serves (an MLP has no spatial output)."""
    depth = Task("depth", "vector" if family == "mlp" else "dense", 1)
    return [depth, Task("kind", "label", 5), Task("pose", "vector", 3)]


@pytest.fixture(scope="module", params=sorted(NETWORKS.names()))
def costs(request) -> CostModel:
    if request.param not in SHAPES:
        pytest.skip(f"no input shape for the {request.param} family in this test")
    return CostModel(tasks_for(request.param), SHAPES[request.param], request.param)


@pytest.mark.parametrize("tasks", [["depth"], ["kind"], ["depth", "kind", "pose"]])
def test_whole_network_cost_never_drops_as_size_grows(costs, tasks):
    values = [costs.cost(tasks, size) for size in GRID]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False)), values


@pytest.mark.parametrize("tasks,budget", [(["depth", "kind", "pose"], 1.0), (["pose"], 0.4)])
def test_a_scaled_network_lands_within_one_step_under_its_budget(costs, tasks, budget):
    size = costs.size_for_cost(tasks, budget)
    step = 10.0**-3  # size_for_cost's resolution: the next size up must be over budget
    assert costs.cost(tasks, size) <= budget < costs.cost(tasks, size + step)
