"""``fashion``: real Fashion-MNIST images with eight exact tasks of mixed kinds.

The images (28×28 grayscale photos of clothing, shoes and bags, in ten classes) come from the
files of the Debian package ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``),
read from ``/usr/share/datasets/fashion-mnist`` unless ``$MTLGROUP_FASHION_DIR`` or the ``root``
argument names another folder. No network access is ever needed.

Like Taskonomy, one image carries labels of several kinds, all computed exactly and
deterministically from the image and its class (see ``docs/fashion.md``):

- ``class`` (label, 10) and ``category`` (label, 4 coarse groups of the classes);
- ``foreground`` (dense label map, 2 classes): pixels at or above :data:`FOREGROUND_THRESHOLD`;
- ``edges`` (dense): ``cv2.Canny`` edges; ``keypoints`` (dense): a heat map of Shi-Tomasi corners;
  ``reconstruction`` (dense): the input itself;
- ``bbox`` (vector, 4): the foreground's bounding box; ``area`` (vector, 1): its pixel fraction.

Reading the files and labelling the default 3,000 images takes about a second, so nothing is
cached on disk (unlike ``scenes``, which takes tens of seconds to render).

Example (needs no data files):
    >>> fashion_tasks().names
    ('class', 'category', 'foreground', 'edges', 'keypoints', 'reconstruction', 'bbox', 'area')
    >>> [CATEGORY_NAMES[c] for c in CATEGORY_OF_CLASS[:4]]
    ['top', 'bottom/dress', 'top', 'bottom/dress']
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from mtlgroup.data.base import MultiTaskData, TensorSplit, image_format
from mtlgroup.data.registry import DatasetEntry, register_dataset, versioned
from mtlgroup.figures import save_figure
from mtlgroup.tasks import ACCURACY_METRIC, L1_METRIC, TargetKind, Task, TaskSet

DATA_VERSION = 1
"""Bump whenever the labels (or the sampling) change: it is part of :attr:`MultiTaskData.spec`,
so results computed on older data are never mistaken for results on the new data."""
ROOT_ENV = "MTLGROUP_FASHION_DIR"
DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
INSTALL_COMMAND = "apt-get install dataset-fashion-mnist"
NATIVE_SIZE = 28
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four IDX files, found as ``NAME.gz`` (the Debian package) or uncompressed ``NAME``."""

CLASS_NAMES: tuple[str, ...] = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal",
                                "shirt", "sneaker", "bag", "ankle boot")
CATEGORY_NAMES: tuple[str, ...] = ("top", "bottom/dress", "footwear", "bag")
CATEGORY_OF_CLASS: tuple[int, ...] = (0, 1, 0, 1, 0, 2, 0, 2, 3, 2)
"""``category = CATEGORY_OF_CLASS[class]``: tops {T-shirt/top, pullover, coat, shirt}, bottoms and
dresses {trouser, dress}, footwear {sandal, sneaker, ankle boot}, bag {bag}."""

FOREGROUND_THRESHOLD = 16
"""A pixel (8-bit, 0-255) belongs to the item when it is at least this bright. Fashion-MNIST's
background is black (about half the pixels are exactly 0); 16 keeps the dim parts of dark items
(e.g. a black jacket's sleeves) while dropping the faint fringe around the items' outlines."""
CANNY_THRESHOLDS = (100, 200)
"""Hysteresis thresholds of ``cv2.Canny`` (L2 gradient): the silhouette plus strong print and
seam edges, without the fabric's fine texture."""
KEYPOINT_MAX_CORNERS = 16
KEYPOINT_QUALITY = 0.05
KEYPOINT_MIN_DISTANCE = 2.0
KEYPOINT_SIGMA = 1.0
"""Shi-Tomasi corner settings (``cv2.goodFeaturesToTrack``) and the Gaussian's width; distances
are in pixels at 28×28 and scale with ``size``."""

TASK_SET_DEMO: tuple[str, ...] = ("class", "category", "edges", "keypoints", "reconstruction",
                                  "bbox")
"""The demo's six tasks: two related labels, two related edge-like maps, the autoencoder and a
geometric vector, so that a good grouping has something to find."""

_SPLIT_STREAMS = {"train_file": 0, "test_file": 1}


