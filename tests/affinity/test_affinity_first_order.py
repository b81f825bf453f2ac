"""First-order TAG (ALGORITHMS §2): the Taylor expansion of the lookahead, at the cost of CS."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from affinity_helpers import quick_config
from typer.testing import CliRunner

from mtlgroup.affinity import Affinity, TagEstimator, create_estimator, probe
from mtlgroup.data.base import Batch


def _double(model, batch: Batch) -> tuple[torch.nn.Module, Batch]:
    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.double() if t.is_floating_point() else t

    targets = {k: cast(v) for k, v in batch.targets.items()}
    return model.double(), Batch(cast(batch.inputs), targets, batch.masks)


@pytest.mark.parametrize("step", ["sgd", "optimizer"])
def test_first_order_is_the_tangent_of_exact_tag(network, batch, synthetic, step):
    """``Z_exact − Z_first = O(η²)``: ten times smaller a step, ~a hundred times smaller a gap,
    while both shrink only tenfold."""
    model, _ = network
    model, batch = _double(model, batch)
    gaps, sizes = [], []
    for lr in (1e-2, 1e-3):
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
        outcome = probe(model, batch, synthetic.tasks, optimizer, step)
        exact, first = outcome.lookahead_affinity(), outcome.first_order_affinity()
        gaps.append((exact - first).abs().max().item())
        sizes.append(first.abs().max().item())
    assert sizes[1] == pytest.approx(sizes[0] / 10, rel=1e-6)  # linear in η
    assert gaps[1] < gaps[0] / 30


def test_first_order_estimator_skips_the_lookahead_passes(synthetic, monkeypatch):
    from mtlgroup.affinity import lookahead

    calls = []
    original = lookahead._lookahead_losses
    monkeypatch.setattr(lookahead, "_lookahead_losses",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    config = quick_config(max_steps=4)
    first = create_estimator("tag", every=2, first_order=True).fit(synthetic, config=config,
                                                                  size=0.25)
    assert not calls
    exact = TagEstimator(every=2).fit(synthetic, config=config, size=0.25)
    assert calls  # exact TAG runs them, and reports first-order TAG of the same probes too
    np.testing.assert_allclose(first.affinity_.matrix, exact.first_order_.matrix, atol=1e-6)
    assert first.affinity_.settings["first_order"] is True
    assert first.get_params()["first_order"] and "first_order" not in exact.get_params()


def test_first_order_from_the_command_line(tmp_path, synthetic):
    import mtlgroup.cli.affinity  # noqa: F401  (registers the command)
    from mtlgroup.cli import app

    small = ["--dataset", "synthetic", "--n-train", "32", "--n-val", "8", "--n-test", "8",
             "--image-size", "8", "--max-steps", "2", "--batch-size", "16", "--device", "cpu",
             "--size", "0.25", "--tasks", "bright,parity"]
    result = CliRunner().invoke(app, ["affinity", "--first-order", "--every", "1",
                                      "--out", str(tmp_path), *small])
    assert result.exit_code == 0, result.output
    affinity = Affinity.from_csv(tmp_path / "affinity.csv")
    assert affinity.method == "tag" and affinity.settings["first_order"] is True
    refused = CliRunner().invoke(app, ["affinity", "--method", "cs", "--first-order",
                                       "--out", str(tmp_path / "cs"), *small])
    assert refused.exit_code == 2 and "--first-order" in refused.output
