"""Selective task group updates: heads outside the stepping group stay put, affinity is credited
to the group that stepped, and the strategy trains through the ordinary trainer."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from mtlgroup.affinity import estimate_affinity
from mtlgroup.affinity.stgu import SelectiveGroupStrategy, measure_losses
from mtlgroup.data import load_dataset
from mtlgroup.data.base import MultiTaskData, TensorSplit
from mtlgroup.models import make_network
from mtlgroup.tasks import Task, TaskSet
from mtlgroup.training import TrainConfig, Trainer, create_strategy, task_losses
from mtlgroup.training.budget import Budget


@pytest.fixture(scope="module")
def data() -> MultiTaskData:
    return load_dataset("synthetic", n_train=64, n_val=16, n_test=16, size=8)


def _network(data: MultiTaskData) -> nn.Module:
    torch.manual_seed(0)
    return make_network(data.tasks, data.input_shape, size=0.25).train()


OPTIMIZERS = {
    "adam+wd": lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    "sgd+momentum+wd": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, weight_decay=0.1),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_heads_outside_the_group_do_not_move(data, name):
    model = _network(data)
    optimizer = OPTIMIZERS[name](model.parameters())
    group, others = ("bright", "parity"), ("moments", "contrast")
    strategy = SelectiveGroupStrategy(groups=[group, others[:1], others[1:]])
    strategy.setup(model, optimizer, data.tasks)
    batches = list(data.train.batches(16))
    strategy.step(model, batches[0], optimizer, data.tasks)  # every head now has momentum
    # Parameters and optimizer state here; the normalisation statistics are tested below.
    frozen = {t: {k: v.detach().clone() for k, v in model.heads[t].named_parameters()}
              for t in others}
    frozen_state = {id(p): copy.deepcopy(optimizer.state[p]) for t in others
                    for p in model.heads[t].parameters()}
    moving = [p.detach().clone() for t in group for p in model.heads[t].parameters()]
    shared = [p.detach().clone() for p in model.shared_parameters()]

    losses = task_losses(model(batches[1].inputs), batches[1], data.tasks)
    strategy.update_group(model, optimizer, data.tasks, group, losses)

    for task in others:
        for key, value in model.heads[task].named_parameters():
            assert torch.equal(value, frozen[task][key]), f"{task}.{key} moved"
        for p in model.heads[task].parameters():
            for key, value in optimizer.state[p].items():
                assert torch.equal(value, frozen_state[id(p)][key]), f"{task} {key} changed"
    after = [p for t in group for p in model.heads[t].parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(after, moving, strict=True))
    assert any(not torch.equal(a, b) for a, b in
               zip(model.shared_parameters(), shared, strict=True))


class _ConstantHead(nn.Module):
    """Predicts 1 whatever the features: its loss never changes and it sends no gradient."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features[:, :1] * 0.0 + 1.0


