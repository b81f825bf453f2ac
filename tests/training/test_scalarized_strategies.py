"""Scalarizer strategies against their papers' defining properties, on small synthetic problems
with known answers, and their bookkeeping (optimizer groups, epochs, missing labels)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

pytest.importorskip("torchjd")

from mtlgroup.data.base import Batch  # noqa: E402
from mtlgroup.models import MultiTaskNet  # noqa: E402
from mtlgroup.tasks import Task, TaskSet  # noqa: E402
from mtlgroup.training import create_strategy  # noqa: E402

NOISE = {"a": 0.5, "b": 2.0}
"""Per-task noise standard deviation of the regression."""


def regression(noise=NOISE, seed=0):
    """Tasks ``y_t = x·v_t + σ_t·ε`` and a linear network that can fit them."""
    torch.manual_seed(seed)
    tasks = TaskSet([Task(t, "vector", 1, "l2") for t in noise])
    net = MultiTaskNet(nn.Linear(3, 3), {t: nn.Linear(3, 1) for t in noise})
    truth = {t: torch.randn(3, 1) for t in noise}

    def batch(n=64):
        x = torch.randn(n, 3)
        return Batch(x, {t: x @ truth[t] + s * torch.randn(n, 1) for t, s in noise.items()})

    return tasks, net, batch


def _run(name, steps, lr=0.05, epochs_of=None, **options):
    tasks, net, batch = regression()
    strategy = create_strategy(name, **options)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    strategy.setup(net, optimizer, tasks)
    history = []
    for step in range(steps):
        history.append(strategy.step(net, batch(), optimizer, tasks))
        if epochs_of and (step + 1) % epochs_of == 0:
            strategy.end_epoch()
    return strategy, history, optimizer


@pytest.mark.parametrize("name,parameter,sign", [("uw", "log_var", -1), ("imtll", "log_scale", 1)])
def test_learned_weights_converge_to_the_inverse_noise_variance(name, parameter, sign):
    # UW: ½e^(−s)L + ½s is minimal at e^(−s) = 1/L, and L → σ² once the fit is exact (Kendall
    # et al.: the weight is 1/σ² up to the ½); IMTL-L is the same with s ↦ −s.
    strategy, _, _ = _run(name, 300)
    learned = torch.exp(sign * getattr(strategy.scalarizer_, parameter).detach())
    inverse_variance = torch.tensor([1 / NOISE[t] ** 2 for t in NOISE])
    assert torch.allclose(learned, inverse_variance, rtol=0.3)
    ratio = float(learned[0] / learned[1])
    assert 0.7 * 16 < ratio < 1.3 * 16  # (σ_b / σ_a)²


def test_uw_parameters_join_the_optimizer_without_decay():
    strategy, _, optimizer = _run("uw", 1)
    group = optimizer.param_groups[-1]
    assert group["params"] == [strategy.scalarizer_.log_var] and group["weight_decay"] == 0.0


def test_dwa_weights_are_k_softmax_of_the_epoch_loss_ratios():
    per_epoch, temperature = 3, 2.0
    strategy, history, _ = _run("dwa", 4 * per_epoch, epochs_of=per_epoch,
                                temperature=temperature)
    names = list(NOISE)
    averages = [torch.stack([torch.stack([h[t] for t in names])
                             for h in history[e * per_epoch:(e + 1) * per_epoch]]).mean(0)
                for e in range(4)]
    weights = strategy.weights_over_time()
    for epoch in range(4):
        for step in range(epoch * per_epoch, (epoch + 1) * per_epoch):
            got = torch.tensor([weights[step]["weights"][t] for t in names])
            if epoch < 2:
                expected = torch.ones(2)  # uniform before two epochs are known
            else:
                rates = averages[epoch - 1] / averages[epoch - 2]
                expected = len(names) * torch.softmax(rates / temperature, 0)
            assert torch.allclose(got, expected, atol=1e-5), (epoch, step)


def test_famo_balances_log_losses_and_moves_weight_to_the_task_that_improved_least():
    tasks, net, batch = regression({"a": 0.1, "b": 0.1, "c": 0.1})
    strategy = create_strategy("famo")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    strategy.setup(net, optimizer, tasks)
    fixed = batch()
    before = strategy.step(net, fixed, optimizer, tasks)
    # First step, uniform logits: the update is the gradient of Σ log L_i (scaled): each weight
    # times its loss is the same.
    weights = torch.tensor(list(strategy.weights_over_time()[0]["weights"].values()))
    losses = torch.stack([before[t] for t in tasks.names])
    assert torch.allclose(weights * losses, (weights * losses).mean().expand(3), rtol=1e-4)
    # After the step, the logits moved towards the task whose log-loss decreased least.
    with torch.no_grad():
        outputs = net(fixed.inputs)
        after = torch.stack([((outputs[t] - fixed.targets[t]) ** 2).mean() for t in tasks.names])
    decrease = torch.log(losses) - torch.log(after)
    z = torch.softmax(strategy.scalarizer_._w.detach(), 0)
    assert int(z.argmax()) == int(decrease.argmin()) and int(z.argmin()) == int(decrease.argmax())


def test_geometric_mean_weights_each_loss_by_the_mean_over_it():
    strategy, history, _ = _run("geomean", 1)
    losses = torch.stack([history[0][t] for t in NOISE])
    weights = torch.tensor(list(strategy.weights_over_time()[0]["weights"].values()))
    geometric = losses.prod() ** (1 / len(losses))
    assert torch.allclose(weights * losses, geometric / len(losses), rtol=1e-4)


@pytest.mark.parametrize("name", ["uw", "famo", "dwa"])
def test_an_unlabelled_task_gets_no_gradient_and_nothing_turns_nan(name):
    tasks, net, batch = regression({"a": 0.5, "b": 1.0, "c": 1.0})
    strategy = create_strategy(name)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    strategy.setup(net, optimizer, tasks)
    for step in range(3):
        b = batch()
        if step == 1:
            b.masks["c"] = torch.zeros(len(b), dtype=torch.bool)
            b.targets["c"] = torch.full_like(b.targets["c"], math.nan)
        strategy.step(net, b, optimizer, tasks)
        strategy.end_epoch()
        if name == "uw" and step == 1:  # the step's gradient of its log-variance
            grad = strategy.scalarizer_.log_var.grad
            assert float(grad[2]) == 0.0 and bool((grad[:2] != 0).all())
    for record in strategy.weights_over_time():
        assert all(math.isfinite(w) for w in record["weights"].values())
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_unknown_option_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError, match="'dwa'.*unknown option.*temp.*accepts: temperature"):
        create_strategy("dwa", temp=2.0)


def test_famo_measures_the_losses_after_its_step_without_touching_batchnorm_statistics():
    tasks, _, batch = regression()
    net = MultiTaskNet(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)),
                       {t: nn.Linear(3, 1) for t in NOISE})
    strategy = create_strategy("famo")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    strategy.setup(net, optimizer, tasks)
    strategy.step(net, batch(), optimizer, tasks)
    batchnorm = net.encoder[1]
    assert int(batchnorm.num_batches_tracked) == 1  # the step's own forward pass only
    assert not torch.equal(strategy.scalarizer_._w.detach(), torch.zeros(2))  # it did learn