class FashionMNISTNotFoundError(FileNotFoundError):
    """The Fashion-MNIST files are not where we looked; the message says where and how to fix it.

    The CLI prints it as one line (it is a ``FileNotFoundError``).
    """

    def __init__(self, root: Path, missing: Sequence[str]):
        self.root = root
        self.missing = tuple(missing)
        detail = (f"missing {', '.join(self.missing)}" if root.is_dir() else "no such folder")
        super().__init__(
            f"Fashion-MNIST not found in {root} ({detail}): install it with `{INSTALL_COMMAND}`, "
            f"or set {ROOT_ENV} (or root=) to a folder holding its four IDX files"
        )


def fashion_tasks() -> TaskSet:
    """The eight tasks, in a fixed order (see ``docs/fashion.md`` for what each measures).

    ``edges`` and ``keypoints`` are sparse maps (16 % and 7 % of their pixels are near 1) and
    use L2. Under L1 the best prediction of a pixel is its conditional *median*: 0 wherever an
    edge is less likely than not, and trained on 1,000 images for 4 epochs (the demo's scale) an
    L1 network did not beat predicting all zeros. L2's optimum is the conditional mean, so every
    bit of evidence lowers the loss (the usual choice for heat-map regression). They report no
    L1 metric, which would favour the all-zero map.
    """

    def label(name: str, kind: TargetKind, classes: int) -> Task:
        return Task(name, kind=kind, channels=classes, loss="cross_entropy",
                    metrics=(ACCURACY_METRIC,))

    return TaskSet(
        [
            label("class", "label", len(CLASS_NAMES)),
            label("category", "label", len(CATEGORY_NAMES)),
            label("foreground", "dense", 2),
            Task("edges", kind="dense", channels=1, loss="l2"),
            Task("keypoints", kind="dense", channels=1, loss="l2"),
            Task("reconstruction", kind="dense", channels=1, loss="l1", metrics=(L1_METRIC,)),
            Task("bbox", kind="vector", channels=4, loss="l1", metrics=(L1_METRIC,)),
            Task("area", kind="vector", channels=1, loss="l1", metrics=(L1_METRIC,)),
        ]
    )


def fashion_root(root: str | Path | None = None) -> Path:
    """Where the files are looked for: ``root``, else ``$MTLGROUP_FASHION_DIR``, else
    :data:`DEFAULT_ROOT`."""
    if root is not None:
        return Path(root)
    env = os.environ.get(ROOT_ENV)
    return Path(env) if env else DEFAULT_ROOT