class _LearnAndStill(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.heads = nn.ModuleDict({"learn": nn.Linear(8, 1), "still": _ConstantHead()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder(x)
        return {t: head(features) for t, head in self.heads.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_affinity_is_credited_to_the_group_that_stepped(seed):
    tasks = TaskSet([Task("learn", "vector", 1, loss="l2"), Task("still", "vector", 1, loss="l2")])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    split = TensorSplit(x, {"learn": x.sum(dim=1, keepdim=True), "still": torch.zeros(32, 1)})
    torch.manual_seed(0)
    model = _LearnAndStill()
    # Plain SGD: a zero gradient (the still task's step) moves nothing at all.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    # Random visiting orders (seeded): "still" follows "learn" in some batches, where crediting
    # the next group (the released code's bug) would give "still" the credit for learn's step.
    strategy = SelectiveGroupStrategy(groups=[("learn",), ("still",)], beta=0.5, seed=seed)
    strategy.setup(model, optimizer, tasks)
    for batch in split.batches(8, shuffle=False):
        strategy.step(model, batch, optimizer, tasks)
    learn, still = 0, 1
    a = strategy.tracker_.matrix
    assert a[learn, learn] > 0  # learn's own steps lowered its loss
    assert a[still, learn] == 0.0 and a[still, still] == 0.0  # still's steps changed nothing
    assert a[learn, still] == 0.0  # still's loss cannot change


def test_returned_losses_are_before_any_update_and_measuring_keeps_statistics(data):
    model = _network(data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = next(data.train.batches(16))
    reference = copy.deepcopy(model)
    expected = task_losses(reference(batch.inputs), batch, data.tasks)
    strategy = SelectiveGroupStrategy(warmup=10)
    strategy.setup(model, optimizer, data.tasks)
    losses = strategy.step(model, batch, optimizer, data.tasks)
    for task in data.tasks.names:
        torch.testing.assert_close(losses[task], expected[task].detach())
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    measure_losses(model, batch, data.tasks)
    for key, value in model.named_buffers():
        assert torch.equal(value, buffers[key]), key


def test_trains_through_the_trainer_and_records_groups(data):
    strategy = create_strategy("stgu", warmup=4, beta=0.2)
    config = TrainConfig(max_steps=10, batch_size=16, lr=1e-2, device="cpu", progress=False)
    result = Trainer(config, strategy=strategy).fit(_network(data), data)
    assert np.isfinite(result.total("test"))
    history = strategy.groups_history_
    assert history[0] == (0, [(t,) for t in data.tasks.names])
    assert all(step > 4 for step, _ in history[1:])  # no regrouping during the warm-up
    assert strategy.steps_ == 10
    covered = sorted(t for group in strategy.groups_ for t in group)
    assert covered == sorted(data.tasks.names)


def test_bad_options_are_refused(data):
    with pytest.raises(ValueError, match="beta"):
        SelectiveGroupStrategy(beta=2.0)
    with pytest.raises(ValueError, match="regroup_every"):
        SelectiveGroupStrategy(regroup_every=0)
    strategy = SelectiveGroupStrategy(groups=[("bright",), ("parity",)])
    model = _network(data)
    with pytest.raises(ValueError, match="cover the tasks"):
        strategy.setup(model, torch.optim.SGD(model.parameters(), lr=0.1), data.tasks)


def _batch_counts(module: nn.Module) -> list[int]:
    """The BatchNorm batch counts in ``module``."""
    return [int(b) for n, b in module.named_buffers() if n.endswith("num_batches_tracked")]


def _means(module: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for n, b in module.named_buffers() if n.endswith("running_mean")]


def test_each_head_updates_its_normalisation_statistics_once_per_batch(data):
    model = _network(data)
    heads = model.get_submodule("heads")
    with_bn = [t for t in data.tasks.names if _batch_counts(heads.get_submodule(t))]
    assert len(with_bn) >= 2  # the dense heads: the test needs BatchNorm outside a group
    groups = [(with_bn[0],), tuple(t for t in data.tasks.names if t != with_bn[0])]
    strategy = SelectiveGroupStrategy(groups=groups)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    strategy.setup(model, optimizer, data.tasks)
    means = {t: _means(heads.get_submodule(t)) for t in with_bn}
    for batch in list(data.train.batches(16))[:2]:
        strategy.step(model, batch, optimizer, data.tasks)
    for task in with_bn:  # its own group's forward pass only, once per batch
        head = heads.get_submodule(task)
        assert set(_batch_counts(head)) == {2}, task
        moved = _means(head)
        assert all(not torch.equal(a, b) for a, b in zip(moved, means[task], strict=True))
    # the shared encoder sees every group's training forward pass, as a training pass would
    assert set(_batch_counts(model.get_submodule("encoder"))) == {2 * len(groups)}


@pytest.mark.parametrize(
    "budget,expected",
    [(Budget(64), 6), (Budget(5000), 100), (Budget(3), 1),
     # in optimizer steps, a warm-up batch takes one per task (4): 64 steps are 16 batches
     (Budget(64, "optimizer_steps"), 2), (None, 100)],
)
def test_the_default_warm_up_fits_the_run(data, budget, expected):
    model = _network(data)
    strategy = SelectiveGroupStrategy()
    if budget is not None:
        strategy.set_budget(budget)
    strategy.setup(model, torch.optim.SGD(model.parameters(), lr=0.1), data.tasks)
    assert strategy.warmup_ == expected
    explicit = SelectiveGroupStrategy(warmup=7)
    explicit.set_budget(Budget(64))
    explicit.setup(model, torch.optim.SGD(model.parameters(), lr=0.1), data.tasks)
    assert explicit.warmup_ == 7  # an explicit warm-up wins


def test_a_short_run_regroups_after_its_warm_up():
    # The demo's length (~64 batches): the old fixed 100-batch warm-up never ended there.
    small = load_dataset("synthetic", n_train=32, n_val=8, n_test=8, size=8)
    config = TrainConfig(max_steps=64, batch_size=4, lr=1e-2, device="cpu", progress=False,
                         early_fraction=None)
    affinity = estimate_affinity(small, method="proximal", config=config, size=0.25, beta=0.1)
    changes = affinity.extra["groups_over_time"][1:]
    warmup = affinity.extra["warmup"]
    assert 1 <= warmup <= 0.1 * 64
    assert changes and all(entry["step"] > warmup for entry in changes)
