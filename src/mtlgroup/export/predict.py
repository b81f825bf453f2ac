"""Predictions of an export bundle on new inputs: ``mtlgroup predict DIR INPUT``.

Inputs, by what the bundle was trained on (its manifest's ``input.format``):

- a table (``.csv``, ``.parquet``): the feature columns the training table had, encoded as
  they were then (standardised numbers, one-hot categories); other columns are ignored;
- an ``.npy`` array of shape ``[N, *input_shape]`` (or one sample of ``input_shape``), for any
  bundle;
- an image file or a folder of images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``), for image
  bundles: read as gray or RGB by the input's channels, resized to its size, scaled as in
  training.

Outputs: ``.csv`` (one row per input; a label task's class, a table target in its column's
units, a vector task's components as ``task[i]``; dense maps do not fit a CSV) or ``.npz`` (every
task's raw output array, plus ``<task>.class`` for label tasks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
OUTPUT_SUFFIXES = (".csv", ".npz")


@dataclass
class Inputs:
    """Model inputs read from a file, with one name per row (file name or row number)."""

    tensor: torch.Tensor
    names: list[str]
    name_column: str


def read_inputs(manifest: dict[str, Any], path: str | Path) -> Inputs:
    """The inputs in ``path`` as the bundle's model takes them (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    form = manifest["input"]["format"]
    shape = tuple(manifest["input"]["shape"])
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _array_inputs(path, shape)
    if path.is_dir() or suffix in IMAGE_SUFFIXES:
        if form.get("kind") != "image":
            raise ValueError(f"{path}: this bundle takes {form.get('kind')} inputs, not images; "
                             "give an .npy array" + (" or a table" if form.get("kind") == "table"
                                                     else ""))
        return _image_inputs(path, form, shape)
    if suffix in TABLE_SUFFIXES:
        if form.get("kind") != "table":
            raise ValueError(f"{path}: this bundle takes {form.get('kind')} inputs, not a "
                             "table; give an .npy array" +
                             (" or images" if form.get("kind") == "image" else ""))
        return _table_inputs(path, form, shape)
    raise ValueError(f"{path}: unsupported input {suffix or 'without suffix'}; expected .npy, "
                     f"a table ({', '.join(TABLE_SUFFIXES)}) or images "
                     f"({', '.join(IMAGE_SUFFIXES)}, a file or a folder)")


def _array_inputs(path: Path, shape: tuple[int, ...]) -> Inputs:
    import numpy as np
    import torch

    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ValueError(f"{path}: not a readable .npy array ({error})") from None
    if tuple(array.shape) == shape:
        array = array[None]
    if tuple(array.shape[1:]) != shape:
        raise ValueError(f"{path}: array of shape {list(array.shape)}; this bundle takes "
                         f"[N, {', '.join(map(str, shape))}] (or one sample {list(shape)})")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{path}: array of dtype {array.dtype}; expected numbers")
    return Inputs(torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)),
                  [str(i) for i in range(len(array))], "index")


def _image_inputs(path: Path, form: dict[str, Any], shape: tuple[int, ...]) -> Inputs:
    import cv2
    import numpy as np
    import torch

    files = (sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
             if path.is_dir() else [path])
    if not files:
        raise ValueError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    channels, height, width = shape
    mean = np.asarray(form.get("mean", 0.0), dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(form.get("std", 1.0), dtype=np.float32).reshape(-1, 1, 1)
    images = []
    for file in files:
        flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
        image = cv2.imread(str(file), flag)
        if image is None:
            raise ValueError(f"{file}: not a readable image")
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        if channels == 1:
            image = image[None]
        else:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
        images.append((image.astype(np.float32) * float(form.get("scale", 1 / 255)) - mean) / std)
    return Inputs(torch.from_numpy(np.stack(images).astype(np.float32)),
                  [f.name for f in files], "file")


def _table_inputs(path: Path, form: dict[str, Any], shape: tuple[int, ...]) -> Inputs:
    import numpy as np
    import torch

    from mtlgroup.data.table import FeatureEncoding, apply_feature_encoding, read_frame

    frame = read_frame(path)
    encodings = [FeatureEncoding(**{**f, "names": tuple(f["names"]),
                                    "categories": (tuple(f["categories"])
                                                   if f.get("categories") is not None else None)})
                 for f in form["features"]]
    missing = [e.column for e in encodings if e.column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing feature column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (the bundle was trained on "
                         f"{', '.join(e.column for e in encodings)})")
    blocks = []
    for encoding in encodings:
        series = frame[encoding.column]
        gaps = series.isna().to_numpy(dtype=bool)
        if gaps.any() and form.get("impute") is None:
            raise ValueError(f"{path}: feature column {encoding.column!r} has "
                             f"{int(gaps.sum())} missing values (first in row "
                             f"{int(np.flatnonzero(gaps)[0]) + 1}); the bundle was trained "
                             "without imputation")
        try:
            blocks.append(apply_feature_encoding(encoding, series))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}: feature column {encoding.column!r}: expected numbers "
                             f"({error})") from None
    inputs = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(frame), 0), np.float32)
    if inputs.shape[1:] != shape:
        raise ValueError(f"{path}: encodes to {inputs.shape[1]} input columns, the bundle "
                         f"takes {shape[0]}")
    return Inputs(torch.from_numpy(inputs), [str(i + 1) for i in range(len(frame))], "row")


