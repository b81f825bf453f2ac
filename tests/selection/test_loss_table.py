"""Loss tables: reading, validation messages (file and line), building problems from rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtlgroup.selection import (
    LossRow,
    LossTable,
    TableError,
    problem_from_rows,
    problem_from_table,
    read_loss_table,
    solve,
)

GOOD = """network,cost,task,loss
a/2,0.5,a,0.31
a+b,1,a,0.3
a+b,1,b,0.5
b,1,b,0.45
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "val.csv"
    path.write_text(text)
    return path


def test_reads_rows_tasks_networks_and_costs(tmp_path: Path) -> None:
    table = read_loss_table(write(tmp_path, GOOD))
    assert table.tasks == ("a", "b")
    assert table.networks == ("a/2", "a+b", "b")
    assert table.cost("a/2") == 0.5
    assert table.losses("a+b") == {"a": 0.3, "b": 0.5}


def test_extra_columns_and_column_order_do_not_matter(tmp_path: Path) -> None:
    text = "loss,task,seed,network,cost\n0.3,a,1,a+b,1\n0.5,b,1,a+b,1\n"
    table = read_loss_table(write(tmp_path, text))
    assert table.rows == (LossRow("a+b", 1.0, "a", 0.3), LossRow("a+b", 1.0, "b", 0.5))


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    table = read_loss_table(write(tmp_path, GOOD))
    again = read_loss_table(table.write_csv(tmp_path / "copy.csv"))
    assert again.rows == table.rows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("network,cost,task\na,1,a\n", "missing column(s) loss"),
        (GOOD + "c,1,c,abc\n", "line 6: loss 'abc' is not a number"),
        (GOOD + "c,1,c,nan\n", "line 6: loss is 'nan'"),
        (GOOD + "c,1,c,inf\n", "line 6: loss is 'inf'"),
        (GOOD + "c,x,c,0.1\n", "line 6: cost 'x' is not a number"),
        (GOOD + "a+b,2,c,0.1\n", "line 6: network 'a+b' has cost 2 here but 1 at"),
        (GOOD + "c,-1,c,0.1\n", "line 6: negative cost -1 for network 'c'"),
        (GOOD + "b,1,b,0.4\n", "line 6: network 'b' lists task 'b' twice (first at"),
        (GOOD + "c,1\n", "line 6: 2 fields, expected 4"),
        (GOOD + ",1,c,0.1\n", "line 6: empty network name"),
        ("network,cost,task,loss\n", "the table has no rows"),
        ("", "empty file"),
    ],
)
def test_bad_tables_name_the_file_line_and_problem(tmp_path: Path, text: str, expected) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TableError) as error:
        read_loss_table(path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_a_table_error_is_a_value_error() -> None:
    assert issubclass(TableError, ValueError)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_loss_table(tmp_path / "nope.csv")


def test_rows_from_a_store_tuples_mappings_and_nested_dicts_give_one_table() -> None:
    tuples = LossTable.from_rows([("a+b", 1, "a", 0.3), ("a+b", 1, "b", 0.5)])
    mappings = LossTable.from_rows([{"network": "a+b", "cost": 1, "task": "a", "loss": 0.3},
                                    {"network": "a+b", "cost": 1, "task": "b", "loss": 0.5}])
    nested = LossTable.from_losses({"a+b": {"a": 0.3, "b": 0.5}}, {"a+b": 1.0})
    assert tuples.rows == mappings.rows == nested.rows


def test_rows_are_validated_with_their_row_number() -> None:
    with pytest.raises(TableError, match=r"store, row 2: negative cost"):
        LossTable.from_rows([("a", 1, "a", 0.3), ("b", -1, "b", 0.5)], source="store")
    with pytest.raises(TableError, match="no cost for network"):
        LossTable.from_losses({"a": {"a": 0.1}}, {})


def test_every_network_of_the_table_is_a_candidate_and_every_task_must_be_served(tmp_path):
    problem = problem_from_table(read_loss_table(write(tmp_path, GOOD)), budget=1.5)
    assert [c.name for c in problem.candidates] == ["a/2", "a+b", "b"]
    assert problem.tasks == ("a", "b")
    assert solve(problem).names == ("a/2", "b")


def test_problem_from_rows_needs_no_file() -> None:
    problem = problem_from_rows([("a", 1, "a", 0.3), ("b", 1, "b", 0.5)], budget=2)
    assert solve(problem).served_by == {"a": "a", "b": "b"}
