"""``mtlgroup select``: the DESIGN.md contract, readable output, and exit code 2 on bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from select_helpers import run, run_json

import mtlgroup.cli.select  # noqa: F401  (registers the command)
from mtlgroup.cli.select import parse_budgets

DATA = Path(__file__).resolve().parents[1] / "data" / "standley2020"
VAL, TEST, EARLY = (str(DATA / f"setting1_{s}.csv") for s in ("val", "test", "early"))
EXPECTED = {(r["method"], float(r["budget"])): r
            for r in csv.DictReader((DATA / "setting1_expected.csv").open())}


def test_one_budget_prints_the_contract_fields() -> None:
    out = run_json(VAL, "--budget", "2", "--score-on", TEST)
    assert set(out) >= {"objective", "cost", "budget", "networks", "served_by", "test"}
    assert out["objective"] == pytest.approx(float(EXPECTED["optimal", 2.0]["selection_score"]))
    assert out["budget"] == 2.0 and out["cost"] <= 2.0
    names = [n["name"] for n in out["networks"]]
    assert set(out["served_by"].values()) == set(names)
    for network in out["networks"]:
        assert set(network) == {"name", "tasks", "cost", "serves"}
        assert set(network["serves"]) <= set(network["tasks"])
    assert set(out["test"]) == {"total", "total_min_rule", "per_task"}
    assert out["test"]["total"] == pytest.approx(sum(out["test"]["per_task"].values()))


def test_budgets_give_one_entry_per_budget_stop_included() -> None:
    out = run_json(VAL, "--budgets", "1:5:0.5")
    assert [o["budget"] for o in out] == [1 + 0.5 * i for i in range(9)]
    objectives = [o["objective"] for o in out]
    assert objectives == sorted(objectives, reverse=True)  # more budget never worse


@pytest.mark.parametrize("method", ["hoa", "esa"])
def test_approximations_report_the_objective_they_optimised(method: str) -> None:
    extra = ["--early", EARLY] if method == "esa" else []
    out = run_json(VAL, "--budgets", "1:5:0.5", "--approx", method, *extra, "--score-on", TEST)
    for entry in out:
        expected = EXPECTED[method, entry["budget"]]
        assert entry["approx"] == method
        assert entry["objective"] == pytest.approx(float(expected["selection_score"]), abs=1e-6)
        tied = [float(v) for v in expected["test_totals_of_tied_solutions"].split("|")]
        assert any(entry["test"]["total_min_rule"] == pytest.approx(v) for v in tied)


@pytest.mark.parametrize("solver", ["milp", "bnb", "dp", "frontier", "brute"])
def test_other_solvers_give_the_same_objective(solver: str) -> None:
    default = run_json(VAL, "--budget", "2.5")
    other = run_json(VAL, "--budget", "2.5", "--solver", solver)
    assert other["solver"] == solver
    assert other["objective"] == pytest.approx(default["objective"])


def test_readable_output_lists_networks_what_they_serve_and_test_totals() -> None:
    result = run(VAL, "--budget", "2", "--score-on", TEST)
    assert result.exit_code == 0
    assert "objective 0.45686" in result.stdout
    assert "semseg+depth+normals" in result.stdout
    assert "honest rule" in result.stdout and "min rule" in result.stdout
    sweep = run(VAL, "--budgets", "1,2")
    assert sweep.exit_code == 0 and "0.50761" in sweep.stdout and "0.45686" in sweep.stdout


def test_plot_writes_an_image(tmp_path: Path) -> None:
    path = tmp_path / "curve.png"
    result = run(VAL, "--budgets", "1:3:1", "--score-on", TEST, "--plot", str(path))
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def write_affinity(tmp_path: Path, text: str) -> str:
    path = tmp_path / "affinity.csv"
    path.write_text(text)
    return str(path)


AFFINITY = "source,a,b,c\na,1,0.5,-0.2\nb,0.4,1,-0.1\nc,-0.3,-0.2,1\n"


def test_affinity_grouping_and_transpose(tmp_path: Path) -> None:
    out = run_json("--affinity", write_affinity(tmp_path, AFFINITY), "--max-groups", "2")
    assert out["served_by"] == {"a": "a+b", "b": "a+b", "c": "b+c"}
    assert out["objective"] == pytest.approx(0.8) and out["max_groups"] == 2
    transposed = "source,a,b,c\na,1,0.4,-0.3\nb,0.5,1,-0.2\nc,-0.2,-0.1,1\n"
    again = run_json("--affinity", write_affinity(tmp_path, transposed), "--max-groups", "2",
                     "--transpose")
    assert again["served_by"] == out["served_by"]
    alone = run_json("--affinity", write_affinity(tmp_path, AFFINITY), "--max-groups", "2",
                     "--allow-singletons")
    assert alone["served_by"]["c"] == "c"


def write_table(tmp_path: Path, text: str) -> str:
    path = tmp_path / "val.csv"
    path.write_text("network,cost,task,loss\n" + text)
    return str(path)


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda p: [VAL, "--budget", "0.9"],
         "infeasible: covering all tasks costs at least 1, budget is 0.9"),
        (lambda p: [write_table(p, "a,1,a,0.3\nb,1,b,x\n"), "--budget", "1"],
         "line 3: loss 'x' is not a number"),
        (lambda p: [write_table(p, "a,1,a,0.3\nb,1,b,nan\n"), "--budget", "1"], "line 3"),
        (lambda p: [write_table(p, "a,1,a,0.3\na,2,b,0.1\n"), "--budget", "1"], "two costs"),
        (lambda p: [write_table(p, "a,-1,a,0.3\n"), "--budget", "1"], "negative cost"),
        (lambda p: [str(p / "missing.csv"), "--budget", "1"], "does not exist"),
        (lambda p: [VAL], "exactly one of --budget"),
        (lambda p: [VAL, "--budget", "1", "--budgets", "1:2:1"], "exactly one of --budget"),
        (lambda p: [VAL, "--budgets", "3:1:1"], "STOP >= START"),
        (lambda p: [VAL, "--budget", "1", "--solver", "magic"], "unknown solver"),
        (lambda p: [VAL, "--budget", "1", "--approx", "magic"], "--approx must be one of"),
        (lambda p: [VAL, "--budget", "1", "--approx", "esa"], "needs --early"),
        (lambda p: [VAL, "--budget", "1", "--score-on", write_table(p, "zz,1,semseg,0.1\n")],
         "no network"),
        (lambda p: ["--affinity", write_affinity(p, AFFINITY)], "needs --max-groups"),
        (lambda p: ["--affinity", write_affinity(p, "source,a,b,c\na,1,2,3\nb,1,2,3\n"),
                    "--max-groups", "1"], "c"),
        (lambda p: ["--affinity", write_affinity(p, "source,a,b\na,1,2\nc,1,2\n"),
                    "--max-groups", "1"], "'c'"),
        (lambda p: [], "give a loss table"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(tmp_path, make_args, message) -> None:
    result = run(*make_args(tmp_path))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    if message == "two costs":
        assert "has cost 2 here but 1" in result.stderr
    else:
        assert message in result.stderr


def test_parse_budgets() -> None:
    assert parse_budgets("1:2:0.1")[-1] == 2.0 and len(parse_budgets("1:2:0.1")) == 11
    assert parse_budgets("1, 2.5") == [1.0, 2.5]


def test_a_sweep_reports_infeasible_budgets_as_entries() -> None:
    out = run_json(VAL, "--budgets", "0.5:1.5:0.5", "--score-on", TEST)
    assert [entry["budget"] for entry in out] == [0.5, 1.0, 1.5]
    assert out[0]["feasible"] is False
    assert out[0]["error"].startswith("infeasible: covering all tasks costs at least 1")
    assert all("networks" in entry and "test" in entry for entry in out[1:])
    table = run(VAL, "--budgets", "0.5:1.5:0.5")
    assert table.exit_code == 0 and "infeasible" in table.output


def test_a_sweep_with_no_feasible_budget_is_an_error() -> None:
    result = run(VAL, "--budgets", "0.2:0.6:0.2")
    assert result.exit_code == 2 and "infeasible" in result.output
