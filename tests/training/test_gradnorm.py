"""GradNorm: its weights balance the weighted gradient norms (α = 0), sum to the number of
tasks, follow the relative training rates (α > 0), and its norms are taken on the last shared
layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtlgroup.data.base import Batch
from mtlgroup.models import MultiTaskNet
from mtlgroup.tasks import Task, TaskSet
from mtlgroup.training.gradnorm import GradNormStrategy, _gradient_norm


def _problem(scales=(1.0, 10.0, 3.0), encoder=None):
    """Regression tasks whose targets differ in scale, so their gradient norms do too."""
    torch.manual_seed(0)
    names = [f"t{i}" for i in range(len(scales))]
    tasks = TaskSet([Task(t, "vector", 1, "l2") for t in names])
    net = MultiTaskNet(encoder or nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4)),
                       {t: nn.Linear(4, 1) for t in names})
    x = torch.randn(32, 3)
    batch = Batch(x, {t: s * (x @ torch.randn(3, 1)) for t, s in zip(names, scales, strict=True)})
    return tasks, net, batch


def test_alpha_zero_equalises_the_weighted_gradient_norms():
    tasks, net, batch = _problem()
    strategy = GradNormStrategy(alpha=0.0, lr=0.04)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)  # fixed network: fixed norms
    strategy.setup(net, optimizer, tasks)
    for _ in range(120):
        strategy.step(net, batch, optimizer, tasks)
    outputs = net(batch.inputs)
    norms = torch.stack([_gradient_norm(((outputs[t] - batch.targets[t]) ** 2).mean(),
                                        [dict(net.named_parameters())[n] for n in strategy.layer_])
                         for t in tasks.names])
    weighted = torch.tensor(list(strategy.weights_.values())) * norms
    assert float(weighted.max() / weighted.min()) < 1.1  # from a raw ratio of about 10
    assert float(norms.max() / norms.min()) > 5
    assert sum(strategy.weights_.values()) == pytest.approx(len(tasks))


def test_a_task_that_trains_slower_gets_more_weight_with_alpha():
    tasks, net, batch = _problem(scales=(1.0, 1.0, 1.0))
    strategy = GradNormStrategy(alpha=1.5, lr=0.02)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    strategy.setup(net, optimizer, tasks)
    strategy.step(net, batch, optimizer, tasks)
    # pretend task t0's loss has fallen least since the start (relative rate r > 1)
    strategy.initial_losses_ = {t: v * (0.5 if t == "t0" else 1.0)
                                for t, v in strategy.initial_losses_.items()}
    for _ in range(40):
        strategy.step(net, batch, optimizer, tasks)
    alone = GradNormStrategy(alpha=0.0, lr=0.02)  # the same without the asymmetry
    alone.setup(net, optimizer, tasks)
    for _ in range(41):
        alone.step(net, batch, optimizer, tasks)
    assert strategy.weights_["t0"] > alone.weights_["t0"] * 1.5


def test_the_last_shared_layer_is_the_last_weight_matrix():
    encoder = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.BatchNorm1d(4))
    tasks, net, batch = _problem(encoder=encoder)
    for layer, expected in [("last", ["encoder.2.weight", "encoder.2.bias"]),
                            ("all", [n for n, _ in net.encoder.named_parameters(
                                prefix="encoder")])]:
        strategy = GradNormStrategy(layer=layer)
        optimizer = torch.optim.Adam(net.parameters())
        strategy.setup(net, optimizer, tasks)
        strategy.step(net, batch, optimizer, tasks)
        assert strategy.layer_ == expected


def test_an_unlabelled_task_keeps_its_share_and_nothing_is_nan():
    tasks, net, batch = _problem()
    batch.masks["t1"] = torch.zeros(32, dtype=torch.bool)
    strategy = GradNormStrategy()
    optimizer = torch.optim.Adam(net.parameters())
    strategy.setup(net, optimizer, tasks)
    strategy.step(net, batch, optimizer, tasks)
    assert "t1" not in strategy.initial_losses_
    assert all(w == w for w in strategy.weights_.values())
    assert sum(strategy.weights_.values()) == pytest.approx(3.0)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="gradnorm: layer"):
        GradNormStrategy(layer="first")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gradnorm: need alpha"):
        GradNormStrategy(alpha=-1)
