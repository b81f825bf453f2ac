"""One lookahead probe: equal to the textbook computation, and invisible to the model."""

from __future__ import annotations

import copy

import pytest
import torch
from affinity_helpers import snapshot

from mtlgroup.affinity import optimizer_lookahead, probe, shared_parameters
from mtlgroup.data.base import Batch
from mtlgroup.training import task_losses


def naive_lookahead(model, batch, tasks, lr: float):
    """ALGORITHMS §2 written out with a deep copy of the model per source task."""
    names = tasks.names
    with torch.no_grad():
        base = task_losses(copy.deepcopy(model)(batch.inputs), batch, tasks)
    after = torch.zeros(len(names), len(names))
    grads = []
    for i, source in enumerate(names):
        clone = copy.deepcopy(model)
        loss = task_losses(clone(batch.inputs), batch, tasks)[source]
        shared = list(clone.shared_parameters())
        g = torch.autograd.grad(loss, shared, allow_unused=True)
        g = [torch.zeros_like(p) if d is None else d for d, p in zip(g, shared, strict=True)]
        grads.append(torch.cat([d.flatten() for d in g]))
        with torch.no_grad():
            for p, d in zip(shared, g, strict=True):
                p -= lr * d
            moved = task_losses(clone(batch.inputs), batch, tasks)
        after[i] = torch.stack([moved[t] for t in names])
    base_t = torch.stack([base[t] for t in names])
    return base_t, after, torch.stack(grads)


@pytest.mark.parametrize("batched", [True, False])
def test_probe_equals_deep_copy_loop(network, batch, synthetic, batched):
    model, _ = network
    base, after, grads = naive_lookahead(model, batch, synthetic.tasks, lr=0.05)
    outcome = probe(model, batch, synthetic.tasks, lr=0.05, batched=batched)
    torch.testing.assert_close(outcome.losses, base, rtol=0, atol=1e-5)
    torch.testing.assert_close(outcome.lookahead_losses, after, rtol=0, atol=1e-5)
    torch.testing.assert_close(outcome.gradients, grads, rtol=1e-4, atol=1e-6)
    z = outcome.lookahead_affinity()
    torch.testing.assert_close(z, 1 - after / base.unsqueeze(0), rtol=0, atol=1e-5)
    # The step is a real step: a task's own lookahead lowers its loss at this small lr.
    assert (torch.diagonal(z) > 0).all()


def test_probe_leaves_weights_buffers_grads_and_rng_alone(network, batch, synthetic):
    model, optimizer = network
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)  # the training's gradient buffers: must survive
    before = snapshot(model)
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    rng = torch.get_rng_state()
    probe(model, batch, synthetic.tasks, optimizer, step="optimizer")
    after = snapshot(model)
    running = [k for k in before if "running" in k or "num_batches_tracked" in k]
    assert running, "the network should have BatchNorm statistics"
    for key in before:
        assert torch.equal(before[key], after[key]), f"{key} changed"
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    assert copy.deepcopy(optimizer.state_dict())["state"].keys() == optimizer_state["state"].keys()
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            assert torch.equal(value, optimizer_state["state"][index][name])


def test_cosine_is_symmetric_with_unit_diagonal(network, batch, synthetic):
    model, _ = network
    cos = probe(model, batch, synthetic.tasks, lr=0.01, lookahead=False).cosine()
    torch.testing.assert_close(cos, cos.T)
    torch.testing.assert_close(torch.diagonal(cos), torch.ones(len(synthetic.tasks)))
    assert (cos.abs() <= 1).all()


def test_task_order_permutes_the_matrix(network, batch, synthetic):
    model, _ = network
    order = ["contrast", "bright", "moments", "parity"]
    plain = probe(model, batch, synthetic.tasks, lr=0.05).lookahead_affinity()
    permuted = probe(model, batch, synthetic.tasks.subset(order), lr=0.05).lookahead_affinity()
    idx = [synthetic.tasks.names.index(t) for t in order]
    torch.testing.assert_close(permuted, plain[idx][:, idx], rtol=0, atol=1e-6)


