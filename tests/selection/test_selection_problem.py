"""The problem and solution value objects, and import hygiene."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from mtlgroup.selection import Candidate, SelectionError, SelectionProblem, solve


def make(**changes):
    fields = {
        "tasks": ("a", "b"),
        "candidates": (Candidate("a", 1, {"a": 0.3}), Candidate("a+b", 1, {"a": 0.4, "b": 0.2})),
        "budget": 2.0,
    }
    fields.update(changes)
    return SelectionProblem(**fields)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tasks": ()}, "at least one task"),
        ({"tasks": ("a", "a", "b")}, "task names repeat"),
        ({"budget": -1.0}, "budget must be a number >= 0"),
        ({"budget": math.nan}, "budget must be a number >= 0"),
        ({"sense": "up"}, "sense must be"),
        ({"candidates": (Candidate("a", 1, {"a": 0.3}), Candidate("a", 1, {"b": 0.3}))},
         "listed twice"),
        ({"candidates": (Candidate("a", -1, {"a": 0.3}), Candidate("b", 1, {"b": 0.3}))},
         "cost must be a finite number >= 0"),
        ({"candidates": (Candidate("a", 1, {"a": 0.3}), Candidate("x", 1, {"x": 0.3}))},
         "task 'x' is not one of"),
        ({"candidates": (Candidate("a", 1, {"a": 0.3}), Candidate("b", 1, {"b": math.inf}))},
         "value of task 'b' is inf"),
        ({"candidates": (Candidate("a", 1, {"a": 0.3}),)}, "no candidate network carries task"),
        ({"candidates": (Candidate("a", 1, {}),)}, "carries no task"),
    ],
)
def test_bad_problems_say_what_is_wrong(changes, message: str) -> None:
    with pytest.raises(SelectionError, match=message):
        make(**changes)


def test_solution_fields_match_the_cli_contract() -> None:
    solution = solve(make(budget=2.0))
    assert solution.to_dict() == {
        "objective": pytest.approx(0.5),
        "cost": 2.0,
        "budget": 2.0,
        "networks": [
            {"name": "a", "tasks": ["a"], "cost": 1.0, "serves": ["a"]},
            {"name": "a+b", "tasks": ["a", "b"], "cost": 1.0, "serves": ["b"]},
        ],
        "served_by": {"a": "a", "b": "a+b"},
        "gap": 0.0,  # an exact solver's answer is proven optimal
    }


def test_with_budget_changes_only_the_budget() -> None:
    problem = make()
    other = problem.with_budget(1.0)
    assert other.budget == 1.0 and other.candidates == problem.candidates
    assert solve(other).names == ("a+b",)


def test_unknown_candidate_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no candidate network named 'zz'"):
        make().candidate("zz")


def test_importing_selection_does_not_import_torch() -> None:
    code = ("import sys, mtlgroup.selection, mtlgroup.selection.solvers; "
            "print('torch' in sys.modules, 'scipy.optimize' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
