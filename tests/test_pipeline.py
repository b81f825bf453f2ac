from __future__ import annotations

import json

import pytest

from mtlgroup.config import Settings
from mtlgroup.cost import CostModel
from mtlgroup.data import load_dataset
from mtlgroup.pipeline import run_pipeline
from mtlgroup.study import Study
from mtlgroup.study.plans import parse_candidate

DATA = {"n_train": 48, "n_val": 16, "n_test": 16, "size": 8}
TRAIN = {"max_steps": 3, "batch_size": 16}


def settings(**pipeline) -> Settings:
    return Settings.model_validate({
        "data": {"dataset": "synthetic", **DATA},
        "training": {**TRAIN, "device": "cpu"},
        "study": {"executor": "inline"},
        "pipeline": {"budgets": [1.0, 2.0, 3.0], "baseline_budgets": [2.0], **pipeline},
    })


@pytest.fixture(scope="module")
def hoa_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hoa")
    return out, run_pipeline(settings(), out, echo=lambda _: None)


def test_run_writes_every_artefact(hoa_run):
    out, report = hoa_run
    for name in ("report.html", "report.json", "curve.png", "affinity.png", "study.sqlite",
                 "tables/val.csv", "tables/test.csv", "tables/early.csv"):
        assert (out / name).exists(), name
    saved = json.loads((out / "report.json").read_text())
    assert [row["budget"] for row in saved["rows"]] == [1.0, 2.0, 3.0]
    html = (out / "report.html").read_text()
    assert "curve.png" in html and "affinity.png" in html


def test_the_loss_tables_keep_the_baselines_apart(hoa_run):
    """tables/ holds the candidates (so a selection on it never picks a network scaled to a
    budget); tables/baselines/ holds the baselines, and only them."""
    out, _ = hoa_run
    baselines = json.loads((out / "stages" / "baselines.json").read_text())["budgets"]
    names = {parse_candidate(n).name for plan in baselines
             for n in (plan["all_task"], *plan["independent"].values())}

    def networks(path):
        return {parse_candidate(line.split(",")[0]).name
                for line in path.read_text().splitlines()[1:]}

    candidates = networks(out / "tables" / "val.csv")
    assert networks(out / "tables" / "baselines" / "val.csv") == names
    assert not any("@" in n for n in candidates)  # the pairs study: sizes 1 and 1/2 only
    assert candidates.isdisjoint(n for n in names if "@" in n)


def test_each_feasible_row_fits_its_budget_and_is_scored_honestly(hoa_run):
    out, report = hoa_run
    data = load_dataset("synthetic", **DATA)
    costs = CostModel(data.tasks, data.input_shape)
    with Study(out / "study.sqlite", "synthetic", DATA, None, TRAIN) as study:
        test = {parse_candidate(n).name: v for n, v in study.losses("test").items()}
    feasible = [row for row in report.rows if row.feasible]
    assert feasible
    for row in feasible:
        spent = sum(costs.cost(parse_candidate(n).tasks, parse_candidate(n).size)
                    for n in row.networks)
        assert spent <= row.budget + 1e-9 and row.cost == pytest.approx(spent)
        assert set(row.served_by) == set(data.tasks.names)
        # Honest rule: each task read from the network chosen for it on validation.
        expected = sum(test[parse_candidate(n).name][t] for t, n in row.served_by.items())
        assert row.test_total == pytest.approx(expected)
        assert row.test_total_min_rule <= row.test_total + 1e-12


def test_infeasible_budget_is_reported_not_raised(hoa_run):
    _, report = hoa_run
    first = report.rows[0]
    assert not first.feasible and "covering all tasks costs at least" in first.note


def test_baselines_cost_at_most_the_budget_and_close_to_it(hoa_run):
    out, report = hoa_run
    row = next(r for r in report.rows if r.budget == 2.0)
    assert row.all_task_total is not None and row.independent_total is not None
    assert row.best in ("chosen", "all-task", "independent")
    data = load_dataset("synthetic", **DATA)
    costs = CostModel(data.tasks, data.input_shape)
    with Study(out / "study.sqlite", "synthetic", DATA, None, TRAIN) as study:
        networks = [r.candidate for r in study.store.jobs("done")]
    all_task = [c for c in networks if len(c.tasks) == 4 and c.size != 1.0]
    singles = [c for c in networks if len(c.tasks) == 1 and c.size not in (0.5, 1.0)]
    assert len(all_task) == 1 and len(singles) == 4
    assert 0.9 * 2.0 <= costs.cost(all_task[0].tasks, all_task[0].size) <= 2.0
    spent = sum(costs.cost(c.tasks, c.size) for c in singles)
    assert 0.9 * 2.0 <= spent <= 2.0


def test_rerun_trains_nothing_again(hoa_run):
    out, report = hoa_run
    again = run_pipeline(settings(), out, echo=lambda _: None)
    assert again.trainings == report.trainings
    with Study(out / "study.sqlite", "synthetic", DATA, None, TRAIN) as study:
        assert all(r.completions == 1 for r in study.store.jobs("done"))
    assert [r.test_total for r in again.rows] == [r.test_total for r in report.rows]


def test_raising_the_budget_never_worsens_the_selection_score(hoa_run):
    _, report = hoa_run
    scores = [row.objective for row in report.rows if row.feasible]
    assert all(b <= a + 1e-12 for a, b in zip(scores, scores[1:], strict=False))


@pytest.mark.parametrize("bad,message", [({"estimator": "magic"}, "unknown estimator"),
                                         ({"budgets": [0.0]}, "positive"),
                                         ({"solver": "guess"}, "unknown solver 'guess'")])
def test_bad_settings_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        settings(**bad)


def test_tag_estimator_runs_end_to_end_and_reuses_its_joint_run(tmp_path):
    tag = settings(estimator="tag", budgets=[2.0, 3.0], baseline_budgets=[])
    messages: list[str] = []
    report = run_pipeline(tag, tmp_path, echo=messages.append)
    assert (tmp_path / "affinity.csv").exists()
    feasible = [row for row in report.rows if row.feasible]
    assert feasible
    for row in feasible:
        assert all(len(parse_candidate(n).tasks) >= 2 for n in row.networks)
        assert row.test_total is not None and row.cost <= row.budget + 1e-9
    assert report.trainings >= 2 and any("one joint training" in m for m in messages)
    messages.clear()
    again = run_pipeline(tag, tmp_path, echo=messages.append)
    assert any("reusing the joint tag run" in m for m in messages)
    assert [r.networks for r in again.rows] == [r.networks for r in report.rows]
    assert again.training_seconds == pytest.approx(report.training_seconds)
