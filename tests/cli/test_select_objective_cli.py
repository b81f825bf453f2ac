"""``mtlgroup select --objective/--weights/--higher-is-better`` (ALGORITHMS §1.5)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from select_helpers import run, run_json

import mtlgroup.cli.select  # noqa: F401  (registers the command)

DATA = Path(__file__).resolve().parents[1] / "data" / "standley2020"
VAL, TEST = (str(DATA / f"setting1_{s}.csv") for s in ("val", "test"))


def losses(path: str) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for row in csv.DictReader(open(path)):
        table.setdefault(row["network"], {})[row["task"]] = float(row["loss"])
    return table


@pytest.mark.parametrize("approx", [None, "hoa"])
def test_relative_json_says_the_objective_and_scores_test_both_ways(approx) -> None:
    extra = ["--approx", approx] if approx else []
    out = run_json(VAL, "--budget", "2", "--objective", "relative", "--score-on", TEST, *extra)
    assert out["objective_kind"] == "relative"
    assert "single-task network" in out["objective_description"]
    val, test = losses(VAL), losses(TEST)
    served = out["served_by"]
    # the objective is in relative units: each served loss over the task's single network's
    if approx is None:
        assert out["objective"] == pytest.approx(sum(val[n][t] / val[t][t]
                                                     for t, n in served.items()))
    assert out["test"]["total"] == pytest.approx(sum(test[n][t] for t, n in served.items()))
    assert out["test_objective"]["total"] == pytest.approx(
        sum(out["test"]["per_task"][t] / test[t][t] for t in served))


def test_raw_output_is_unchanged_and_says_raw() -> None:
    out = run_json(VAL, "--budget", "2", "--score-on", TEST)
    assert out["objective_kind"] == "raw" and "test_objective" not in out
    ones = run_json(VAL, "--budget", "2", "--weights", "depth=1")
    assert (ones["objective"], ones["served_by"]) == (out["objective"], out["served_by"])
    assert ones["objective_description"].endswith("weighted depth=1")


def test_weights_change_the_choice_toward_the_weighted_task() -> None:
    plain = run_json(VAL, "--budget", "1.5", "--objective", "relative")
    heavy = run_json(VAL, "--budget", "1.5", "--objective", "relative",
                     "--weights", "semseg=100")
    val = losses(VAL)
    # with semseg weighing 100, its served loss is at least as good as before
    assert (val[heavy["served_by"]["semseg"]]["semseg"]
            <= val[plain["served_by"]["semseg"]]["semseg"])


def test_a_sweep_prints_the_objective_and_the_test_in_its_units() -> None:
    result = run(VAL, "--budgets", "1:2:0.5", "--objective", "relative", "--score-on", TEST)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("chosen on relative:")
    assert "test (objective)" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--weights", "depth=-2"], "weight of task 'depth'"),
    (["--weights", "height=2"], "unknown task(s) height"),
    (["--objective", "ratio"], "unknown objective 'ratio'"),
    (["--higher-is-better", "depth"], "metric objective"),
])
def test_bad_objectives_are_one_line_and_exit_code_2(args, message) -> None:
    result = run(VAL, "--budget", "2", *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_objective_flags_go_with_a_loss_table(tmp_path: Path) -> None:
    affinity = tmp_path / "a.csv"
    affinity.write_text("source,a,b\na,0,1\nb,1,0\n")
    result = run("--affinity", str(affinity), "--max-groups", "1", "--objective", "relative")
    assert result.exit_code == 2 and "--objective" in result.output
