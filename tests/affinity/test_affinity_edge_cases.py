"""TAG's edge cases (ALGORITHMS §2): a source without labels, dropout, the trajectory."""

from __future__ import annotations

import pytest
import torch
from affinity_helpers import FinalState, assert_same_tensors, dropout_network, quick_config

from mtlgroup.affinity import LookaheadProbe, probe
from mtlgroup.data.base import Batch
from mtlgroup.training import Trainer, task_losses


def _unlabelled(batch: Batch, task: str) -> Batch:
    return Batch(batch.inputs, batch.targets, {task: torch.zeros(len(batch), dtype=torch.bool)})


@pytest.mark.parametrize("step", ["sgd", "optimizer"])
def test_a_source_without_labels_has_a_nan_row(network, batch, synthetic, step):
    model, _ = network
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(2):  # a momentum buffer: the unlabelled source would still "move"
        optimizer.zero_grad()
        sum(task_losses(model(batch.inputs), batch, synthetic.tasks).values()).backward()
        optimizer.step()
    outcome = probe(model, _unlabelled(batch, "parity"), synthetic.tasks, optimizer, step)
    p = synthetic.tasks.names.index("parity")
    others = [i for i in range(len(synthetic.tasks)) if i != p]
    for z in (outcome.lookahead_affinity(), outcome.first_order_affinity()):
        assert torch.isnan(z[p]).all() and torch.isnan(z[:, p]).all()
        assert torch.isfinite(z[others][:, others]).all()


def test_a_source_without_labels_is_left_out_of_the_mean(synthetic):
    """Every batch lacks parity labels: its row must stay unmeasured (NaN), not average zeros."""
    masked = _MaskedData(synthetic, "parity")
    probe_cb = LookaheadProbe(every=1)
    Trainer(quick_config(max_steps=3), [probe_cb]).fit(dropout_network(synthetic), masked)
    p = synthetic.tasks.names.index("parity")
    for affinity in (probe_cb.lookahead_affinity(), probe_cb.first_order_affinity()):
        assert torch.isnan(torch.as_tensor(affinity.matrix[p])).all()


class _MaskedData:
    """``data`` whose training batches never label ``task``."""

    def __init__(self, data, task: str):
        self._data, self._task = data, task
        self.train = _MaskedSplit(data.train, task)

    def __getattr__(self, name):
        return getattr(self._data, name)


class _MaskedSplit:
    def __init__(self, split, task: str):
        self._split, self._task = split, task

    def batches(self, *args, **kwargs):
        for batch in self._split.batches(*args, **kwargs):
            yield _unlabelled(batch, self._task)

    def __len__(self):
        return len(self._split)

    def __getattr__(self, name):
        return getattr(self._split, name)


@pytest.mark.parametrize("batched", [False, True])
def test_dropout_masks_are_replayed(synthetic, batch, batched):
    """With lr = 0 the lookahead weights are the weights: identical masks give Z = 0 exactly."""
    model = dropout_network(synthetic)
    z = probe(model, batch, synthetic.tasks, lr=0.0, batched=batched).lookahead_affinity()
    # The loop repeats the base pass bit for bit; vmap's batched kernels round differently
    # (other masks would move Z by ~0.1).
    torch.testing.assert_close(z, torch.zeros_like(z), rtol=0, atol=1e-6 if batched else 0)


@pytest.mark.parametrize("probe_options", [{"every": 2}, {"every": 3, "step": "optimizer"}])
def test_probes_with_dropout_do_not_change_the_trajectory(synthetic, probe_options):
    def train(callbacks):
        final = FinalState()
        config = quick_config(optimizer="sgd", momentum=0.9)
        Trainer(config, [*callbacks, final]).fit(dropout_network(synthetic), synthetic)
        return final

    plain = train([])
    probe_cb = LookaheadProbe(**probe_options)
    probed = train([probe_cb])
    assert probe_cb.n_probes_ == len(range(1, 13, probe_options["every"]))
    assert probe_cb.reused_forward_ == probe_cb.n_probes_ - 1  # all but the first
    assert_same_tensors(plain.model, probed.model)
    assert_same_tensors(plain.optimizer, probed.optimizer)
