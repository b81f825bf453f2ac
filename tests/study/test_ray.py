"""The Ray executor on a local Ray cluster (Ray is a dev dependency: this runs in `make test`).

Starting a cluster costs most of a Ray test's time, so one test runs every Ray study on one
executor: the synthetic study with a failing job, then a user's dataset and model by import
path (the case of :mod:`test_user_data_and_model`); then it checks the cluster is gone.
"""

from __future__ import annotations

import ray
from study_helpers import TINY_DATA, TINY_TRAINING
from test_user_data_and_model import study as user_study

from mtlgroup.study import RayExecutor, Study, run_job


def test_studies_run_on_one_local_ray_cluster_which_close_stops(tmp_path):
    executor = RayExecutor(workers=2, object_store_memory=100 * 1024**2)
    try:
        a_failing_job_is_recorded_and_the_others_match_this_process(tmp_path / "a", executor)
        assert ray.is_initialized() and executor.capacity == 2
        a_users_data_and_model_match_a_local_run(tmp_path / "b", executor)
    finally:
        executor.close()
    assert not ray.is_initialized()  # the cluster it started is gone


def a_failing_job_is_recorded_and_the_others_match_this_process(path, executor):
    # A NaN loss weight makes every network carrying 'parity' fail with a NaN loss.
    path.mkdir()
    config = {**TINY_TRAINING, "loss_weights": {"parity": float("nan")}}
    with Study(path / "study.sqlite", "synthetic", TINY_DATA, ["bright", "parity"], config,
               device="cpu") as study:
        specs = study.add_plan(["bright", "parity", "bright/2"])
        summary = study.run(executor, progress=False)
        assert summary.done == 2
        assert [f.network for f in summary.failed] == ["parity"]
        assert summary.failed[0].summary.startswith("NonFiniteLossError: loss of task 'parity'")
        records = {r.network: r for r in study.records()}
        assert records["parity"].status == "failed" and "Traceback" in records["parity"].error
        # A Ray worker (one thread) computes what this process computes with one thread.
        for spec in specs[0], specs[2]:
            assert records[spec.network].outcome.scores == run_job(spec).scores


def a_users_data_and_model_match_a_local_run(path, executor):
    path.mkdir()
    with user_study(path) as s:
        specs = s.add_plan(["up+also_up", "odd"])
        summary = s.run(executor, progress=False)
        assert summary.ok and summary.done == 2, summary.format()
        records = {r.network: r for r in s.records()}
        assert records["odd"].outcome.scores == run_job(specs[1]).scores
