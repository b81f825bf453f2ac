"""Every registered strategy trains a tiny network through train_network, and training is
deterministic under a seed."""

from __future__ import annotations

import pytest
import torch

from mtlgroup.data import load_dataset
from mtlgroup.training import TrainConfig, available_strategies, create_strategy, train_network
from mtlgroup.training.strategy_catalog import describe_strategy

CONFIG = TrainConfig(max_steps=2, batch_size=8, early_fraction=None, progress=False,
                     device="cpu")


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", n_train=16, n_val=8, n_test=8, size=8)


def _train(name, data, seed=0):
    if not describe_strategy(name).available:
        pytest.skip(f"{name} needs torchjd")
    strategy = create_strategy(name)
    config = TrainConfig(**{**CONFIG.to_dict(), "seed": seed})
    return strategy, *train_network(data.tasks.names, data, 0.25, config, strategy=strategy)


@pytest.mark.parametrize("name", available_strategies())
def test_every_strategy_trains_end_to_end(name, data):
    strategy, model, result = _train(name, data)
    assert result.batches == 2 and result.optimizer_steps >= 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert set(result.test) == set(data.tasks.names)
    history = getattr(strategy, "weights_over_time", None)
    if history is not None:  # the loss weighting strategies say what they did, in the result
        assert all(record["step"] >= 1 for record in history())
        assert result.extra["weights_over_time"] == history()
    else:
        assert "weights_over_time" not in result.extra


@pytest.mark.parametrize("name", ["upgrad", "uw", "gradnorm"])
def test_the_same_seed_gives_the_same_weights(name, data):
    first = _train(name, data)[1].state_dict()
    second = _train(name, data)[1].state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
