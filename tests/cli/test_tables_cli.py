"""Tables printed where stdout is not a terminal (a log, a pipe) keep network names whole, and
the best value of a row is marked in plain text (a `*`), not only in bold."""

from __future__ import annotations

from types import SimpleNamespace

from mtlgroup.cli.app import LOG_WIDTH, stdout_console
from mtlgroup.cli.run import print_tradeoff
from mtlgroup.pipeline.rows import BudgetRow

LONG = ["semseg+depth+normals+keypoints+edges", "occlusion+reshading+curvature/2",
        "principal_curvature+segment_unsup2d+autoencoder"]


def test_a_log_gets_a_wide_console(capsys) -> None:
    assert stdout_console().width == LOG_WIDTH  # pytest's stdout is captured: no terminal


def test_tradeoff_table_keeps_names_whole_and_marks_the_best(capsys) -> None:
    rows = [BudgetRow(3.0, True, networks=LONG, cost=2.9, test_total=0.8, all_task_total=0.9,
                      independent_total=0.85),
            BudgetRow(0.5, False, note="below the cheapest cover")]
    report = SimpleNamespace(dataset="scenes", estimator="hoa", rows=rows, trainings=4,
                             training_seconds=12.0, wall_seconds=20.0)
    print_tradeoff(report, stdout_console())
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.lstrip("│┃ ").startswith("3 "))
    assert ", ".join(LONG) in row
    assert "0.8000*" in row and "0.9000*" not in row and "0.8500*" not in row
    assert "* lowest test total at that budget" in out.splitlines()