def _find_files(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, name in FILES.items():
        candidates = [root / f"{name}.gz", root / name]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            missing.append(f"{name}.gz")
        else:
            found[key] = path
    if missing:
        raise FashionMNISTNotFoundError(root, missing)
    return found


def fashion_available(root: str | Path | None = None) -> bool:
    """Whether the four files are present (so callers and tests can skip politely)."""
    try:
        _find_files(fashion_root(root))
    except FashionMNISTNotFoundError:
        return False
    return True


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode an (uncompressed) IDX file of unsigned bytes: ``[N]`` labels or ``[N, H, W]`` images.

    The header is a magic number ``0x00000800 + ndim`` followed by ``ndim`` big-endian sizes.

    Example:
        >>> raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9])
        >>> parse_idx(raw).tolist()
        [7, 0, 9]
    """
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or not 1 <= raw[3] <= 3:
        raise ValueError(f"{name}: not an IDX file of unsigned bytes (header {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(f"{name}: {len(raw)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@dataclass(frozen=True)
class FashionSource:
    """The raw arrays of the four files and a digest of their content."""

    train_images: np.ndarray  # [60000, 28, 28] uint8
    train_labels: np.ndarray  # [60000] uint8
    test_images: np.ndarray  # [10000, 28, 28] uint8
    test_labels: np.ndarray  # [10000] uint8
    digest: str
    """``sha256:`` + 16 hex digits over the decompressed files: identifies the data in ``spec``
    whatever folder or compression it was read from."""


def read_fashion(root: str | Path | None = None) -> FashionSource:
    """Read and check the four files (about 0.4 s, mostly gunzipping the training images)."""
    paths = _find_files(fashion_root(root))
    hasher = hashlib.sha256()
    arrays: dict[str, np.ndarray] = {}
    for key in FILES:  # a fixed order, so that the digest is well defined
        path = paths[key]
        try:
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
            raise ValueError(f"{path}: cannot be read ({type(err).__name__}: {err})") from err
        hasher.update(raw)
        arrays[key] = parse_idx(raw, str(path))
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (NATIVE_SIZE, NATIVE_SIZE) or labels.shape != images.shape[:1]:
            raise ValueError(f"{paths[f'{split}_images']}: expected {NATIVE_SIZE}x{NATIVE_SIZE} "
                             f"images matching the labels, got images {images.shape} and "
                             f"labels {labels.shape}")
        if labels.size and int(labels.max()) >= len(CLASS_NAMES):
            raise ValueError(f"{paths[f'{split}_labels']}: label {int(labels.max())} is not a "
                             "Fashion-MNIST class (0-9)")
    return FashionSource(**arrays, digest="sha256:" + hasher.hexdigest()[:16])


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """``[N, h, w]`` uint8 images resized to ``size``×``size`` (area averaging when shrinking,
    bilinear when enlarging); unchanged when they already have that size."""
    if images.shape[1:] == (size, size):
        return images
    smaller = size < images.shape[1]
    interpolation = cv2.INTER_AREA if smaller else cv2.INTER_LINEAR
    out = np.empty((len(images), size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = cv2.resize(image, (size, size), interpolation=interpolation)
    return out


def keypoint_heatmap(image: np.ndarray) -> np.ndarray:
    """A ``[H, W]`` float32 map in ``[0, 1]``: a unit Gaussian bump on each Shi-Tomasi corner.

    At most :data:`KEYPOINT_MAX_CORNERS` corners whose quality is at least
    :data:`KEYPOINT_QUALITY` times the best one's, :data:`KEYPOINT_MIN_DISTANCE` apart; bumps
    combine by maximum, so every corner peaks at exactly 1. A featureless image gives zeros.
    """
    height, width = image.shape
    scale = width / NATIVE_SIZE
    corners = cv2.goodFeaturesToTrack(image, KEYPOINT_MAX_CORNERS, KEYPOINT_QUALITY,
                                      max(1.0, KEYPOINT_MIN_DISTANCE * scale))
    heat = np.zeros((height, width), dtype=np.float32)
    if corners is None:
        return heat
    points = corners.reshape(-1, 2)
    sigma = KEYPOINT_SIGMA * scale
    # The 2-D Gaussian is separable: one 1-D profile per corner along each axis, then an outer
    # product (several times faster than exp over the full grid for every corner).
    along_y = np.exp(-((np.arange(height) - points[:, 1:2]) ** 2) / (2.0 * sigma**2))
    along_x = np.exp(-((np.arange(width) - points[:, 0:1]) ** 2) / (2.0 * sigma**2))
    return (along_y[:, :, None] * along_x[:, None, :]).max(axis=0).astype(np.float32)


def fashion_labels(images: np.ndarray, classes: np.ndarray) -> dict[str, np.ndarray]:
    """Every target of ``[N, H, W]`` uint8 images with class indices ``[N]`` (numpy, compact).

    Returns ``input`` (float16 ``[N, 1, H, W]`` in ``[0, 1]``; also the ``reconstruction``
    target), ``class``/``category`` (uint8 ``[N]``), ``foreground`` (uint8 ``[N, H, W]`` in
    {0, 1}), ``edges`` and ``keypoints`` (float16 ``[N, 1, H, W]``), ``bbox`` (float32
    ``[N, 4]``: ``x0, y0, x1, y1`` as fractions of the width/height, ``x1``/``y1`` exclusive, all
    zeros for an image with no foreground) and ``area`` (float32 ``[N, 1]``).

    Example:
        >>> images = np.zeros((1, 28, 28), np.uint8)
        >>> images[0, 4:20, 8:16] = 200  # an 8 px wide, 16 px tall bright block
        >>> labels = fashion_labels(images, np.array([7]))
        >>> int(labels["category"][0]), (labels["bbox"] * 28).tolist(), labels["area"].item()
        (2, [[8.0, 4.0, 16.0, 20.0]], 0.16326530277729034)
        >>> int(labels["edges"].sum()) > 0, float(labels["keypoints"].max())
        (True, 1.0)
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    classes = np.asarray(classes)
    if images.ndim != 3 or classes.shape != (len(images),):
        raise ValueError(f"expected images [N, H, W] and classes [N]; got {images.shape} and "
                         f"{classes.shape}")
    n, height, width = images.shape
    foreground: np.ndarray = images >= FOREGROUND_THRESHOLD
    rows: np.ndarray = np.any(foreground, axis=2)  # [N, H]: which rows hold the item
    cols: np.ndarray = np.any(foreground, axis=1)  # [N, W]
    has_item = rows.any(axis=1)
    # First and one-past-last occupied row/column; argmax finds the first True.
    y0, y1 = rows.argmax(axis=1), height - rows[:, ::-1].argmax(axis=1)
    x0, x1 = cols.argmax(axis=1), width - cols[:, ::-1].argmax(axis=1)
    bbox = np.stack([x0 / width, y0 / height, x1 / width, y1 / height], axis=1)
    bbox[~has_item] = 0.0
    edges = np.empty((n, 1, height, width), dtype=np.float16)
    keypoints = np.empty((n, 1, height, width), dtype=np.float16)
    for i, image in enumerate(images):  # OpenCV works on one image at a time
        edges[i, 0] = cv2.Canny(image, *CANNY_THRESHOLDS, L2gradient=True) > 0
        keypoints[i, 0] = keypoint_heatmap(image)
    return {
        "input": (images[:, None].astype(np.float32) / 255.0).astype(np.float16),
        "class": classes.astype(np.uint8),
        "category": np.asarray(CATEGORY_OF_CLASS, dtype=np.uint8)[classes],
        "foreground": foreground.astype(np.uint8),
        "edges": edges,
        "keypoints": keypoints,
        "bbox": bbox.astype(np.float32),
        "area": foreground.mean(axis=(1, 2), dtype=np.float64)[:, None].astype(np.float32),
    }


