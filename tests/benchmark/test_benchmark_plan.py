"""The grouping a benchmark trains: chosen from an affinity, scaled to the all-task budget."""

from __future__ import annotations

import numpy as np
import pytest

from mtlgroup.affinity import Affinity
from mtlgroup.benchmark import grouping_networks
from mtlgroup.cost import CostModel
from mtlgroup.data import load_dataset

TASKS = ("bright", "parity", "moments", "contrast")


@pytest.fixture(scope="module")
def costs():
    data = load_dataset("synthetic", n_train=8, n_val=8, n_test=8, size=8)
    return CostModel(data.tasks.subset(TASKS), data.input_shape)


def affinity(pairs):
    """Two blocks that help each other within and hurt each other across."""
    matrix = np.full((len(TASKS), len(TASKS)), -0.5)
    for i, j in pairs:
        matrix[i, j] = matrix[j, i] = 1.0
    return Affinity(TASKS, matrix, "tag")


def test_the_grouping_fits_the_all_task_budget(costs):
    budget = costs.cost(TASKS, 1.0)
    networks = grouping_networks(affinity([(0, 1), (2, 3)]), budget, costs, max_groups=2)
    assert sorted(n.tasks for n in networks) == [("bright", "parity"), ("moments", "contrast")]
    spent = sum(costs.cost(n.tasks, n.size) for n in networks)
    assert spent <= budget and spent > 0.9 * budget  # scaled down to fit, not far below
    assert all(n.size < 1.0 for n in networks)


def test_one_group_is_the_all_task_network_at_its_size(costs):
    together = np.ones((len(TASKS), len(TASKS)))
    networks = grouping_networks(Affinity(TASKS, together, "tag"), costs.cost(TASKS, 0.5),
                                 costs, max_groups=2, size=0.5)
    assert [(n.tasks, n.size) for n in networks] == [(TASKS, 0.5)]
