"""``scenes``: a small procedurally rendered Taskonomy with ten tasks (the built-in dataset).

Images and labels come from :mod:`mtlgroup.data.render`. They are generated on first use and
cached as one ``.npz`` file per split under ``~/.cache/mtlgroup/scenes`` (``$MTLGROUP_CACHE``
overrides the root, the ``cache_dir`` argument overrides both). A cache file is named by a hash of
everything that determines its content, :data:`GENERATOR_VERSION` included, is written atomically,
and is regenerated (with a warning) when it cannot be read.

Example:
    >>> import tempfile
    >>> data = load_scenes(n_train=4, n_val=2, n_test=2, size=16, cache_dir=tempfile.mkdtemp())
    >>> data.input_shape, len(data.train), data.tasks.names[:3]
    ((3, 16, 16), 4, ('semseg', 'depth', 'normals'))
    >>> tuple(data.train.targets["depth"].shape)
    (4, 1, 16, 16)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtlgroup.data import render
from mtlgroup.data.base import MultiTaskData, TensorSplit, image_format
from mtlgroup.data.registry import DatasetEntry, register_dataset, versioned
from mtlgroup.figures import save_figure
from mtlgroup.progress import progress_bar
from mtlgroup.tasks import ACCURACY_METRIC, ANGLE_METRIC, L1_METRIC, Task, TaskSet

GENERATOR_VERSION = 1
"""Bump whenever the rendered data changes: old cache files are then ignored."""
TASK_SET_1: tuple[str, ...] = ("semseg", "depth", "normals", "keypoints2d", "edges2d")
"""Standley et al.'s first task set."""
TASK_SET_2: tuple[str, ...] = ("autoencoder", "normals", "occlusion_edges", "reshading",
                               "curvature")
"""Standley et al.'s second task set."""
CACHE_ENV = "MTLGROUP_CACHE"
PROGRESS_MIN_IMAGES = 300
"""Generating more images than this shows a progress bar (on a terminal)."""

_STORED_KEYS = render.LABEL_KEYS  # ``autoencoder`` aliases ``rgb``: not stored
_SPLITS = ("train", "val", "test")


def scenes_tasks() -> TaskSet:
    """The ten tasks, in a fixed order (see ``docs/scenes.md`` for units and conventions)."""

    def dense(name: str, channels: int, *metrics: Any) -> Task:
        return Task(name, kind="dense", channels=channels, loss="l1",
                    metrics=(L1_METRIC, *metrics))

    return TaskSet(
        [
            Task("semseg", kind="dense", channels=len(render.CLASS_NAMES), loss="cross_entropy",
                 metrics=(ACCURACY_METRIC,)),
            dense("depth", 1),
            dense("normals", 3, ANGLE_METRIC),
            dense("reshading", 1),
            dense("curvature", 2),
            dense("occlusion_edges", 1),
            dense("edges2d", 1),
            dense("keypoints2d", 1),
            dense("autoencoder", 3),
            Task("light", kind="vector", channels=3, loss="l1", metrics=(L1_METRIC,)),
        ]
    )


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where cached datasets live: ``cache_dir``, else ``$MTLGROUP_CACHE``, else
    ``~/.cache/mtlgroup``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "mtlgroup"