def test_unlabelled_samples_are_masked_out(network, batch, synthetic):
    model, _ = network
    masks = {"bright": torch.arange(len(batch)) % 2 == 0}
    garbage = batch.targets["bright"].clone()
    garbage[~masks["bright"]] = float("nan")  # unlabelled targets may be anything
    masked = Batch(batch.inputs, {**batch.targets, "bright": garbage}, masks)
    outcome = probe(model, masked, synthetic.tasks, lr=0.05)
    assert torch.isfinite(outcome.lookahead_affinity()).all()
    # A task with no labelled sample has no affinity to report on this batch.
    none = Batch(batch.inputs, batch.targets, {"parity": torch.zeros(len(batch), dtype=bool)})
    outcome = probe(model, none, synthetic.tasks, lr=0.05)
    p = synthetic.tasks.names.index("parity")
    assert torch.isnan(outcome.lookahead_affinity()[:, p]).all()
    assert torch.isnan(outcome.cosine()[p]).all()


def test_divide_by_lr_rescales(network, batch, synthetic):
    model, _ = network
    outcome = probe(model, batch, synthetic.tasks, lr=0.05)
    torch.testing.assert_close(outcome.lookahead_affinity(divide_by_lr=True),
                               outcome.lookahead_affinity() / 0.05)


def _filled_optimizer(model, kind: str, batch, tasks, steps: int):
    params = model.parameters()
    optimizer = {
        "adam": lambda: torch.optim.Adam(params, lr=1e-2, weight_decay=1e-2),
        "amsgrad": lambda: torch.optim.Adam(params, lr=1e-2, amsgrad=True),
        "adamw": lambda: torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1),
        "sgd": lambda: torch.optim.SGD(params, lr=1e-2),
        "momentum": lambda: torch.optim.SGD(params, lr=1e-2, momentum=0.9, weight_decay=1e-2),
        "nesterov": lambda: torch.optim.SGD(params, lr=1e-2, momentum=0.9, nesterov=True),
    }[kind]()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        sum(task_losses(model(batch.inputs), batch, tasks).values()).backward()
        optimizer.step()
    return optimizer


@pytest.mark.parametrize("kind", ["adam", "amsgrad", "adamw", "sgd", "momentum", "nesterov"])
@pytest.mark.parametrize("steps", [0, 2], ids=["fresh", "with-state"])
def test_optimizer_step_rule_matches_the_optimizer(network, batch, synthetic, kind, steps):
    model, _ = network
    optimizer = _filled_optimizer(model, kind, batch, synthetic.tasks, steps)
    shared = shared_parameters(model)
    g = {name: torch.randn(2, *p.shape) for name, p in shared.items()}
    moved = optimizer_lookahead(optimizer, shared, g)
    for row in range(2):
        twin_model, twin_opt = copy.deepcopy((model, optimizer))
        twin_shared = shared_parameters(twin_model)
        for p in twin_model.parameters():
            p.grad = None
        for name, p in twin_shared.items():
            p.grad = g[name][row].clone()
        twin_opt.step()
        for name, p in twin_shared.items():
            torch.testing.assert_close(moved[name][row], p.detach(), rtol=1e-5, atol=1e-7)


def test_probe_rejects_what_it_cannot_do(network, batch, synthetic):
    model, _ = network
    with pytest.raises(ValueError, match="learning rate"):
        probe(model, batch, synthetic.tasks)
    with pytest.raises(ValueError, match="unknown lookahead step"):
        probe(model, batch, synthetic.tasks, lr=0.1, step="newton")  # type: ignore[arg-type]
    rmsprop = torch.optim.RMSprop(model.parameters())
    with pytest.raises(TypeError, match="RMSprop"):
        probe(model, batch, synthetic.tasks, rmsprop, step="optimizer")
    with pytest.raises(TypeError, match="shared"):
        probe(torch.nn.Linear(2, 2), batch, synthetic.tasks, lr=0.1)
