"""``table``: a CSV or Parquet file as a multi-task dataset, one task per target column.

Configs say ``data: {dataset: table, path: sales.csv, targets: [sales, returns, rating]}``;
every option is a plain JSON value. :func:`load_table` reads the file, splits its rows into
train/val/test and encodes them as float32 feature vectors ``(n_features,)`` and one target per
task. Every statistic the encoding uses (means, standard deviations, class lists, categories)
comes from the training split only, so nothing about val or test leaks into the tensors.

Targets (one task each, named after the column):

* ``regression``: a ``vector`` task with 1 channel, loss ``l1`` (or ``l2``), standardised with
  the training mean and standard deviation; the ``mae`` metric reports the mean absolute error
  in the column's own units.
* ``binary`` / ``multiclass``: a ``label`` task over the sorted distinct training values, loss
  ``cross_entropy``, metric ``accuracy``. A val or test value absent from training is an error.
* Kinds not declared in ``kinds`` are inferred from the column: bool → binary; text or
  categorical → classification; numbers → classification if they are all whole numbers with at
  most ``max_classes`` distinct values (so ``rating`` 1-5 is a class even when stored as float
  because of a gap), else regression. Classification with two classes is binary, with more
  multiclass.
* A missing target value masks that row out of that task only.

Features: every other column unless ``features`` lists them. Numeric columns are standardised
with training statistics (a constant column becomes zeros); text, categorical and bool columns
are one-hot encoded over the training split's categories (an unseen category is an all-zero
row). Missing feature values are an error unless ``impute="mean"``: a numeric gap takes the
training mean, a categorical gap becomes its own category ``<missing>`` (all zeros if the training
split had no gap in that column).

:func:`write_example_table` writes a realistic retail table with three planted task clusters.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = tempfile.mkdtemp()
    >>> path = write_example_table(Path(folder) / "shop.csv", n_rows=200)
    >>> data = load_table(path, targets=EXAMPLE_TARGETS)
    >>> [(t.name, t.kind, t.channels) for t in data.tasks]  # doctest: +NORMALIZE_WHITESPACE
    [('sales', 'vector', 1), ('returns', 'vector', 1), ('rating', 'label', 5),
     ('churn', 'label', 2), ('category', 'label', 4), ('margin', 'vector', 1)]
    >>> data.input_shape, len(data.train), len(data.val), len(data.test)
    ((34,), 140, 30, 30)
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import torch
from torch import Tensor

from mtlgroup.data.base import MultiTaskData, TensorSplit
from mtlgroup.data.registry import DatasetEntry, register_dataset
from mtlgroup.tasks import ACCURACY_METRIC, Metric, Task, TaskSet, l1_per_sample

if TYPE_CHECKING:
    import pandas as pd

TABLE_VERSION = 1
"""Bump when a change to the encoding changes the tensors: it is part of the ``spec``."""

TableKind = Literal["regression", "binary", "multiclass"]
KINDS: tuple[str, ...] = ("regression", "binary", "multiclass")
SPLITS: tuple[str, ...] = ("train", "val", "test")
READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
REGRESSION_LOSSES = ("l1", "l2")
EXAMPLE_TARGETS: tuple[str, ...] = ("sales", "returns", "rating", "churn", "category", "margin")
"""The target columns of :func:`write_example_table` (its other columns are features)."""
MISSING_CATEGORY = "<missing>"
"""The category a missing categorical feature becomes under ``impute="mean"``."""


@dataclass(frozen=True)
class ScaledL1:
    """Per-sample L1 times ``scale``: the error of a standardised target in its own units.

    A dataclass rather than a closure so that two loads of the same table give equal tasks.
    """

    scale: float

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return l1_per_sample(pred, target) * self.scale


@dataclass(frozen=True)
class TargetEncoding:
    """How one target column became a task's targets.

    ``mean``/``std`` (regression): prediction ``p`` means ``p * std + mean`` in the column's
    units. ``classes`` (classification): class index ``i`` means ``classes[i]``.
    """

    column: str
    kind: TableKind
    loss: str
    missing: int
    mean: float | None = None
    std: float | None = None
    classes: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class FeatureEncoding:
    """How one feature column became input columns ``names`` (one, or one per category)."""

    column: str
    kind: Literal["numeric", "categorical"]
    names: tuple[str, ...]
    mean: float | None = None
    std: float | None = None
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TableSchema:
    """The encoding of a loaded table, to read predictions and inputs back in its terms."""

    path: str
    features: tuple[FeatureEncoding, ...]
    targets: tuple[TargetEncoding, ...]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Name of each input column: ``price`` or, one-hot, ``region=north``."""
        return tuple(name for feature in self.features for name in feature.names)