def run_model(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int = 256,
              device: str = "cpu") -> dict[str, np.ndarray]:
    """``model``'s outputs on ``inputs`` in batches, as NumPy arrays per task."""
    import numpy as np
    import torch

    model = model.to(device).eval()
    parts: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            for task, value in model(inputs[start:start + batch_size].to(device)).items():
                parts.setdefault(task, []).append(value.float().cpu().numpy())
    return {task: np.concatenate(values) for task, values in parts.items()}


def decode_columns(manifest: dict[str, Any], outputs: dict[str, np.ndarray]
                   ) -> dict[str, Sequence[Any]]:
    """CSV columns of the outputs: a class per label task (a table target's own labels), a
    table regression target in its units, vector components as ``task[i]``."""
    columns: dict[str, Sequence[Any]] = {}
    for record in manifest["tasks"]:
        task = record["name"]
        if task not in outputs:
            continue  # an auxiliary task: no network serves it
        value = outputs[task]
        target = record.get("target") or {}
        if record["kind"] == "label":
            codes = value.argmax(axis=1)
            classes = target.get("classes")
            columns[task] = [classes[c] for c in codes] if classes else codes.tolist()
        elif record["kind"] == "vector":
            if target.get("std") is not None:
                value = value * target["std"] + target["mean"]
            if value.shape[1] == 1:
                columns[task] = value[:, 0].tolist()
            else:
                for i in range(value.shape[1]):
                    columns[f"{task}[{i}]"] = value[:, i].tolist()
        else:
            raise ValueError(f"task {task} predicts a {list(value.shape[1:])} map per input, "
                             "which does not fit a CSV: write --out FILE.npz")
    return columns


def predict(bundle: str | Path, inputs: str | Path, out: str | Path | None = None,
            batch_size: int = 256, device: str = "cpu") -> Path:
    """Run the bundle's model on ``inputs`` and write the predictions to ``out`` (default:
    ``<inputs>.predictions.csv`` beside the inputs); returns ``out``."""
    import numpy as np

    from mtlgroup.export.bundle import load_grouped, read_manifest

    inputs = Path(inputs)
    out = Path(out) if out is not None else inputs.with_name(inputs.name + ".predictions.csv")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"{out}: predictions are written as {' or '.join(OUTPUT_SUFFIXES)}")
    manifest = read_manifest(bundle)
    read = read_inputs(manifest, inputs)
    model = load_grouped(bundle)
    outputs = run_model(model, read.tensor, batch_size, device)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npz":
        arrays = dict(outputs)
        for record in manifest["tasks"]:
            if record["kind"] == "label" and record["name"] in outputs:
                arrays[f"{record['name']}.class"] = outputs[record["name"]].argmax(axis=1)
        arrays["names"] = np.asarray(read.names)
        np.savez(out, **arrays)  # type: ignore[arg-type]  # (numpy's stub types the kwargs)
        return out
    import pandas as pd

    frame = pd.DataFrame({read.name_column: read.names, **decode_columns(manifest, outputs)})
    frame.to_csv(out, index=False)
    return out