def sample_indices(n_train: int, n_val: int, n_test: int, seed: int,
                   n_train_file: int = 60000, n_test_file: int = 10000) -> dict[str, np.ndarray]:
    """Which images of the files each split takes (seeded; train and val never overlap).

    Train takes the first ``n_train`` entries of a seeded permutation of the training file and
    val the last ``n_val`` (read backwards), so growing one split never changes the other nor the
    images it already had. Test takes the first ``n_test`` of a permutation of the test file.

    Example:
        >>> ix = sample_indices(3, 2, 2, seed=0, n_train_file=10, n_test_file=5)
        >>> [len(ix[s]) for s in ("train", "val", "test")], set(ix["train"]) & set(ix["val"])
        ([3, 2, 2], set())
        >>> bigger = sample_indices(5, 2, 2, seed=0, n_train_file=10, n_test_file=5)
        >>> bigger["train"][:3].tolist() == ix["train"].tolist()
        True
    """
    train_perm = np.random.default_rng([seed, _SPLIT_STREAMS["train_file"]]).permutation(
        n_train_file)
    test_perm = np.random.default_rng([seed, _SPLIT_STREAMS["test_file"]]).permutation(
        n_test_file)
    return {"train": train_perm[:n_train], "val": train_perm[::-1][:n_val],
            "test": test_perm[:n_test]}


def _check_counts(n_train: int, n_val: int, n_test: int, source: FashionSource) -> None:
    available = len(source.train_images)
    if n_train + n_val > available:
        raise ValueError(f"fashion: n_train + n_val must be at most {available} (the training "
                         f"file's images), got {n_train} + {n_val}")
    if n_test > len(source.test_images):
        raise ValueError(f"fashion: n_test must be at most {len(source.test_images)} (the test "
                         f"file's images), got {n_test}")


