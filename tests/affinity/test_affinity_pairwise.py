"""Pairwise affinity from a loss table (ALGORITHMS §1.3) on the Standley et al. anchor tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtlgroup.affinity import pairwise_affinity
from mtlgroup.selection import read_loss_table

ANCHORS = Path(__file__).parents[1] / "data" / "standley2020"
TABLES = sorted(ANCHORS.glob("setting1_*.csv"))
LOSS_TABLES = [p for p in TABLES if p.stem != "setting1_expected"]


def _lookup(path: Path) -> dict[tuple[str, str], float]:
    return {(r.network, r.task): r.loss for r in read_loss_table(path).rows}


@pytest.mark.parametrize("path", LOSS_TABLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("baseline", ["half", "full"])
def test_sign_says_whether_the_pair_beats_the_single(path, baseline):
    affinity = pairwise_affinity(path, baseline=baseline)
    losses = _lookup(path)
    assert affinity.tasks == ("semseg", "depth", "normals", "keypoints", "edges2d")
    assert affinity.n_probes == 20  # every ordered pair is in the table
    for source in affinity.tasks:
        for target in affinity.tasks:
            if source == target:
                continue
            single = losses[(f"{target}/2" if baseline == "half" else target, target)]
            pair = losses.get((f"{source}+{target}", target),
                              losses.get((f"{target}+{source}", target)))
            value = affinity.get(source, target)  # row = source: effect of source onto target
            assert np.sign(value) == np.sign(single - pair), (source, target)
            assert value == pytest.approx(single / pair - 1)


def test_loss_tables_are_present():
    assert len(LOSS_TABLES) == 3, f"expected the anchor tables under {ANCHORS}"


def test_diagonal_compares_the_full_single_with_the_baseline():
    path = ANCHORS / "setting1_val.csv"
    losses = _lookup(path)
    half = pairwise_affinity(path, baseline="half")
    assert half.get("depth", "depth") == pytest.approx(
        losses[("depth/2", "depth")] / losses[("depth", "depth")] - 1)
    np.testing.assert_array_equal(np.diag(pairwise_affinity(path, baseline="full").matrix), 0.0)


def test_rows_work_as_well_as_files_and_missing_pairs_stay_blank():
    rows = [("a/2", 0.5, "a", 1.0), ("b/2", 0.5, "b", 2.0), ("c/2", 0.5, "c", 1.0),
            ("b+a", 1.0, "a", 0.5), ("b+a", 1.0, "b", 4.0)]
    affinity = pairwise_affinity(rows)
    assert affinity.get("b", "a") == 1.0 and affinity.get("a", "b") == -0.5
    assert np.isnan(affinity.get("a", "c")) and np.isnan(affinity.get("c", "c"))
    sub = pairwise_affinity(rows, tasks=["b", "a"])
    assert sub.tasks == ("b", "a") and sub.get("b", "a") == 1.0


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="'a/2'"):
        pairwise_affinity([("a", 1.0, "a", 1.0)])
    with pytest.raises(ValueError, match="baseline"):
        pairwise_affinity([("a/2", 0.5, "a", 1.0)], baseline="quarter")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a number"):
        pairwise_affinity([("a/2", 0.5, "a", "low")])
    bad = tmp_path / "bad.csv"
    bad.write_text("net,task,loss\n")
    with pytest.raises(ValueError, match="bad.csv"):  # the selection package's reader
        pairwise_affinity(bad)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        pairwise_affinity(tmp_path / "missing.csv")