def split_cache_path(root: Path, split: str, n: int, size: int, seed: int) -> Path:
    """The cache file of one split: named by a hash of what determines its content."""
    key = {"split": split, "n": n, "size": size, "seed": seed,
           "generator_version": GENERATOR_VERSION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return root / "scenes" / f"scenes-{split}-{n}x{size}px-seed{seed}-{digest}.npz"


def _write_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            columns: dict[str, Any] = arrays  # (numpy's stub would match a key to allow_pickle)
            np.savez(f, **columns)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(path: Path, n: int, size: int) -> dict[str, np.ndarray]:
    """Read and check a cache file; raises ``ValueError`` when it is not a complete split."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in _STORED_KEYS}
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from err
    for key, values in arrays.items():
        expected_rows = values.shape[0] == n
        expected_pixels = key == "light" or values.shape[-2:] == (size, size)
        if not (expected_rows and expected_pixels):
            raise ValueError(f"array {key!r} has shape {values.shape}, expected {n} images of "
                             f"{size}x{size}")
    return arrays


def _render_split(split: str, n: int, size: int, seed: int) -> dict[str, np.ndarray]:
    enabled = None if n > PROGRESS_MIN_IMAGES else False
    with progress_bar(n, f"rendering scenes ({split}, {size}px)", enabled=enabled) as advance:
        out = render.render_scenes(n, size=size, seed=seed, split=split, on_progress=advance)
    return {k: out[k] for k in _STORED_KEYS}


def scenes_split_arrays(split: str, n: int, size: int = 32, seed: int = 0,
                        cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """The arrays of one split (``rgb`` and the labels, see :func:`render.render_scenes`),
    from the cache when it holds them, else rendered and cached."""
    path = split_cache_path(cache_root(cache_dir), split, n, size, seed)
    if path.exists():
        try:
            return _read_cache(path, n, size)
        except ValueError as err:
            warnings.warn(f"scenes cache file {path} is unreadable ({err}); regenerating it",
                          RuntimeWarning, stacklevel=2)
    arrays = _render_split(split, n, size, seed)
    _write_atomic(path, arrays)
    return arrays


def _tensor_split(arrays: dict[str, np.ndarray]) -> TensorSplit:
    inputs = torch.from_numpy(arrays["rgb"])
    targets = {k: torch.from_numpy(v) for k, v in arrays.items() if k != "rgb"}
    targets["autoencoder"] = inputs  # the same storage: no second copy of the images
    return TensorSplit(inputs, {name: targets[name] for name in scenes_tasks().names})


def _check_params(n_train: int, n_val: int, n_test: int, size: int, seed: int) -> None:
    for name, value, low in (("n_train", n_train, 1), ("n_val", n_val, 0),
                             ("n_test", n_test, 0), ("size", size, 8), ("seed", seed, 0)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise ValueError(f"scenes: {name} must be an integer >= {low}, got {value!r}")


def load_scenes(
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 500,
    size: int = 32,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> MultiTaskData:
    """The ``scenes`` dataset: ``size``×``size`` RGB inputs and the ten task labels.

    Targets are stored compactly (float16 maps, uint8 ``semseg``); batches convert them to
    float32 / int64. ``autoencoder`` shares the input tensor.
    """
    _check_params(n_train, n_val, n_test, size, seed)
    counts = {"train": n_train, "val": n_val, "test": n_test}
    splits = {s: _tensor_split(scenes_split_arrays(s, counts[s], size, seed, cache_dir))
              for s in _SPLITS}
    spec = {"name": "scenes", "n_train": n_train, "n_val": n_val, "n_test": n_test,
            "size": size, "seed": seed, "generator_version": GENERATOR_VERSION}
    return MultiTaskData(name="scenes", tasks=scenes_tasks(), input_shape=(3, size, size),
                         spec=spec, input_format=image_format((3, size, size)), **splits)


def save_preview(path: str | Path, n: int = 4, size: int = 64, seed: int = 0) -> Path:
    """Save a PNG grid: one row per image, its RGB then each dense label (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = render.render_scenes(n, size=size, seed=seed)
    columns = ("rgb", "semseg", "depth", "normals", "reshading", "curvature", "occlusion_edges",
               "edges2d", "keypoints2d")
    fig, axes = plt.subplots(n, len(columns), figsize=(1.6 * len(columns), 1.7 * n),
                             squeeze=False)
    for i in range(n):
        for j, key in enumerate(columns):
            values = out[key][i].astype(np.float32)
            ax = axes[i, j]
            if key in ("rgb", "normals"):
                image = values.transpose(1, 2, 0)
                ax.imshow(image if key == "rgb" else (image + 1) / 2)  # normals: [-1,1] -> [0,1]
            elif key == "semseg":
                ax.imshow(values, cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
            else:  # one channel (curvature: the larger principal curvature)
                ax.imshow(values[0], cmap="viridis", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(key, fontsize=8)
        axes[i, 0].set_ylabel(f"light {np.round(out['light'][i], 2)}", fontsize=6)
    return save_figure(fig, path)


SCENES = register_dataset(
    DatasetEntry(
        name="scenes",
        description="procedurally rendered 3-D scenes (floor, wall, 2-5 textured primitives) "
        "with ten Taskonomy-like tasks; generated on first use and cached",
        tasks=scenes_tasks,
        load=load_scenes,
        task_sets={"1": TASK_SET_1, "2": TASK_SET_2},
        identify=versioned(generator_version=GENERATOR_VERSION),
    )
)
