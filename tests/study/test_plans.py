from __future__ import annotations

import itertools
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtlgroup.study.plans import (
    ESA_FRACTION,
    Candidate,
    parse_candidate,
    parse_candidates,
    plan_candidates,
)

NAMES = ["semseg", "depth", "normals", "keypoints", "edges2d", "x6"]
task_lists = st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True)


@pytest.mark.parametrize("n", range(1, 7))
def test_plan_sizes_match_the_paper(n):
    tasks = NAMES[:n]
    assert len(plan_candidates("all", tasks)) == 2**n - 1 + n
    # ALGORITHMS §1.1: n(n+1)/2 singles and pairs; the n half-size singles come on top.
    assert len(plan_candidates("pairs", tasks)) == n * (n + 1) // 2 + n
    assert len(plan_candidates("esa", tasks)) == 2**n - 1 + n


@given(task_lists)
def test_all_is_every_subset_plus_half_singles(tasks):
    plan = plan_candidates("all", tasks)
    full = {frozenset(c.tasks) for c in plan if c.size == 1.0}
    expected = {frozenset(s) for k in range(1, len(tasks) + 1)
                for s in itertools.combinations(tasks, k)}
    assert full == expected
    assert {c.tasks for c in plan if c.size != 1.0} == {(t,) for t in tasks}
    assert all(c.size == 0.5 for c in plan if c.size != 1.0)
    assert len({c.name for c in plan}) == len(plan)


@given(task_lists)
def test_pairs_is_the_part_of_all_with_at_most_two_tasks(tasks):
    pairs = plan_candidates("pairs", tasks)
    assert set(pairs) == {c for c in plan_candidates("all", tasks) if len(c.tasks) <= 2}


@given(task_lists)
def test_esa_is_all_at_a_fifth_of_the_budget(tasks):
    esa = plan_candidates("esa", tasks)
    assert [c.with_budget(1.0) for c in esa] == plan_candidates("all", tasks)
    assert {c.budget_fraction for c in esa} == {ESA_FRACTION}
    assert [c.name for c in esa] == [c.name for c in plan_candidates("all", tasks)]


@given(task_lists)
def test_tasks_follow_the_given_order(tasks):
    for candidate in plan_candidates("all", tasks):
        positions = [tasks.index(t) for t in candidate.tasks]
        assert positions == sorted(positions)


@given(task_lists, st.one_of(st.sampled_from([1.0, 0.5, 0.25, 2.0]),
                             st.floats(0.01, 16.0, allow_nan=False)))
def test_names_parse_back_to_the_same_candidate(tasks, size):
    candidate = Candidate(tuple(tasks), size)
    assert parse_candidate(candidate.name) == candidate


def test_naming_convention():
    assert Candidate(("semseg", "depth")).name == "semseg+depth"
    assert Candidate(("normals",), 0.5).name == "normals/2"
    assert Candidate(("semseg", "depth"), 0.5).name == "semseg+depth@0.5"
    assert Candidate(("depth",), 0.25).name == "depth@0.25"
    assert Candidate(("depth",), 1 / 3).name == f"depth@{1 / 3!r}"
    assert parse_candidate("depth@0.5").name == "depth/2"


def test_parse_candidates_keeps_order_and_drops_duplicates():
    parsed = parse_candidates(["b+a", "c/2", "b+a", " a "])
    assert [c.name for c in parsed] == ["b+a", "c/2", "a"]


def test_ordered_sorts_by_dataset_order_and_rejects_unknown_tasks():
    assert Candidate(("c", "a")).ordered(["a", "b", "c"]).tasks == ("a", "c")
    with pytest.raises(ValueError, match="unknown task 'z'"):
        Candidate(("z",)).ordered(["a", "b"])


@pytest.mark.parametrize(
    "name,message",
    [
        ("a+b/2", "'/2' names a single-task network"),
        ("a@big", "size after '@' must be a number"),
        ("a++b", "expected tasks joined by '+'"),
        ("a+a", "twice"),
        ("a@0", "size must be > 0"),
    ],
)
def test_bad_names_say_what_is_wrong(name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_candidate(name)


def test_bad_plans_and_candidates():
    with pytest.raises(ValueError, match="unknown plan 'every'; available: all, pairs, esa"):
        plan_candidates("every", ["a"])
    with pytest.raises(ValueError, match="task listed twice: a"):
        plan_candidates("all", ["a", "a"])
    with pytest.raises(ValueError, match="budget_fraction"):
        Candidate(("a",), budget_fraction=0.0)
    with pytest.raises(ValueError, match="empty"):
        parse_candidates([])
    assert math.isclose(ESA_FRACTION, 0.2)
