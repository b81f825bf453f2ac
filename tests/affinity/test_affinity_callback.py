"""The probe as a trainer callback: it never changes the training, and it accumulates honestly."""

from __future__ import annotations

import numpy as np
import pytest
from affinity_helpers import (
    FinalState,
    assert_same_tensors,
    dropout_network,
    quick_config,
    small_network,
)

from mtlgroup.affinity import LookaheadProbe, SelectiveGroupStrategy, probe, shared_parameters
from mtlgroup.affinity.callback import RunningMean
from mtlgroup.training import Callback, Trainer, TrainState


def _train(data, callbacks, **config):
    final = FinalState()
    Trainer(quick_config(**config), [*callbacks, final]).fit(small_network(data), data)
    return final


@pytest.mark.parametrize(
    "config,probe_options",
    [
        ({"optimizer": "adam", "weight_decay": 1e-3}, {"every": 3}),
        ({"optimizer": "sgd", "momentum": 0.9}, {"every": 2, "step": "optimizer"}),
        ({"optimizer": "adam"}, {"every": 5, "step": "optimizer", "batched": True}),
    ],
)
def test_probes_do_not_change_the_trajectory(synthetic, config, probe_options):
    plain = _train(synthetic, [], **config)
    probe = LookaheadProbe(**probe_options)
    probed = _train(synthetic, [probe], **config)
    assert probe.n_probes_ == len(range(1, 13, probe_options["every"]))
    assert probe.reused_forward_ == probe.n_probes_ - 1  # the step's own forward pass
    assert_same_tensors(plain.model, probed.model)  # weights and BatchNorm statistics
    assert_same_tensors(plain.optimizer, probed.optimizer)


def test_history_windows_average_to_the_final_matrix(synthetic):
    probe = LookaheadProbe(every=1)
    _train(synthetic, [probe], eval_every=4)
    affinity = probe.lookahead_affinity()
    assert [step for step, _ in affinity.history] == [4, 8, 12]
    # Each window holds 4 probes, so the windows' mean is the overall mean.
    windows = np.mean([m for _, m in affinity.history], axis=0)
    np.testing.assert_allclose(windows, affinity.matrix, atol=1e-12)
    cosine = probe.cosine_affinity()
    assert cosine.method == "cs" and cosine.n_probes == affinity.n_probes == 12
    np.testing.assert_allclose(cosine.matrix, cosine.matrix.T, atol=1e-6)


def test_a_run_without_probes_says_so():
    probe = LookaheadProbe(every=5)
    with pytest.raises(ValueError, match="no probe was taken"):
        probe.lookahead_affinity()
    with pytest.raises(ValueError, match="every"):
        LookaheadProbe(every=0)


def test_running_mean_skips_nan_per_entry():
    mean = RunningMean(2)
    mean.add(np.array([[1.0, np.nan], [2.0, np.nan]]))
    mean.add(np.array([[3.0, 5.0], [np.nan, np.nan]]))
    result = mean.mean()
    assert result[0, 0] == 2.0 and result[0, 1] == 5.0 and result[1, 0] == 2.0
    assert np.isnan(result[1, 1])


class _OwnProbes(Callback):
    """Runs the standalone :func:`probe` at every step, before the callbacks after it."""

    def __init__(self, **options):
        self.options, self.outcomes = options, []

    def on_step_begin(self, state: TrainState) -> None:
        self.outcomes.append(probe(state.model, state.batch, state.tasks, state.optimizer,
                                   **self.options))


@pytest.mark.parametrize("step", ["sgd", "optimizer"])
def test_the_reused_forward_pass_measures_what_a_probe_of_its_own_does(synthetic, step):
    own, reused = _OwnProbes(step=step), LookaheadProbe(every=1, step=step)
    Trainer(quick_config(max_steps=3), [own, reused]).fit(dropout_network(synthetic), synthetic)
    assert reused.reused_forward_ == 2  # steps 2 and 3 (step 1 checks the strategy)
    mean = {kind: np.nanmean([getattr(o, name)().numpy() for o in own.outcomes], axis=0)
            for kind, name in (("tag", "lookahead_affinity"), ("tag1", "first_order_affinity"))}
    np.testing.assert_allclose(reused.lookahead_affinity().matrix, mean["tag"], atol=1e-5)
    np.testing.assert_allclose(reused.first_order_affinity().matrix, mean["tag1"], atol=1e-5)


def test_a_strategy_that_hides_its_losses_is_still_probed(synthetic):
    """STGU computes its losses without ``forward_losses``: every probe runs on its own."""
    probe_cb = LookaheadProbe(every=2)
    Trainer(quick_config(max_steps=6), [probe_cb], SelectiveGroupStrategy(warmup=100)).fit(
        small_network(synthetic), synthetic)
    assert probe_cb.n_probes_ == 3 and probe_cb.reused_forward_ == 0


def test_the_lookahead_passes_wait_for_the_backward_pass(synthetic, monkeypatch):
    """Reusing the step's forward pass, the lookahead passes run once the training's backward
    pass is done (its graph freed) and before the optimizer moves the weights."""
    from mtlgroup.affinity.lookahead import PendingProbe

    seen, original = [], PendingProbe.finish

    def finish(self):
        seen.append(all(p.grad is not None for p in shared_parameters(self.model).values()))
        return original(self)

    monkeypatch.setattr(PendingProbe, "finish", finish)
    probe_cb = LookaheadProbe(every=1)
    _train(synthetic, [probe_cb], max_steps=3)
    assert seen == [False, True, True]  # step 1 probes on its own, before any backward pass
