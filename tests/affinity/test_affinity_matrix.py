"""The Affinity value object: file round trips, conventions, and transforms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtlgroup.affinity import Affinity, plot_affinity, sidecar_path
from mtlgroup.training import TrainResult

TASKS = ("semseg", "depth", "normals")


@pytest.fixture
def affinity() -> Affinity:
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(3, 3)) / 7  # values without a short decimal form
    matrix[2, 0] = np.nan
    history = [(10, matrix * 2), (20, matrix)]
    result = TrainResult(tasks=list(TASKS), val={"depth": {"loss": 0.5}}, test={}, steps=20)
    return Affinity(TASKS, matrix, method="tag", settings={"every": 10, "step": "sgd"},
                    n_probes=2, history=history, extra={"probe_seconds": 1.5}, result=result)


def test_csv_and_sidecar_round_trip_exactly(affinity, tmp_path):
    path = affinity.to_csv(tmp_path / "out" / "affinity.csv")
    back = Affinity.from_csv(path)
    assert back.tasks == TASKS and back.method == "tag" and back.n_probes == 2
    np.testing.assert_array_equal(back.matrix, affinity.matrix)  # bitwise, NaN included
    assert [s for s, _ in back.history] == [10, 20]
    np.testing.assert_array_equal(back.history[0][1], affinity.history[0][1])
    assert back.settings == affinity.settings and back.extra == affinity.extra
    assert back.result is not None and back.result.steps == 20
    json.loads(sidecar_path(path).read_text(), parse_constant=_reject)  # strict JSON


def _reject(token: str):
    raise AssertionError(f"non-standard JSON constant {token}")


def test_rows_are_sources(affinity, tmp_path):
    path = affinity.to_csv(tmp_path / "a.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "source,semseg,depth,normals"
    depth_row = lines[2].split(",")
    assert depth_row[0] == "depth"
    assert float(depth_row[3]) == affinity.get("depth", "normals") == affinity.matrix[1, 2]


def test_transpose_reads_target_major_files(affinity, tmp_path):
    path = affinity.transposed().to_csv(tmp_path / "target_major.csv")
    back = Affinity.from_csv(path, transpose=True)
    np.testing.assert_array_equal(back.matrix, affinity.matrix)
    np.testing.assert_array_equal(back.history[1][1], affinity.history[1][1])


def test_a_bare_csv_with_rows_in_any_order_is_enough(tmp_path):
    path = tmp_path / "paper.csv"
    path.write_text("source,a,b\nb,0.5,1\na,1,-0.25\n")
    back = Affinity.from_csv(path)
    assert back.method == "file" and back.get("a", "b") == -0.25 and back.get("b", "a") == 0.5


@pytest.mark.parametrize(
    "text,message",
    [
        ("task,a,b\na,1,2\nb,3,4\n", "expected a header"),
        ("source,a,a\na,1,2\n", "distinct task names"),
        ("source,a,b\na,1,2\nc,3,4\n", "'c' is not a header task"),
        ("source,a,b\na,1,2\n", "no row for source task"),
        ("source,a,b\na,1,2\nb,3\n", "1 values, expected 2"),
        ("source,a,b\na,1,x\nb,3,4\n", "not a number"),
        ("source,a,b\na,1,2\na,1,2\nb,3,4\n", "appears twice"),
    ],
)
def test_bad_files_are_named_in_the_error(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        Affinity.from_csv(path)
    assert "bad.csv" in str(error.value)


def test_missing_file_and_mismatched_sidecar(affinity, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        Affinity.from_csv(tmp_path / "nope.csv")
    path = affinity.to_csv(tmp_path / "a.csv")
    path.write_text("source,x,y,z\nx,1,2,3\ny,1,2,3\nz,1,2,3\n")
    with pytest.raises(ValueError, match="differ"):
        Affinity.from_csv(path)


def test_pair_scores_ignore_direction_and_follow_the_task_order(affinity):
    scores = affinity.pair_scores()
    assert list(scores) == [("semseg", "depth"), ("semseg", "normals"), ("depth", "normals")]
    flipped = affinity.transposed().pair_scores()
    assert scores.keys() == flipped.keys()
    for pair in scores:
        np.testing.assert_equal(scores[pair], flipped[pair])
    sym = affinity.symmetric()
    np.testing.assert_array_equal(sym.matrix, sym.matrix.T)


def test_normalized_has_unit_self_affinity_where_positive():
    matrix = np.array([[2.0, 0.5, 1.0], [1.0, -1.0, 4.0], [-1.0, 0.25, 0.5]])
    normed = Affinity(("a", "b", "c"), matrix).normalized().matrix
    np.testing.assert_allclose(normed[:, 0], [1.0, 0.5, -0.5])
    np.testing.assert_allclose(normed[:, 2], [2.0, 8.0, 1.0])
    # b's self-affinity is negative: the column is scaled into [-1, 1] instead.
    assert np.abs(normed[:, 1]).max() == 1.0


def test_subset_and_shape_checks(affinity):
    sub = affinity.subset(["normals", "semseg"])
    assert sub.get("semseg", "normals") == affinity.get("semseg", "normals")
    assert sub.history[0][1].shape == (2, 2)
    with pytest.raises(ValueError, match="shape"):
        Affinity(("a", "b"), np.zeros((3, 3)))
    with pytest.raises(KeyError, match="light"):
        affinity.get("light", "depth")


def test_heat_map_is_written(affinity, tmp_path):
    path = plot_affinity(affinity, tmp_path / "heat.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