@dataclass
class TableData(MultiTaskData):
    """A :class:`~mtlgroup.data.base.MultiTaskData` that also carries its :class:`TableSchema`."""

    schema: TableSchema | None = None


class _Table:
    """The parsed file with the names used in error messages."""

    def __init__(self, path: Path, frame: pd.DataFrame, digest: str, blank: Sequence[str] = ()):
        self.path, self.frame, self.digest = path, frame, digest
        self.blank = tuple(blank)
        """Columns whose header was blank (pandas names them ``Unnamed: i``)."""

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}: {message}")


def load_table(
    path: str | Path,
    targets: str | Sequence[str],
    features: str | Sequence[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    losses: str | Mapping[str, str] | None = None,
    split: str | None = None,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    impute: str | None = None,
    max_categories: int = 50,
    max_classes: int = 10,
) -> TableData:
    """Load a CSV or Parquet table as a multi-task dataset (see the module docstring).

    Args:
        path: a ``.csv``, ``.parquet`` or ``.pq`` file, relative to the working directory.
            CSV is read as UTF-8 (a byte-order mark is accepted); empty cells are missing.
        targets: the target columns, one task each (a list, or one comma-separated string).
        features: the input columns (default: every column that is neither a target nor the
            ``split`` column).
        kinds: ``{column: "regression" | "binary" | "multiclass"}`` for targets whose inferred
            kind is not the one wanted.
        losses: loss of regression targets: ``"l1"`` (default) or ``"l2"``, for all of them
            (a string) or per column (a mapping). Classification always uses ``cross_entropy``.
        split: a column whose values are ``train``, ``val`` or ``test``; without it rows are
            shuffled with ``seed`` and cut by ``fractions``.
        fractions: train, val and test shares of the rows (each > 0, summing to 1).
        seed: seed of the random split.
        impute: ``None`` (missing feature values are an error) or ``"mean"``.
        max_categories: most distinct values a text feature may have; more looks like an id or
            free text and is an error.
        max_classes: a numeric target of whole numbers with at most this many distinct values
            is inferred to be a classification target (else regression).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: anything else wrong with the file or the options; the message names the
            file and the column or option.
    """
    file = _resolve(path)
    options = _Options.parse(file, targets, features, kinds, losses, split, fractions, seed,
                             impute, max_categories, max_classes)
    table = _read(file)
    frame = table.frame
    columns = list(frame.columns)
    for column in [*options.targets, *(options.features or []),
                   *([options.split] if options.split else [])]:
        if column not in columns:
            raise table.error(f"no column {column!r}; columns: {_shorten(columns)}")
    if options.split is not None and options.split in options.targets:
        raise table.error(f"column {options.split!r} is both the split column and a target")
    feature_columns = _feature_columns(table, options)
    if len(frame) == 0:
        raise table.error("the table has no data rows")

    rows = _split_rows(table, options)
    encoded_features = [_encode_feature(table, c, rows["train"], options) for c in feature_columns]
    inputs = torch.from_numpy(np.concatenate([block for block, _ in encoded_features], axis=1))
    encoded_targets = [_encode_target(table, c, rows, options) for c in options.targets]

    tasks = TaskSet(task for task, _, _, _ in encoded_targets)
    splits = {}
    for name, index in rows.items():
        position = torch.from_numpy(index)
        splits[name] = TensorSplit(
            inputs[position],
            {task.name: values[position] for task, values, _, _ in encoded_targets},
            {task.name: mask[position] for task, _, mask, encoding in encoded_targets
             if encoding.missing},
        )
    schema = TableSchema(
        path=str(file),
        features=tuple(encoding for _, encoding in encoded_features),
        targets=tuple(encoding for _, _, _, encoding in encoded_targets),
    )
    spec = {
        "name": "table",
        "version": TABLE_VERSION,
        "path": str(file),
        "sha256": table.digest,
        "targets": list(options.targets),
        "kinds": {t.column: t.kind for t in schema.targets},
        "losses": {t.column: t.loss for t in schema.targets},
        "features": feature_columns,
        "split": ({"column": options.split} if options.split is not None
                  else {"fractions": list(options.fractions), "seed": options.seed}),
        "impute": options.impute,
        "max_categories": options.max_categories,
        "max_classes": options.max_classes,
    }
    return TableData(
        name="table",
        tasks=tasks,
        input_shape=(int(inputs.shape[1]),),
        spec=spec,
        schema=schema,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
    )


@dataclass(frozen=True)
class _Options:
    """The options of :func:`load_table`, checked and normalised."""

    targets: tuple[str, ...]
    features: tuple[str, ...] | None
    kinds: dict[str, str]
    losses: dict[str, str]
    default_loss: str
    split: str | None
    fractions: tuple[float, float, float]
    seed: int
    impute: str | None
    max_categories: int
    max_classes: int

    @staticmethod
    def parse(
        file: Path,
        targets: str | Sequence[str],
        features: str | Sequence[str] | None,
        kinds: Mapping[str, str] | None,
        losses: str | Mapping[str, str] | None,
        split: str | None,
        fractions: Sequence[float],
        seed: int,
        impute: str | None,
        max_categories: int,
        max_classes: int,
    ) -> _Options:
        def fail(message: str) -> ValueError:
            return ValueError(f"{file}: {message}")

        target_list = _names(targets, "targets", fail)
        if not target_list:
            raise fail("targets is empty; name at least one target column")
        feature_list = None if features is None else _names(features, "features", fail)
        if feature_list is not None:
            if not feature_list:
                raise fail("features is empty; name at least one feature column or leave it out")
            both = [c for c in feature_list if c in target_list]
            if both:
                raise fail(f"column {both[0]!r} is both a target and a feature")
            if split is not None and split in feature_list:
                raise fail(f"column {split!r} is both the split column and a feature")
        if split is not None and not isinstance(split, str):
            raise fail(f"split must be a column name, got {split!r}")

        if kinds is not None and not isinstance(kinds, Mapping):
            raise fail(f"kinds must map target columns to kinds, got {kinds!r}")
        kind_map = dict(kinds or {})
        for column, kind in kind_map.items():
            if column not in target_list:
                raise fail(f"kinds names {column!r}, which is not a target ({target_list})")
            if kind not in KINDS:
                raise fail(f"kinds[{column!r}] is {kind!r}; expected one of {', '.join(KINDS)}")

        default_loss = "l1"
        loss_map: dict[str, str] = {}
        if isinstance(losses, str):
            # One name for the whole table sets the loss of its regression targets.
            if losses not in REGRESSION_LOSSES:
                raise fail(f"losses is {losses!r}; expected l1 or l2 (the loss of every "
                           "regression target) or a mapping from column to loss")
            default_loss = losses
        elif isinstance(losses, Mapping):
            loss_map = dict(losses)
        elif losses is not None:
            raise fail(f"losses must be a loss name or a mapping from column to loss, got "
                       f"{losses!r}")
        for column, loss in loss_map.items():
            if loss not in (*REGRESSION_LOSSES, "cross_entropy"):
                raise fail(f"losses[{column!r}] is {loss!r}; expected l1 or l2 (regression) or "
                           "cross_entropy (classification)")
        for column in loss_map:
            if column not in target_list:
                raise fail(f"losses names {column!r}, which is not a target ({target_list})")

        parts = tuple(fractions) if isinstance(fractions, (list, tuple)) else ()
        numeric = all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in parts)
        if (len(parts) != 3 or not numeric or not all(math.isfinite(f) and f > 0 for f in parts)
                or abs(sum(parts) - 1.0) > 1e-6):
            raise fail(f"fractions must be three positive numbers (train, val, test) summing to "
                       f"1, got {fractions!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise fail(f"seed must be an integer, got {seed!r}")
        if impute not in (None, "mean"):
            raise fail(f"impute must be null or 'mean', got {impute!r}")
        for key, value in (("max_categories", max_categories), ("max_classes", max_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise fail(f"{key} must be an integer >= 2, got {value!r}")
        return _Options(
            targets=tuple(target_list),
            features=None if feature_list is None else tuple(feature_list),
            kinds=kind_map,
            losses=loss_map,
            default_loss=default_loss,
            split=split,
            fractions=(float(parts[0]), float(parts[1]), float(parts[2])),
            seed=seed,
            impute=impute,
            max_categories=max_categories,
            max_classes=max_classes,
        )


def _names(
    value: str | Sequence[str], key: str, fail: Callable[[str], ValueError]
) -> list[str]:
    """Column names from a list or a comma-separated string; repeats are an error."""
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        names = list(value)
    else:
        raise fail(f"{key} must be a list of column names, got {value!r}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise fail(f"{key} lists column {repeated[0]!r} twice")
    return names


def _resolve(path: str | Path) -> Path:
    file = Path(path).expanduser().resolve()
    if not file.exists():
        raise FileNotFoundError(f"table file {path} not found (looked for {file})")
    if not file.is_file():
        raise ValueError(f"{file}: not a file")
    if file.suffix.lower() not in READERS:
        raise ValueError(f"{file}: unsupported table format {file.suffix!r}; expected "
                         f"{', '.join(READERS)}")
    return file


def absolute_path(options: dict[str, Any]) -> dict[str, Any]:
    """The options with ``path`` made absolute (relative to the working directory now), so
    that workers started elsewhere read the same file."""
    return {**options, "path": str(Path(options["path"]).expanduser().absolute())}


def table_identity(path: str | Path, **_: Any) -> dict[str, Any]:
    """The content of the file a table's options name (its sha256) and this loader's version:
    part of every job key, so a study never reuses results trained on an older version of the
    file (the options already hold its absolute path)."""
    file = _resolve(path)
    stat = file.stat()
    return {"sha256": _file_digest(file, stat.st_mtime_ns, stat.st_size),
            "version": TABLE_VERSION}


@functools.lru_cache(maxsize=16)
def _file_digest(file: Path, mtime_ns: int, size: int) -> str:
    # Keyed by modification time and size as well: the file is hashed again only when it may
    # have changed, not at every job key and cache lookup.
    return hashlib.sha256(file.read_bytes()).hexdigest()


def read_frame(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame, read and checked as :func:`load_table` reads
    tables (one-line ``ValueError`` naming the file otherwise); for new rows to predict on."""
    return _read(_resolve(path)).frame


def _read(file: Path) -> _Table:
    """Read ``file`` once: hash its bytes and parse those same bytes (no race with an edit)."""
    import pandas as pd

    raw = file.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if READERS[file.suffix.lower()] == "csv":
        if b"\x00" in raw[:65536]:
            raise ValueError(f"{file}: cannot read as CSV: it looks like a binary file")
        header = _csv_header(file, raw)
        try:
            # numpy_nullable keeps an integer column with gaps integer (NumPy would make it
            # float), so its classes read 1, 2 and not 1.0, 2.0, and gives one NA for gaps.
            frame = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig",
                                dtype_backend="numpy_nullable")
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise ValueError(f"{file}: cannot read as CSV: {_first_line(error)}") from None
        if not isinstance(frame.index, pd.RangeIndex) or len(frame.columns) != len(header):
            # pandas silently turns the first field into an index when every row has one field
            # more than the header.
            raise ValueError(f"{file}: cannot read as CSV: the rows have more fields than the "
                             f"header ({len(header)} names)")
        # The raw names, where pandas would have renamed repeated ones (x.1); blank ones keep
        # pandas's unique "Unnamed: i".
        blank = [name for name, raw_name in zip(frame.columns, header, strict=True)
                 if not raw_name.strip()]
        frame.columns = [raw_name if raw_name.strip() else name
                         for name, raw_name in zip(frame.columns, header, strict=True)]
        return _Table(file, frame, digest, blank)

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        header = list(pq.read_schema(io.BytesIO(raw)).names)
        _check_header(file, header)
        frame = pd.read_parquet(io.BytesIO(raw), dtype_backend="numpy_nullable")
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{file}: cannot read as Parquet: {_first_line(error)}") from None
    frame.columns = [str(name) for name in frame.columns]
    return _Table(file, frame, digest)


def _csv_header(file: Path, raw: bytes) -> list[str]:
    """The CSV header as written, read with the csv module (pandas mangles ``x, x`` into
    ``x, x.1``, which would hide a duplicate)."""
    try:
        text = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="")
        header = next(csv.reader(text), None)
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{file}: cannot read as CSV (UTF-8 text expected): "
                         f"{_first_line(error)}") from None
    if not header:
        raise ValueError(f"{file}: the file is empty (no header row)")
    _check_header(file, header)
    return header


def _check_header(file: Path, header: Sequence[str]) -> None:
    names = [n for n in header if n.strip()]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{file}: duplicated column name {repeated[0]!r}; column names must be "
                         "unique")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _shorten(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _feature_columns(table: _Table, options: _Options) -> list[str]:
    if options.features is not None:
        return list(options.features)
    excluded = {*options.targets, options.split}
    columns = [c for c in table.frame.columns if c not in excluded]
    blank = [c for c in columns if c in table.blank]
    if blank:
        # Typically a row index saved by DataFrame.to_csv without index=False: as a feature it
        # would be an id, so ask instead of silently learning from it.
        position = list(table.frame.columns).index(blank[0]) + 1
        raise table.error(f"column {position} has no name (often a saved row index); name it, "
                          "or list the features explicitly")
    if not columns:
        raise table.error("no feature columns: every column is a target or the split column")
    return columns


def _split_rows(table: _Table, options: _Options) -> dict[str, np.ndarray]:
    """Row positions (sorted) of each split."""
    n = len(table.frame)
    if options.split is not None:
        series = table.frame[options.split]
        values = series.astype("string").str.strip()
        valid = values.isin(SPLITS).fillna(False).to_numpy(dtype=bool)
        if not valid.all():
            bad = values[~valid].fillna("<missing>").value_counts()
            listed = ", ".join(f"{value!r} ({count} rows)" for value, count in bad.head(5).items())
            raise table.error(f"split column {options.split!r} must hold train, val or test; "
                              f"found {listed}")
        labels = values.to_numpy(dtype=object)
        rows = {name: np.flatnonzero(labels == name) for name in SPLITS}
        how = f"in split column {options.split!r}"
    else:
        order = np.random.default_rng(options.seed).permutation(n)
        n_train = round(options.fractions[0] * n)
        n_val = round(options.fractions[1] * n)
        n_train = min(n_train, n)
        n_val = min(n_val, n - n_train)
        cuts = {"train": order[:n_train], "val": order[n_train:n_train + n_val],
                "test": order[n_train + n_val:]}
        rows = {name: np.sort(index) for name, index in cuts.items()}
        how = f"with fractions {list(options.fractions)} of {n} rows"
    for name, index in rows.items():
        if len(index) == 0:
            raise table.error(f"the {name} split is empty ({how})")
    return rows


def _column_type(series: pd.Series) -> Literal["bool", "integer", "float", "text", "other"]:
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if (pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)):
        return "text"
    return "other"


def _encode_feature(
    table: _Table, column: str, train: np.ndarray, options: _Options
) -> tuple[np.ndarray, FeatureEncoding]:
    """The float32 input block ``[n, k]`` of one feature column and how it was made."""
    series = table.frame[column]
    kind = _column_type(series)
    if kind == "other":
        raise table.error(f"feature column {column!r} has unsupported dtype {series.dtype}; "
                          "convert it to numbers or text, or leave it out of features")
    missing = series.isna().to_numpy(dtype=bool)
    if missing.any() and options.impute is None:
        raise table.error(f"feature column {column!r} has {int(missing.sum())} missing values "
                          f"(of {len(series)} rows); fill them, leave the column out, or pass "
                          "impute='mean'")
    if kind in ("integer", "float"):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        if np.isinf(values).any():
            raise table.error(f"feature column {column!r} has infinite values")
        known = values[train][~missing[train]]
        if len(known) == 0:
            raise table.error(f"feature column {column!r} has no values on the training split")
        mean, std = float(known.mean()), float(known.std())
        # A constant column carries no information; dividing by 1 keeps it at zero.
        std = std if std > 0 else 1.0
        encoding = FeatureEncoding(column, "numeric", (column,), mean=mean, std=std)
        return apply_feature_encoding(encoding, series), encoding

    text = series.astype("string")
    distinct = int(text.nunique(dropna=True))
    if distinct > options.max_categories:
        raise table.error(f"feature column {column!r} has {distinct} distinct values (more than "
                          f"max_categories={options.max_categories}): it looks like an id or "
                          "free text; leave it out of features or raise max_categories")
    categories = sorted(str(v) for v in text.iloc[train].dropna().unique())
    if options.impute is not None and missing[train].any():
        categories.append(MISSING_CATEGORY)
    names = tuple(f"{column}={category}" for category in categories)
    encoding = FeatureEncoding(column, "categorical", names, categories=tuple(categories))
    return apply_feature_encoding(encoding, series), encoding


def apply_feature_encoding(encoding: FeatureEncoding, series: pd.Series) -> np.ndarray:
    """The float32 input block ``[n, len(encoding.names)]`` of a column, encoded as the
    training split was: a numeric value standardised (a missing one becomes the mean), a
    category one-hot (missing: the ``<missing>`` category when training had one; a category
    unseen in training: all zeros). Used for the training table and for new rows
    (``mtlgroup predict``).

    >>> import pandas as pd
    >>> apply_feature_encoding(FeatureEncoding("x", "numeric", ("x",), 1.0, 2.0),
    ...                        pd.Series([3.0, None])).ravel().tolist()
    [1.0, 0.0]
    """
    import pandas as pd

    if encoding.kind == "numeric":
        assert encoding.mean is not None and encoding.std is not None
        values = pd.to_numeric(series, errors="raise").to_numpy(dtype="float64", na_value=np.nan)
        filled = np.where(np.isnan(values), encoding.mean, values)
        return ((filled - encoding.mean) / encoding.std).reshape(-1, 1).astype(np.float32)
    categories = list(encoding.categories or ())
    text = series.astype("string")
    if MISSING_CATEGORY in categories:
        text = text.fillna(MISSING_CATEGORY)
    # Codes are -1 for a category unseen in training: its one-hot row stays all zero.
    codes = pd.Index(categories, dtype="string").get_indexer(text)
    block = np.zeros((len(series), len(categories)), dtype=np.float32)
    seen = codes >= 0
    block[np.flatnonzero(seen), codes[seen]] = 1.0
    return block


def _infer_kind(table: _Table, column: str, series: pd.Series, options: _Options) -> TableKind:
    """The kind of a target not declared in ``kinds`` (the rule is in the module docstring)."""
    kind = _column_type(series)
    if kind == "bool":
        return "binary"
    distinct = int(series.nunique(dropna=True))
    if kind in ("integer", "float"):
        # Judged on the values, not the storage: an integer column with a gap is often stored
        # as float (NumPy has no integer NaN), and it is still a column of class labels.
        if distinct <= options.max_classes and _whole_numbers(series):
            return "binary" if distinct == 2 else "multiclass"
        return "regression"
    if kind == "text":
        return "binary" if distinct == 2 else "multiclass"
    raise table.error(f"target column {column!r} has unsupported dtype {series.dtype}")


def _whole_numbers(series: pd.Series) -> bool:
    values = series.dropna().to_numpy(dtype="float64")
    return bool(np.all(np.isfinite(values) & (values == np.round(values))))


def _encode_target(
    table: _Table, column: str, rows: Mapping[str, np.ndarray], options: _Options
) -> tuple[Task, Tensor, Tensor, TargetEncoding]:
    """The task of one target column, its targets ``[n, ...]``, its mask ``[n]`` and encoding."""
    series = table.frame[column]
    missing = series.isna().to_numpy(dtype=bool)
    if missing.all():
        raise table.error(f"target column {column!r} has no values (all missing)")
    distinct = series.dropna().unique()
    if len(distinct) < 2:
        raise table.error(f"target column {column!r} is constant (every value is "
                          f"{_plain(distinct[0])!r}); it cannot be learned")
    declared = options.kinds.get(column)
    kind = (cast(TableKind, declared) if declared is not None
            else _infer_kind(table, column, series, options))
    loss = options.losses.get(column, options.default_loss if kind == "regression"
                              else "cross_entropy")
    if (kind == "regression") != (loss in REGRESSION_LOSSES):
        expected = "l1 or l2" if kind == "regression" else "cross_entropy"
        raise table.error(f"target column {column!r} is {kind}: its loss must be {expected}, "
                          f"got {loss!r}")
    train = rows["train"]
    labelled = train[~missing[train]]
    if len(labelled) == 0:
        raise table.error(f"target column {column!r} has no values on the training split")
    name = _task_name(table, column)

    if kind == "regression":
        if _column_type(series) not in ("integer", "float"):
            raise table.error(f"target column {column!r} is not numeric (dtype {series.dtype}), "
                              "so it cannot be a regression target; declare it binary or "
                              "multiclass in kinds")
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        if np.isinf(values).any():
            raise table.error(f"target column {column!r} has infinite values")
        mean, std = float(values[labelled].mean()), float(values[labelled].std())
        if not std > 0:
            raise table.error(f"target column {column!r} is constant on the training split")
        # A missing value is stored as 0 (the mean) and masked out: never NaN in a tensor.
        standardised = np.where(missing, 0.0, (values - mean) / std)
        task = Task(name, "vector", channels=1, loss=loss,
                    metrics=(Metric("mae", ScaledL1(std), lower_is_better=True),))
        encoding = TargetEncoding(column, kind, loss, int(missing.sum()), mean=mean, std=std)
        targets = torch.from_numpy(standardised.astype(np.float32)).reshape(-1, 1)
        return task, targets, torch.from_numpy(~missing), encoding

    import pandas as pd

    labels = _class_labels(series)
    distinct_train = labels.iloc[labelled].dropna().unique()
    classes = sorted((_plain(v) for v in distinct_train), key=_sort_key)
    if len(classes) < 2:
        raise table.error(f"target column {column!r} has only one class ({classes[0]!r}) on the "
                          "training split")
    if kind == "binary" and len(classes) > 2:
        raise table.error(f"target column {column!r} is declared binary but has "
                          f"{len(classes)} classes on the training split: {_shorten(classes)}")
    # -1 for a missing value and for a value absent from training (only possible in val/test).
    codes = pd.Index(classes, dtype=labels.dtype).get_indexer(labels)
    unseen = (codes < 0) & ~missing
    if unseen.any():
        row = int(np.flatnonzero(unseen)[0])
        split = next(name for name, index in rows.items() if row in set(index.tolist()))
        raise table.error(f"target column {column!r}: value {_plain(labels.iloc[row])!r} in the "
                          f"{split} split does not occur in the training split "
                          f"(classes {_shorten(classes)})")
    codes = np.where(missing, 0, codes).astype(np.int64)  # missing rows: class 0, masked out
    task = Task(name, "label", channels=len(classes), loss="cross_entropy",
                metrics=(ACCURACY_METRIC,))
    encoding = TargetEncoding(column, kind, "cross_entropy", int(missing.sum()),
                              classes=tuple(classes))
    return task, torch.from_numpy(codes), torch.from_numpy(~missing), encoding


def _class_labels(series: pd.Series) -> pd.Series:
    """The column as class labels: numbers and bools as they are (whole floats as integers, so
    classes read ``1, 2`` rather than ``1.0, 2.0``), anything else as text."""
    kind = _column_type(series)
    if kind == "float" and _whole_numbers(series):
        return series.astype("Int64")
    if kind in ("bool", "integer", "float"):
        return series
    return series.astype("string")


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (for JSON and readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers sort numerically, text alphabetically; a mix (only from object columns) by type.
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def _task_name(table: _Table, column: str) -> str:
    try:
        Task(column, "vector", 1)
    except ValueError:
        raise table.error(f"target column {column!r} cannot name a task (task names have no "
                          "spaces or any of + / @ , .); rename the column") from None
    return column


def write_example_table(path: str | Path, n_rows: int = 3000, seed: int = 0) -> Path:
    """Write a synthetic retail table with three planted clusters of related targets.

    Each row is one product listing at one store. Three latent factors each drive two targets,
    and each reads its own features, so tasks within a cluster share what they must learn while
    tasks of different clusters do not:

    * **demand** → ``sales`` (regression) and ``returns`` (regression, ~10% missing): driven by
      ``price``, ``promo``, ``temperature``, ``ad_spend``, ``region`` and ``weekday``.
    * **satisfaction** → ``rating`` (integer 1-5, multiclass, ~5% missing) and ``churn``
      (``yes``/``no``, binary): driven by the ``store`` (each has a hidden quality),
      ``delivery_days`` and ``discount``.
    * **product** → ``category`` (four classes, multiclass) and ``margin`` (regression): driven
      by ``size_cm`` and ``weight_kg``.

    The file is CSV unless ``path`` ends in ``.parquet`` or ``.pq``; the same ``seed`` gives the
    same file. Returns the path written.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> path = write_example_table(Path(tempfile.mkdtemp()) / "shop.csv", n_rows=50)
        >>> path.read_text().splitlines()[0]
        'store,region,price,promo,temperature,ad_spend,weekday,discount,delivery_days,size_cm,weight_kg,sales,returns,rating,churn,category,margin'
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer, got {n_rows!r}")
    rng = np.random.default_rng(seed)
    n = n_rows

    stores = [f"S{i:02d}" for i in range(1, 21)]
    regions = ["north", "south", "east", "west"]
    store_quality = rng.normal(0.0, 1.0, len(stores))
    store_region = rng.integers(0, len(regions), len(stores))
    region_demand = np.array([0.3, -0.2, 0.1, -0.3])

    store = rng.integers(0, len(stores), n)
    region = store_region[store]
    price = rng.lognormal(3.0, 0.4, n)
    promo = rng.random(n) < 0.3
    temperature = rng.normal(15.0, 8.0, n)
    ad_spend = rng.gamma(2.0, 50.0, n)
    weekday = rng.integers(0, 7, n)
    discount = rng.uniform(0.0, 0.3, n)
    delivery_days = rng.integers(1, 10, n)
    size_cm = rng.uniform(5.0, 50.0, n)
    weight_kg = rng.uniform(0.1, 10.0, n)

    demand = (-0.8 * (np.log(price) - 3.0) / 0.4 + 0.7 * promo + 0.4 * (temperature - 15.0) / 8.0
              + 0.5 * (np.log(ad_spend) - 4.4) + region_demand[region] + 0.3 * (weekday >= 5)
              + rng.normal(0.0, 0.3, n))
    sales = 100.0 * np.exp(0.4 * demand) + rng.normal(0.0, 5.0, n)
    # Heavy-demand listings are bought on impulse and returned more often.
    returns = 0.05 * sales * (1.0 + 1.0 / (1.0 + np.exp(-demand))) + rng.normal(0.0, 1.0, n)
    returns_missing = rng.random(n) < 0.10

    satisfaction = (store_quality[store] - 0.6 * (delivery_days - 5.0) / 2.6
                    + 0.5 * (discount - 0.15) / 0.087 + rng.normal(0.0, 0.4, n))
    rating = np.clip(np.round(3.0 + satisfaction + rng.normal(0.0, 0.5, n)), 1, 5).astype(int)
    rating_missing = rng.random(n) < 0.05
    churn = satisfaction + rng.normal(0.0, 0.5, n) < -0.6

    big, heavy = (size_cm - 27.5) / 13.0, (weight_kg - 5.05) / 2.86
    scores = np.stack([big + heavy, big - heavy, -big + heavy, -big - heavy], axis=1)
    category = np.argmax(scores + rng.normal(0.0, 0.4, scores.shape), axis=1)
    categories = ["furniture", "apparel", "tools", "accessories"]
    margin = 0.25 + 0.08 * big * heavy - 0.05 * heavy + rng.normal(0.0, 0.02, n)

    import pandas as pd

    frame = pd.DataFrame({
        "store": np.array(stores)[store],
        "region": np.array(regions)[region],
        "price": np.round(price, 2),
        "promo": promo,
        "temperature": np.round(temperature, 1),
        "ad_spend": np.round(ad_spend, 2),
        "weekday": weekday,
        "discount": np.round(discount, 3),
        "delivery_days": delivery_days,
        "size_cm": np.round(size_cm, 1),
        "weight_kg": np.round(weight_kg, 2),
        "sales": np.round(sales, 2),
        "returns": pd.array(np.round(returns, 2), dtype="Float64"),
        "rating": pd.array(rating, dtype="Int64"),
        "churn": np.where(churn, "yes", "no"),
        "category": np.array(categories)[category],
        "margin": np.round(margin, 4),
    })
    frame.loc[returns_missing, "returns"] = pd.NA
    frame.loc[rating_missing, "rating"] = pd.NA
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    if file.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(file, index=False)
    else:
        frame.to_csv(file, index=False)
    return file


TABLE = register_dataset(
    DatasetEntry(
        name="table",
        description="a CSV or Parquet file of your own: one task per target column "
        "(data: {path: FILE, targets: [COLUMN, ...]}; see docs/your-data.md)",
        tasks=None,  # the target columns: known once the file is named
        load=load_table,
        task_sets={},
        identify=table_identity,
        resolve=absolute_path,
    )
)