def _check_params(n_train: int, n_val: int, n_test: int, size: int, seed: int) -> None:
    for name, value, low in (("n_train", n_train, 1), ("n_val", n_val, 0),
                             ("n_test", n_test, 0), ("size", size, 8), ("seed", seed, 0)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise ValueError(f"fashion: {name} must be an integer >= {low}, got {value!r}")
    if size > 256:
        raise ValueError(f"fashion: size must be at most 256 (the images are 28 px), got {size}")


def _tensor_split(images: np.ndarray, classes: np.ndarray, size: int) -> TensorSplit:
    labels = fashion_labels(resize_images(images, size), classes)
    inputs = torch.from_numpy(labels.pop("input"))
    targets = {k: torch.from_numpy(v) for k, v in labels.items()}
    targets["reconstruction"] = inputs  # the same storage: no second copy of the images
    return TensorSplit(inputs, {name: targets[name] for name in fashion_tasks().names})


def load_fashion(
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 500,
    size: int = 28,
    seed: int = 0,
    root: str | Path | None = None,
) -> MultiTaskData:
    """The ``fashion`` dataset: ``[1, size, size]`` inputs in ``[0, 1]`` and the eight targets.

    Train and val are disjoint seeded draws from the 60,000 training images, test a seeded draw
    from the 10,000 test images (:func:`sample_indices`). ``size`` other than 28 resizes the
    images first (:func:`resize_images`) and every label is computed at that size. Targets are
    stored compactly (float16 maps, uint8 classes and ``foreground``); batches convert them to
    float32 / int64. ``reconstruction`` shares the input tensor.

    ``root`` (not part of ``spec``: the same files anywhere are the same data) defaults to
    ``$MTLGROUP_FASHION_DIR``, else ``/usr/share/datasets/fashion-mnist``. Missing files raise
    :class:`FashionMNISTNotFoundError`, a ``FileNotFoundError`` naming the folder and the fix.

    Example:
        >>> import tempfile
        >>> load_fashion(root=tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        mtlgroup.data.fashion.FashionMNISTNotFoundError: Fashion-MNIST not found in ...
    """
    _check_params(n_train, n_val, n_test, size, seed)
    source = read_fashion(root)
    _check_counts(n_train, n_val, n_test, source)
    index = sample_indices(n_train, n_val, n_test, seed, len(source.train_images),
                           len(source.test_images))
    splits = {
        split: _tensor_split(images[index[split]], labels[index[split]], size)
        for split, images, labels in (
            ("train", source.train_images, source.train_labels),
            ("val", source.train_images, source.train_labels),
            ("test", source.test_images, source.test_labels),
        )
    }
    spec = {"name": "fashion", "n_train": n_train, "n_val": n_val, "n_test": n_test,
            "size": size, "seed": seed, "version": DATA_VERSION, "source": source.digest}
    return MultiTaskData(name="fashion", tasks=fashion_tasks(), input_shape=(1, size, size),
                         spec=spec, input_format=image_format((1, size, size)), **splits)


PREVIEW_CLASS_ORDER: tuple[int, ...] = (0, 1, 7, 8, 2, 9, 3, 5, 4, 6)
"""The classes a preview shows, in order: its first four rows cover the four categories."""


def preview_samples(source: FashionSource, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` test images, one class after another in :data:`PREVIEW_CLASS_ORDER` (the first
    image of each class, then the second...)."""
    per_class = [np.flatnonzero(source.test_labels == c) for c in PREVIEW_CLASS_ORDER]
    picked: list[int] = []
    for rank in range(max(len(p) for p in per_class)):
        picked.extend(int(p[rank]) for p in per_class if rank < len(p))
        if len(picked) >= n:
            break
    chosen = np.asarray(picked[:n], dtype=np.int64)
    return source.test_images[chosen], source.test_labels[chosen]


def save_preview(path: str | Path, n: int = 6, size: int = 28,
                 root: str | Path | None = None) -> Path:
    """Save a PNG grid (needs matplotlib): one row per test image (:func:`preview_samples`), the
    input with its foreground box, then ``foreground``, ``edges`` and ``keypoints``; the row's
    label gives ``class``, ``category`` and ``area``. (``reconstruction`` is the input itself.)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    images, classes = preview_samples(read_fashion(root), n)
    labels = fashion_labels(resize_images(images, size), classes)
    columns = ("input", "foreground", "edges", "keypoints")
    fig, axes = plt.subplots(len(images), len(columns),
                             figsize=(1.5 * len(columns) + 0.9, 1.55 * len(images)),
                             squeeze=False)
    for i in range(len(images)):
        for j, key in enumerate(columns):
            ax = axes[i, j]
            values = labels[key][i].astype(np.float32).reshape(size, size)
            cmap = "gray" if key == "input" else "viridis"
            ax.imshow(values, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(key, fontsize=8)
        x0, y0, x1, y1 = labels["bbox"][i] * size
        # Pixel k spans [k - 0.5, k + 0.5] in imshow coordinates; x1 and y1 are exclusive.
        axes[i, 0].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                       edgecolor="red", linewidth=1.2))
        category = CATEGORY_NAMES[int(labels["category"][i])]
        axes[i, 0].set_ylabel(f"{CLASS_NAMES[int(classes[i])]}\n{category}\n"
                              f"area {float(labels['area'][i, 0]):.2f}", fontsize=7)
    return save_figure(fig, path)


FASHION = register_dataset(
    DatasetEntry(
        name="fashion",
        description="Fashion-MNIST photos (28x28 grayscale, 10 classes; Debian package "
        "dataset-fashion-mnist) with eight exact tasks: class, category, foreground, edges, "
        "keypoints, reconstruction, bbox, area",
        tasks=fashion_tasks,
        load=load_fashion,
        task_sets={"all": fashion_tasks().names, "demo": TASK_SET_DEMO},
        identify=versioned(version=DATA_VERSION),
    )
)
