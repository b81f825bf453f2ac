"""The ``scenes`` dataset: tasks, loader, cache (roundtrip, atomic writes, corruption), registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mtlgroup.data import registry, render, scenes
from mtlgroup.data.base import TensorSplit

SMALL = {"n_train": 6, "n_val": 3, "n_test": 2, "size": 16, "seed": 1}


def cache_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def forbid_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("rendered although the cache holds the data")

    monkeypatch.setattr(scenes.render, "render_scenes", fail)


def test_tasks_and_task_sets() -> None:
    tasks = scenes.scenes_tasks()
    assert len(tasks) == 10
    assert set(scenes.TASK_SET_1) <= set(tasks.names) and set(scenes.TASK_SET_2) <= set(tasks.names)
    assert len(scenes.TASK_SET_1) == len(scenes.TASK_SET_2) == 5
    assert tasks["semseg"].loss == "cross_entropy" and tasks["semseg"].channels == 6
    assert all(t.loss == "l1" for t in tasks if t.name != "semseg")
    assert tasks["light"].kind == "vector" and tasks["light"].channels == 3
    assert "angle_deg" in [m.name for m in tasks["normals"].metrics]


def test_load_scenes_returns_tensor_splits_matching_the_tasks(tmp_path: Path) -> None:
    data = scenes.load_scenes(**SMALL, cache_dir=tmp_path)
    assert data.name == "scenes" and data.input_shape == (3, 16, 16)
    assert data.spec == {"name": "scenes", **SMALL,
                         "generator_version": scenes.GENERATOR_VERSION}
    for split, n in (("train", 6), ("val", 3), ("test", 2)):
        part = data.split(split)
        assert isinstance(part, TensorSplit) and len(part) == n
        assert set(part.targets) == set(data.tasks.names)
        assert part.inputs.dtype == torch.float16
        assert part.targets["autoencoder"] is part.inputs  # shared, not copied
    batch = next(data.train.batches(4))
    assert batch.inputs.dtype == torch.float32 and batch.inputs.shape == (4, 3, 16, 16)
    for task in data.tasks:
        target = batch.targets[task.name]
        if task.name == "semseg":
            assert target.dtype == torch.int64 and target.shape == (4, 16, 16)
            assert 0 <= int(target.min()) and int(target.max()) < task.channels
        elif task.kind == "dense":
            assert target.dtype == torch.float32 and target.shape == (4, task.channels, 16, 16)
        else:
            assert target.shape == (4, task.channels)
        # the task's own loss accepts a prediction of the target's shape
        pred = torch.zeros(4, task.channels, 16, 16) if task.kind == "dense" else torch.zeros(
            4, task.channels)
        assert torch.isfinite(task.masked_loss(pred, target))


def test_cache_roundtrip_reads_the_file_instead_of_rendering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = scenes.load_scenes(**SMALL, cache_dir=tmp_path)
    files = cache_files(tmp_path)
    assert [p.suffix for p in files] == [".npz"] * 3
    forbid_rendering(monkeypatch)
    again = scenes.load_scenes(**SMALL, cache_dir=tmp_path)
    for name in first.tasks.names:
        assert torch.equal(first.test.targets[name], again.test.targets[name])
    assert cache_files(tmp_path) == files


def test_cache_key_changes_with_params_and_generator_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = scenes.split_cache_path(tmp_path, "train", 10, 32, 0)
    assert path == scenes.split_cache_path(tmp_path, "train", 10, 32, 0)
    variants = [("val", 10, 32, 0), ("train", 11, 32, 0), ("train", 10, 64, 0),
                ("train", 10, 32, 1)]
    others = {scenes.split_cache_path(tmp_path, *args) for args in variants}
    assert path not in others and len(others) == 4
    monkeypatch.setattr(scenes, "GENERATOR_VERSION", scenes.GENERATOR_VERSION + 1)
    assert scenes.split_cache_path(tmp_path, "train", 10, 32, 0) != path


def test_cache_location_env_var_and_argument(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(scenes.CACHE_ENV, raising=False)
    assert scenes.cache_root() == Path.home() / ".cache" / "mtlgroup"
    monkeypatch.setenv(scenes.CACHE_ENV, str(tmp_path / "env"))
    assert scenes.cache_root() == tmp_path / "env"
    assert scenes.cache_root(tmp_path / "arg") == tmp_path / "arg"
    scenes.load_scenes(**SMALL)
    assert len(cache_files(tmp_path / "env")) == 3


def test_interrupted_write_leaves_no_cache_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real_savez = np.savez

    def interrupted(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(scenes.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scenes.load_scenes(**SMALL, cache_dir=tmp_path)
    assert cache_files(tmp_path) == []  # neither a partial file nor a temporary one
    monkeypatch.setattr(scenes.np, "savez", real_savez)
    assert len(scenes.load_scenes(**SMALL, cache_dir=tmp_path).train) == SMALL["n_train"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_shape"])
def test_corrupt_cache_is_regenerated_with_a_warning(tmp_path: Path, damage: str) -> None:
    reference = scenes.scenes_split_arrays("val", 3, size=16, seed=1, cache_dir=tmp_path)
    path = scenes.split_cache_path(tmp_path, "val", 3, 16, 1)
    if damage == "garbage":
        path.write_bytes(b"not a numpy file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        np.savez(path, **{k: v[:2] for k, v in reference.items()})
    with pytest.warns(RuntimeWarning, match="unreadable"):
        regenerated = scenes.scenes_split_arrays("val", 3, size=16, seed=1, cache_dir=tmp_path)
    for key, values in reference.items():
        assert np.array_equal(values, regenerated[key])
    # the file was rewritten and is good again
    again = scenes.scenes_split_arrays("val", 3, size=16, seed=1, cache_dir=tmp_path)
    assert np.array_equal(again["rgb"], reference["rgb"])


def test_split_sizes_do_not_change_earlier_images(tmp_path: Path) -> None:
    small = scenes.load_scenes(**SMALL, cache_dir=tmp_path)
    larger = scenes.load_scenes(**{**SMALL, "n_train": 8, "n_val": 5}, cache_dir=tmp_path)
    assert torch.equal(small.train.inputs, larger.train.inputs[:6])
    assert torch.equal(small.val.targets["depth"], larger.val.targets["depth"][:3])
    # the splits are different images
    assert not torch.equal(small.train.inputs[:2], small.val.inputs[:2])


def test_size_64_loads(tmp_path: Path) -> None:
    data = scenes.load_scenes(n_train=2, n_val=1, n_test=1, size=64, cache_dir=tmp_path)
    assert data.input_shape == (3, 64, 64)
    assert data.train.targets["curvature"].shape == (2, 2, 64, 64)


@pytest.mark.parametrize(("field", "value"), [("n_train", 0), ("n_val", -1), ("size", 4),
                                              ("seed", -2), ("size", 32.0)])
def test_bad_parameters_name_the_field(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        scenes.load_scenes(**{**SMALL, field: value}, cache_dir=tmp_path)


def test_registry_lists_scenes_with_its_tasks(tmp_path: Path) -> None:
    assert "scenes" in registry.available_datasets()
    entry = registry.dataset_entry("scenes")
    assert entry.tasks().names == scenes.scenes_tasks().names
    assert entry.task_sets == {"1": scenes.TASK_SET_1, "2": scenes.TASK_SET_2}
    data = registry.load_dataset("scenes", n_train=2, n_val=1, n_test=1, size=16,
                                 cache_dir=tmp_path)
    assert data.tasks.names == entry.tasks().names


def test_preview_is_written(tmp_path: Path) -> None:
    path = scenes.save_preview(tmp_path / "preview.png", n=2, size=16)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rendered_classes_cover_every_class_in_a_modest_sample() -> None:
    semseg = render.render_scenes(16, size=16, seed=9)["semseg"]
    assert set(np.unique(semseg)) == set(range(len(render.CLASS_NAMES)))
