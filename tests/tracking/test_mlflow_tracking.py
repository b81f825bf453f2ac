"""A tiny pipeline logs to MLflow's default SQLite store (no server), read back with
``MlflowClient``: one run per training named by its network, every step's losses, every
validation's scores, and the pipeline's run with the trade-off table and the report."""

from __future__ import annotations

import csv
import json

import pytest

from mtlgroup.pipeline import run_pipeline
from mtlgroup.study import StudyStore
from mtlgroup.tracking import finish_on_error, prepare_track, resolve_track, tracking_callbacks
from mtlgroup.training import TrainConfig, Trainer
from mtlgroup.training.callbacks import Callback
from pipeline.pipeline_helpers import tiny_settings
from tiny_fixtures import TinyNet

mlflow_tracking = pytest.importorskip("mlflow.tracking")
# MLflow's SQLAlchemy store uses a loader strategy SQLAlchemy deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy")

STEPS, EVAL_EVERY = 4, 2


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A cs run (one joint affinity job, then the chosen networks) tracked with MLflow."""
    out = tmp_path_factory.mktemp("mlflow-run")
    settings = tiny_settings(estimator="cs", budgets=[2.0], baseline_budgets=[])
    settings.training.max_steps, settings.training.eval_every = STEPS, EVAL_EVERY
    settings.track = "mlflow"
    messages: list[str] = []
    report = run_pipeline(settings, out, echo=messages.append)
    client = mlflow_tracking.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mtlgroup")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    with StudyStore(out / "study.sqlite") as store:
        done = store.jobs("done")
    return out, report, messages, client, runs, done


def test_one_finished_run_per_training_named_by_its_network(logged):
    _, report, _, _, runs, done = logged
    networks = {r.network for r in done if r.is_network}
    joint = {f"{r.network} (cs affinity)" for r in done if not r.is_network}
    assert len(joint) == 1 and networks
    assert set(runs) == networks | joint | {f"pipeline ({report.estimator})"}
    assert len(runs) == len(done) + 1  # names are unique: no training logged twice
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    for record in done:
        params = runs[record.network if record.is_network else next(iter(joint))].data.params
        assert params["tasks"] == ",".join(record.candidate.tasks)
        assert params["job_key"] == record.key and params["training.max_steps"] == str(STEPS)


def test_every_step_and_every_validation_is_logged(logged):
    _, _, _, client, runs, done = logged
    for record in done:
        name = record.network if record.is_network else f"{record.network} (cs affinity)"
        run_id = runs[name].info.run_id

        def steps(key: str, run_id: str = run_id) -> list[int]:
            return sorted(m.step for m in client.get_metric_history(run_id, key))

        assert record.outcome.steps == STEPS
        assert steps("loss/total") == list(range(1, STEPS + 1))
        for task in record.candidate.tasks:
            assert steps(f"loss/{task}") == list(range(1, STEPS + 1))
            assert steps(f"val/{task}/loss") == [EVAL_EVERY, 2 * EVAL_EVERY]
        # the final test scores are the store's (the restored best-validation weights)
        metrics = runs[name].data.metrics
        for task in record.candidate.tasks:
            assert metrics[f"test/{task}/loss"] == pytest.approx(
                record.outcome.scores["test"][task]["loss"])


def test_the_pipeline_run_has_the_tradeoff_table_and_the_report(logged, tmp_path):
    out, report, _, client, runs, _ = logged
    run = runs[f"pipeline ({report.estimator})"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"tradeoff.csv", "report.html", "report.json", "curve.png"} <= artifacts
    rows = json.loads((out / "stages" / "evaluate.json").read_text())["rows"]
    table = client.download_artifacts(run.info.run_id, "tradeoff.csv", str(tmp_path))
    with open(table, newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [float(r["budget"]) for r in written] == [r["budget"] for r in rows]
    assert written[0]["networks"] == "; ".join(rows[0]["networks"])
    assert run.data.metrics["test_total/budget_2"] == pytest.approx(rows[0]["test_total"])
    assert run.data.params["estimator"] == "cs"


def test_the_run_says_where_the_store_is_and_how_to_open_it(logged):
    out, _, messages, _, _, _ = logged
    assert (out / "mlflow.db").is_file()
    assert any(f"mlflow ui --backend-store-uri sqlite:///{out / 'mlflow.db'}" in m
               for m in messages)


class _FailAt(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, state) -> None:
        if state.step == self.step:
            raise FloatingPointError("diverged")


def test_a_training_that_raises_leaves_a_failed_run_with_its_steps(logged, tiny_data):
    out, _, _, client, _, _ = logged
    track = resolve_track({"kind": "mlflow", "uri": f"sqlite:///{out / 'mlflow.db'}",
                           "experiment": "failures"}, out)
    prepare_track(track)
    callbacks = tracking_callbacks(track, "bright+parity")
    with pytest.raises(FloatingPointError), finish_on_error(callbacks):
        Trainer(TrainConfig(max_steps=STEPS, batch_size=16, device="cpu"),
                [*callbacks, _FailAt(2)]).fit(TinyNet(("bright", "parity")), tiny_data)
    experiment = client.get_experiment_by_name("failures")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "bright+parity" and run.info.status == "FAILED"
    assert len(client.get_metric_history(run.info.run_id, "loss/total")) == 2
