"""The ``fashion`` dataset: file reading, sampling, exact labels, errors, registry, training.

Tests marked ``needs_files`` read the real Fashion-MNIST files (``apt-get install
dataset-fashion-mnist``) and are skipped without them; the others use tiny IDX files written here,
so the error messages, the parser, the sampling and the preview are checked everywhere.
"""

from __future__ import annotations

import doctest
import gzip
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mtlgroup.data import fashion, registry
from mtlgroup.data.base import MultiTaskData, TensorSplit
from mtlgroup.models import make_network
from mtlgroup.training import TrainConfig, train_network

needs_files = pytest.mark.skipif(
    not fashion.fashion_available(),
    reason=f"Fashion-MNIST files absent from {fashion.fashion_root()}: "
    f"{fashion.INSTALL_COMMAND} (or set {fashion.ROOT_ENV})",
)
SMALL = {"n_train": 48, "n_val": 24, "n_test": 16, "seed": 0}


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_fake_fashion(root: Path, n_train: int = 40, n_test: int = 12, seed: int = 0) -> Path:
    """Tiny IDX files in the Debian layout: bright rectangles of random size on black."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        for image in images:
            y0, x0 = rng.integers(0, 12, size=2)
            y1, x1 = rng.integers(16, 29, size=2)
            image[y0:y1, x0:x1] = rng.integers(60, 256)
        labels = np.arange(n, dtype=np.uint8) % 10
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            (root / f"{split}-{kind}-ubyte.gz").write_bytes(gzip.compress(idx_bytes(array)))
    return root


@pytest.fixture(scope="module")
def data() -> MultiTaskData:
    return fashion.load_fashion(**SMALL)


@pytest.fixture(scope="module")
def source() -> fashion.FashionSource:
    return fashion.read_fashion()


# --- without the files ---------------------------------------------------------------------


def test_docstring_examples_run() -> None:
    result = doctest.testmod(fashion)
    assert result.attempted > 0 and result.failed == 0


def test_tasks_kinds_and_task_sets() -> None:
    tasks = fashion.fashion_tasks()
    assert tasks.names == ("class", "category", "foreground", "edges", "keypoints",
                           "reconstruction", "bbox", "area")
    kinds = {t.name: (t.kind, t.channels, t.loss) for t in tasks}
    assert kinds["class"] == ("label", 10, "cross_entropy")
    assert kinds["category"] == ("label", 4, "cross_entropy")
    assert kinds["foreground"] == ("dense", 2, "cross_entropy")
    assert kinds["edges"] == kinds["keypoints"] == ("dense", 1, "l2")
    assert kinds["reconstruction"] == ("dense", 1, "l1")
    assert kinds["bbox"] == ("vector", 4, "l1") and kinds["area"] == ("vector", 1, "l1")
    entry = registry.dataset_entry("fashion")
    assert entry.load is fashion.load_fashion and entry.tasks().names == tasks.names
    assert entry.task_sets["all"] == tasks.names
    assert set(entry.task_sets["demo"]) <= set(tasks.names) and len(entry.task_sets["demo"]) == 6


def test_missing_files_error_says_where_and_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileNotFoundError) as info:
        fashion.load_fashion(root=tmp_path)
    message = str(info.value)
    assert isinstance(info.value, fashion.FashionMNISTNotFoundError)
    assert "\n" not in message and str(tmp_path) in message
    assert "apt-get install dataset-fashion-mnist" in message and "MTLGROUP_FASHION_DIR" in message
    assert "train-images-idx3-ubyte.gz" in message
    # the environment variable is where a bare call looks; a missing folder is said so
    monkeypatch.setenv(fashion.ROOT_ENV, str(tmp_path / "absent"))
    assert fashion.fashion_root() == tmp_path / "absent" and not fashion.fashion_available()
    with pytest.raises(FileNotFoundError, match="absent \\(no such folder\\)"):
        fashion.load_fashion()
    # one file missing: only it is named
    write_fake_fashion(tmp_path / "fake")
    (tmp_path / "fake" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"\(missing t10k-labels-idx1-ubyte.gz\)"):
        fashion.load_fashion(root=tmp_path / "fake")


def test_parse_idx_rejects_bad_files(tmp_path: Path) -> None:
    good = idx_bytes(np.arange(6, dtype=np.uint8).reshape(1, 2, 3))
    assert fashion.parse_idx(good).shape == (1, 2, 3)
    with pytest.raises(ValueError, match="not an IDX file"):
        fashion.parse_idx(b"\x1f\x8b\x08\x00 gzip, not IDX")
    with pytest.raises(ValueError, match="expected 22"):
        fashion.parse_idx(good[:-1])
    root = write_fake_fashion(tmp_path)
    (root / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz"):
        fashion.load_fashion(root=root, n_train=4, n_val=2, n_test=2)


def test_loads_from_a_folder_of_uncompressed_or_gzipped_files(tmp_path: Path) -> None:
    gz = write_fake_fashion(tmp_path / "gz")
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in gz.iterdir():
        (raw / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
    a = fashion.load_fashion(root=gz, n_train=20, n_val=10, n_test=6)
    b = fashion.load_fashion(root=raw, n_train=20, n_val=10, n_test=6)
    assert a.spec == b.spec  # the same content is the same data, wherever it lies
    assert torch.equal(a.train.inputs, b.train.inputs)
    other = write_fake_fashion(tmp_path / "other", seed=1)
    assert fashion.load_fashion(root=other, n_train=20, n_val=10, n_test=6).spec != a.spec
    with pytest.raises(ValueError, match="at most 40"):
        fashion.load_fashion(root=gz, n_train=35, n_val=10, n_test=6)


def test_sampling_is_seeded_disjoint_and_prefix_stable() -> None:
    ix = fashion.sample_indices(2000, 500, 500, seed=0)
    assert not set(ix["train"]) & set(ix["val"])
    assert len(set(ix["train"])) == 2000 and len(set(ix["test"])) == 500
    assert ix["train"].max() < 60000 and ix["test"].max() < 10000
    again = fashion.sample_indices(2000, 500, 500, seed=0)
    assert all(np.array_equal(ix[s], again[s]) for s in ix)
    other = fashion.sample_indices(2000, 500, 500, seed=1)
    assert not np.array_equal(ix["train"], other["train"])
    grown = fashion.sample_indices(3000, 800, 600, seed=0)
    assert all(np.array_equal(grown[s][: len(ix[s])], ix[s]) for s in ix)
    # the whole training file splits without overlap
    full = fashion.sample_indices(59000, 1000, 0, seed=3)
    assert len(set(full["train"]) | set(full["val"])) == 60000


def test_labels_of_a_hand_made_image_are_exact() -> None:
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    images[0, 3:9, 10:25] = 255
    images[0, 5, 12] = 10  # below the threshold: a hole in the foreground
    labels = fashion.fashion_labels(images, np.array([8, 3]))
    assert labels["category"].tolist() == [3, 1]
    assert np.allclose(labels["bbox"][0] * 28, [10, 3, 25, 9])
    assert labels["area"][0, 0] == pytest.approx((6 * 15 - 1) / 784)
    # an empty image has no box, no area, no edges and no keypoints
    assert labels["bbox"][1].tolist() == [0, 0, 0, 0] and labels["area"][1, 0] == 0
    assert labels["edges"][1].max() == 0 and labels["keypoints"][1].max() == 0
    # corners of the rectangle are keypoints: the heat map peaks at 1 on them
    assert labels["keypoints"][0, 0, 3, 10] == 1.0 and labels["keypoints"][0, 0, 8, 24] == 1.0


@pytest.mark.parametrize("size", [28, 32, 20])
def test_conv_network_fits_the_input_size(size: int) -> None:
    net = make_network(fashion.fashion_tasks(), (1, size, size), size=0.25)
    out = net(torch.zeros(2, 1, size, size))
    assert out["edges"].shape == (2, 1, size, size)
    assert out["foreground"].shape == (2, 2, size, size)
    assert out["class"].shape == (2, 10) and out["bbox"].shape == (2, 4)


def test_preview_is_written(tmp_path: Path) -> None:
    root = write_fake_fashion(tmp_path / "fake")
    path = fashion.save_preview(tmp_path / "preview.png", n=3, root=root)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("field", "value"), [("n_train", 0), ("n_val", -1), ("size", 4),
                                              ("seed", -2), ("size", 28.0), ("size", 512)])
def test_bad_parameters_name_the_field(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        fashion.load_fashion(**{**SMALL, field: value}, root=tmp_path)  # type: ignore[arg-type]


# --- with the real files -------------------------------------------------------------------


@needs_files
def test_splits_shapes_dtypes_and_ranges(data: MultiTaskData) -> None:
    assert data.name == "fashion" and data.input_shape == (1, 28, 28)
    assert data.spec["name"] == "fashion" and data.spec["version"] == fashion.DATA_VERSION
    assert {k: data.spec[k] for k in SMALL} == SMALL and data.spec["size"] == 28
    assert str(data.spec["source"]).startswith("sha256:")
    for split, n in (("train", 48), ("val", 24), ("test", 16)):
        part = data.split(split)
        assert isinstance(part, TensorSplit) and len(part) == n
        assert set(part.targets) == set(data.tasks.names)
        assert part.inputs.dtype == torch.float16 and part.targets["reconstruction"] is part.inputs
    batch = next(data.train.batches(16))
    assert batch.inputs.dtype == torch.float32 and batch.inputs.shape == (16, 1, 28, 28)
    assert 0 <= float(batch.inputs.min()) and float(batch.inputs.max()) <= 1
    for task in data.tasks:
        target = batch.targets[task.name]
        if task.kind == "label":
            assert target.dtype == torch.int64 and target.shape == (16,)
            assert 0 <= int(target.min()) and int(target.max()) < task.channels
        elif task.name == "foreground":
            assert target.dtype == torch.int64 and target.shape == (16, 28, 28)
            assert set(target.unique().tolist()) == {0, 1}
        elif task.kind == "dense":
            assert target.dtype == torch.float32 and target.shape == (16, 1, 28, 28)
            assert 0 <= float(target.min()) and float(target.max()) <= 1
        else:
            assert target.dtype == torch.float32 and target.shape == (16, task.channels)
            assert 0 <= float(target.min()) and float(target.max()) <= 1
        pred = (torch.zeros(16, task.channels, 28, 28) if task.kind == "dense"
                else torch.zeros(16, task.channels))
        assert torch.isfinite(task.masked_loss(pred, target))
    assert set(data.train.targets["edges"].unique().tolist()) == {0.0, 1.0}


@needs_files
def test_same_seed_same_data_other_seed_other_data(data: MultiTaskData) -> None:
    again = fashion.load_fashion(**SMALL)
    assert again.spec == data.spec
    for split in ("train", "val", "test"):
        a, b = data.split(split), again.split(split)
        assert isinstance(a, TensorSplit) and isinstance(b, TensorSplit)
        assert all(torch.equal(a.targets[t], b.targets[t]) for t in data.tasks.names)
    other = fashion.load_fashion(**{**SMALL, "seed": 1})
    assert other.spec != data.spec
    assert not torch.equal(other.train.inputs, data.train.inputs)
    assert not torch.equal(other.test.inputs, data.test.inputs)


@needs_files
def test_samples_are_the_files_images_and_labels(data: MultiTaskData,
                                                 source: fashion.FashionSource) -> None:
    ix = fashion.sample_indices(SMALL["n_train"], SMALL["n_val"], SMALL["n_test"], SMALL["seed"])
    for split, images, labels in (("train", source.train_images, source.train_labels),
                                  ("val", source.train_images, source.train_labels),
                                  ("test", source.test_images, source.test_labels)):
        part = data.split(split)
        assert isinstance(part, TensorSplit)
        pixels = (part.inputs[:, 0].float() * 255).round().to(torch.uint8).numpy()
        assert np.array_equal(pixels, images[ix[split]])
        assert np.array_equal(part.targets["class"].numpy(), labels[ix[split]])
    assert len(source.train_images) == 60000 and len(source.test_images) == 10000
    # train and val hold different images (not just different indices)
    train = {im.tobytes() for im in source.train_images[ix["train"]]}
    assert not any(im.tobytes() in train for im in source.train_images[ix["val"]])


@needs_files
def test_labels_are_exact_functions_of_image_and_class(data: MultiTaskData) -> None:
    part = data.train
    assert isinstance(part, TensorSplit)
    t = {k: v.numpy() for k, v in part.targets.items()}
    pixels = (part.inputs[:, 0].float() * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(t["category"], np.asarray(fashion.CATEGORY_OF_CLASS)[t["class"]])
    foreground = pixels >= fashion.FOREGROUND_THRESHOLD
    assert np.array_equal(t["foreground"], foreground.astype(np.uint8))
    assert np.allclose(t["area"][:, 0], foreground.mean(axis=(1, 2)))
    for i in range(len(pixels)):
        ys, xs = np.nonzero(foreground[i])
        x0, y0, x1, y1 = np.round(t["bbox"][i] * 28).astype(int)
        # the box holds every foreground pixel and is tight (each side touches one)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        canny = cv2.Canny(pixels[i], *fashion.CANNY_THRESHOLDS, L2gradient=True) > 0
        assert np.array_equal(t["edges"][i, 0] == 1, canny)
        assert np.array_equal(t["keypoints"][i, 0],
                              fashion.keypoint_heatmap(pixels[i]).astype(np.float16))
    assert float(t["keypoints"].max()) == 1.0


@needs_files
def test_size_32_resizes_images_and_labels() -> None:
    data = fashion.load_fashion(n_train=8, n_val=4, n_test=4, size=32)
    assert data.input_shape == (1, 32, 32) and data.spec["size"] == 32
    assert data.train.targets["edges"].shape == (8, 1, 32, 32)
    assert data.train.targets["foreground"].shape == (8, 32, 32)


@needs_files
def test_short_training_runs_on_the_conv_network(data: MultiTaskData) -> None:
    _, result = train_network(["class", "edges"], data, 0.25,
                              TrainConfig(max_steps=3, batch_size=32, progress=False))
    assert result.steps == 3 and result.extra["dataset"] == dict(data.spec)
    for task in ("class", "edges"):
        assert np.isfinite(result.test[task]["loss"])
