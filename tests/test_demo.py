"""The demo's settings for each built-in dataset (the runs themselves: the smoke test in
tests/cli/test_run_cli.py, and bench/fashion_pipeline.py)."""

from __future__ import annotations

import pytest

from mtlgroup.data.fashion import fashion_available
from mtlgroup.demo import DEMO_TASKS, demo_settings


def test_scenes_demo_groups_task_set_1_at_32_pixels():
    settings = demo_settings("scenes", quick=True, model=None)
    assert settings.data.task_names() == DEMO_TASKS["scenes"]
    assert settings.data.loader_options()["size"] == 32 and settings.model is None


@pytest.mark.skipif(not fashion_available(),
                    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
def test_fashion_demo_groups_its_demo_set_at_native_size():
    settings = demo_settings("fashion", estimator="tag", executor="ray", workers=3)
    assert settings.data.task_names() == ["class", "category", "edges", "keypoints",
                                          "reconstruction", "bbox"]
    assert "size" not in settings.data.loader_options()  # 28 px, not upscaled
    assert (settings.pipeline.estimator, settings.study.executor, settings.study.workers) == (
        "tag", "ray", 3)


def test_an_unknown_demo_dataset_is_named():
    with pytest.raises(ValueError, match="unknown demo dataset 'table'; expected one of"):
        demo_settings("table")
