"""The Ray executor on a local Ray cluster (Ray is a dev dependency: this runs in `make test`)."""

from __future__ import annotations

import ray
from study_helpers import TINY_DATA, TINY_TRAINING

from mtlgroup.study import RayExecutor, Study, run_job


def test_a_study_runs_on_a_local_ray_cluster(tmp_path):
    # A NaN loss weight makes every network carrying 'parity' fail with a NaN loss.
    config = {**TINY_TRAINING, "loss_weights": {"parity": float("nan")}}
    with Study(tmp_path / "study.sqlite", "synthetic", TINY_DATA, ["bright", "parity"], config,
               device="cpu") as study:
        specs = study.add_plan(["bright", "parity", "bright/2"])
        executor = RayExecutor(workers=2, object_store_memory=100 * 1024**2)
        try:
            summary = study.run(executor, progress=False)
            assert ray.is_initialized() and executor.capacity == 2
        finally:
            executor.close()
        assert not ray.is_initialized()  # the cluster it started is gone
        assert summary.done == 2
        assert [f.network for f in summary.failed] == ["parity"]
        assert summary.failed[0].summary.startswith("NonFiniteLossError: loss of task 'parity'")
        records = {r.network: r for r in study.records()}
        assert records["parity"].status == "failed" and "Traceback" in records["parity"].error
        # A Ray worker (one thread) computes what this process computes with one thread.
        for spec in specs[0], specs[2]:
            assert records[spec.network].outcome.scores == run_job(spec).scores
