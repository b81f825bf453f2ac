"""The ``table`` dataset: kinds, encodings from training statistics only, splits, masks, the
spec, every bad-input error, and a short training run of an MLP on a table."""

from __future__ import annotations

import doctest
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mtlgroup.data import table
from mtlgroup.data.base import MultiTaskData, TensorSplit
from mtlgroup.data.table import (
    EXAMPLE_TARGETS,
    MISSING_CATEGORY,
    TableData,
    load_table,
    write_example_table,
)
from mtlgroup.models.mlp import mlp_network
from mtlgroup.training import TrainConfig, Trainer


def write(tmp_path: Path, text: str, name: str = "t.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def frame_file(tmp_path: Path, frame: pd.DataFrame, name: str = "t.csv") -> Path:
    path = tmp_path / name
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def split_column(n: int, n_val: int = 10, n_test: int = 10) -> list[str]:
    return ["train"] * (n - n_val - n_test) + ["val"] * n_val + ["test"] * n_test


def mixed_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """One column of every kind the loader infers, with a split column."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "y_float": rng.normal(10.0, 3.0, n),
        "y_few_ints": rng.integers(0, 4, n),
        "y_many_ints": rng.integers(0, 1000, n),
        "y_bool": rng.random(n) < 0.5,
        "y_two_words": rng.choice(["no", "yes"], n),
        "y_three_words": np.array(["a", "b", "c"])[np.arange(n) % 3],
        "split": split_column(n),
    })


@pytest.fixture(scope="module")
def example_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_example_table(tmp_path_factory.mktemp("example") / "shop.csv", n_rows=600)


# --- the example table -------------------------------------------------------------------------


def test_example_table_loads_with_its_six_tasks(example_csv: Path):
    data = load_table(example_csv, EXAMPLE_TARGETS)
    assert isinstance(data, MultiTaskData) and isinstance(data, TableData)
    assert data.tasks.names == EXAMPLE_TARGETS
    assert data.spec["kinds"] == {
        "sales": "regression", "returns": "regression", "rating": "multiclass",
        "churn": "binary", "category": "multiclass", "margin": "regression",
    }
    assert data.tasks["rating"].channels == 5 and data.tasks["category"].channels == 4
    assert data.input_shape == (len(data.schema.feature_names),)
    assert data.train.inputs.dtype == torch.float32
    assert (len(data.train), len(data.val), len(data.test)) == (420, 90, 90)
    # returns and rating have planted gaps; the other targets are complete.
    assert set(data.train.masks) == {"returns", "rating"}


def test_example_table_is_deterministic_and_has_its_planted_clusters(tmp_path: Path):
    a = write_example_table(tmp_path / "a.csv", n_rows=3000, seed=1)
    b = write_example_table(tmp_path / "b.csv", n_rows=3000, seed=1)
    assert a.read_bytes() == b.read_bytes()
    frame = pd.read_csv(a)
    frame["churn"] = (frame["churn"] == "yes").astype(float)
    frame["category"] = frame["category"].astype("category").cat.codes.astype(float)
    corr = frame[["sales", "returns", "rating", "churn", "margin"]].corr().abs()
    assert corr.loc["sales", "returns"] > 0.5  # demand cluster
    assert corr.loc["rating", "churn"] > 0.3  # satisfaction cluster
    for inside, outside in [("sales", "rating"), ("sales", "churn"), ("rating", "margin"),
                            ("returns", "margin")]:
        assert corr.loc[inside, outside] < 0.1


# --- kinds ---------------------------------------------------------------------------------------


def test_kinds_are_inferred_from_the_columns(tmp_path: Path):
    targets = ["y_float", "y_few_ints", "y_many_ints", "y_bool", "y_two_words", "y_three_words"]
    data = load_table(frame_file(tmp_path, mixed_frame()), targets, split="split")
    assert data.spec["kinds"] == {
        "y_float": "regression", "y_few_ints": "multiclass", "y_many_ints": "regression",
        "y_bool": "binary", "y_two_words": "binary", "y_three_words": "multiclass",
    }
    kinds = {t.name: (t.kind, t.channels, t.loss) for t in data.tasks}
    assert kinds["y_float"] == ("vector", 1, "l1")
    assert kinds["y_few_ints"] == ("label", 4, "cross_entropy")
    assert kinds["y_bool"] == ("label", 2, "cross_entropy")
    assert data.spec["features"] == ["x", "colour"]


def test_whole_numbers_stored_as_float_because_of_a_gap_are_classes(tmp_path: Path):
    frame = pd.DataFrame({"x": np.arange(30.0), "rating": [1, 2, 3, 4, 5] * 6})
    frame["rating"] = frame["rating"].astype(float)
    frame.loc[4, "rating"] = np.nan
    data = load_table(frame_file(tmp_path, frame, "t.parquet"), ["rating"])
    assert data.spec["kinds"] == {"rating": "multiclass"}
    assert data.schema.targets[0].classes == (1, 2, 3, 4, 5)


def test_declared_kinds_override_the_inference(tmp_path: Path):
    path = frame_file(tmp_path, mixed_frame())
    data = load_table(path, ["y_few_ints", "y_two_words"], split="split",
                      kinds={"y_few_ints": "regression", "y_two_words": "multiclass"})
    assert data.spec["kinds"] == {"y_few_ints": "regression", "y_two_words": "multiclass"}
    assert data.tasks["y_few_ints"].kind == "vector"
    assert (data.tasks["y_two_words"].kind, data.tasks["y_two_words"].channels) == ("label", 2)


def test_classes_are_the_sorted_training_values(tmp_path: Path):
    data = load_table(frame_file(tmp_path, mixed_frame()), ["y_three_words"], split="split")
    encoding = data.schema.targets[0]
    assert encoding.classes == ("a", "b", "c")
    expected = torch.tensor([0, 1, 2] * 14)[: len(data.train)]
    assert torch.equal(data.train.targets["y_three_words"], expected)


def test_regression_losses_per_table_and_per_column(tmp_path: Path):
    path = frame_file(tmp_path, mixed_frame())
    data = load_table(path, ["y_float", "y_many_ints"], split="split", losses="l2")
    assert [t.loss for t in data.tasks] == ["l2", "l2"]
    data = load_table(path, ["y_float", "y_many_ints"], split="split", losses={"y_float": "l2"})
    assert [t.loss for t in data.tasks] == ["l2", "l1"]


# --- encodings use training statistics only ----------------------------------------------------


def shifted_frame(n: int = 40) -> pd.DataFrame:
    """Val and test rows sit far from the training rows, in features and target."""
    split = split_column(n)
    offset = np.array([0.0 if s == "train" else 100.0 for s in split])
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=n) + offset, "y": rng.normal(size=n) * 5 + offset,
                         "split": split})


def test_standardisation_uses_training_statistics_only(tmp_path: Path):
    frame = shifted_frame()
    data = load_table(frame_file(tmp_path, frame), ["y"], split="split")
    train = frame[frame["split"] == "train"]
    x_train, y_train = data.train.inputs[:, 0], data.train.targets["y"][:, 0]
    assert float(x_train.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(x_train.std(unbiased=False)) == pytest.approx(1.0, rel=1e-4)
    assert float(y_train.mean()) == pytest.approx(0.0, abs=1e-5)
    # Val is 100 units away: standardised with training statistics it stays far from 0.
    assert float(data.val.inputs[:, 0].mean()) > 20
    assert float(data.val.targets["y"].mean()) > 5
    target = data.schema.targets[0]
    assert target.mean == pytest.approx(train["y"].mean())
    assert target.std == pytest.approx(train["y"].std(ddof=0))
    feature = data.schema.features[0]
    assert (feature.mean, feature.std) == pytest.approx((train["x"].mean(), train["x"].std(ddof=0)))


def test_regression_metric_is_in_the_columns_units(tmp_path: Path):
    data = load_table(frame_file(tmp_path, shifted_frame()), ["y"], split="split")
    task, std = data.tasks["y"], data.schema.targets[0].std
    metric = next(m for m in task.metrics if m.name == "mae")
    pred, target = torch.zeros(4, 1), torch.ones(4, 1)
    assert torch.allclose(metric.fn(pred, target), torch.full((4,), std))
    # Equal loads give equal tasks (the metric is a value, not a closure).
    again = load_table(frame_file(tmp_path, shifted_frame()), ["y"], split="split")
    assert again.tasks["y"] == task


def test_one_hot_uses_the_training_categories(tmp_path: Path):
    frame = pd.DataFrame({
        "colour": ["red", "blue"] * 10 + ["green", "red", "purple", "blue"],
        "y": np.arange(24.0),
        "split": ["train"] * 20 + ["val", "val", "test", "test"],
    })
    data = load_table(frame_file(tmp_path, frame), ["y"], split="split")
    assert data.schema.feature_names == ("colour=blue", "colour=red")
    # Unseen in training (green, purple): an all-zero row.
    assert data.val.inputs.tolist() == [[0.0, 0.0], [0.0, 1.0]]
    assert data.test.inputs.tolist() == [[0.0, 0.0], [1.0, 0.0]]
    assert data.train.inputs.sum(dim=1).eq(1).all()


# --- masks ---------------------------------------------------------------------------------------


def test_missing_targets_mask_only_their_task(tmp_path: Path):
    path = write(tmp_path, "x,a,b\n" + "".join(
        f"{i},{'' if i % 4 == 0 else i * 0.5},{['u', 'v', ''][i % 3]}\n" for i in range(30)
    ))
    data = load_table(path, ["a", "b"], fractions=[0.5, 0.25, 0.25])
    for split in (data.train, data.val, data.test):
        assert set(split.masks) == {"a", "b"}
        assert torch.isfinite(split.targets["a"]).all()
    everything = torch.cat([data.train.inputs, data.val.inputs, data.test.inputs])
    masks = torch.cat([data.train.masks["a"], data.val.masks["a"], data.test.masks["a"]])
    assert int((~masks).sum()) == 8  # rows 0, 4, ..., 28
    assert data.schema.targets[0].missing == 8 and data.schema.targets[1].missing == 10
    assert everything.shape == (30, 1)
    batch = data.train.take(torch.arange(len(data.train)))
    pred = torch.zeros(len(batch), 1, requires_grad=True)
    loss = data.tasks["a"].masked_loss(pred, batch.targets["a"], batch.mask("a"))
    assert math.isfinite(float(loss.detach()))


def test_complete_targets_have_no_mask(tmp_path: Path):
    data = load_table(frame_file(tmp_path, mixed_frame()), ["y_float"], split="split")
    assert data.train.masks == {}


# --- splits --------------------------------------------------------------------------------------


def test_split_column(tmp_path: Path):
    frame = mixed_frame()
    frame["split"] = ["test", "val", "train"] * 20
    data = load_table(frame_file(tmp_path, frame), ["y_float"], split="split")
    assert (len(data.train), len(data.val), len(data.test)) == (20, 20, 20)
    assert data.spec["split"] == {"column": "split"}
    assert "split" not in data.spec["features"]
    expected = (frame["x"][frame["split"] == "val"] - frame["x"][frame["split"] == "train"].mean())
    expected /= frame["x"][frame["split"] == "train"].std(ddof=0)
    assert np.allclose(data.val.inputs[:, 0].numpy(), expected.to_numpy(), atol=1e-5)


def all_inputs_rows(data: MultiTaskData) -> dict[str, set[float]]:
    # Column x holds the row number, so a split's rows can be read off its (standardised) inputs.
    assert isinstance(data, TableData)
    feature = data.schema.features[0]
    rows = {}
    for name in ("train", "val", "test"):
        split = data.split(name)
        assert isinstance(split, TensorSplit)
        raw = split.inputs[:, 0].double() * feature.std + feature.mean
        rows[name] = {round(float(v)) for v in raw}
    return rows


def test_seeded_fractions_are_deterministic_disjoint_and_sized(tmp_path: Path):
    path = write(tmp_path, "x,y\n" + "".join(f"{i},{i % 7 * 1.5}\n" for i in range(200)))
    first = all_inputs_rows(load_table(path, ["y"], seed=3))
    again = all_inputs_rows(load_table(path, ["y"], seed=3))
    other = all_inputs_rows(load_table(path, ["y"], seed=4))
    assert first == again and first != other
    assert [len(first[s]) for s in ("train", "val", "test")] == [140, 30, 30]
    assert first["train"] | first["val"] | first["test"] == set(range(200))
    assert not (first["train"] & first["val"] or first["val"] & first["test"])
    sizes = all_inputs_rows(load_table(path, ["y"], fractions=[0.5, 0.3, 0.2]))
    assert [len(sizes[s]) for s in ("train", "val", "test")] == [100, 60, 40]


# --- formats -------------------------------------------------------------------------------------


def test_parquet_round_trip_gives_the_same_data(tmp_path: Path):
    csv = write_example_table(tmp_path / "shop.csv", n_rows=300, seed=2)
    parquet = write_example_table(tmp_path / "shop.parquet", n_rows=300, seed=2)
    pq = write_example_table(tmp_path / "shop.pq", n_rows=300, seed=2)
    a, b, c = (load_table(p, EXAMPLE_TARGETS) for p in (csv, parquet, pq))
    assert a.spec["kinds"] == b.spec["kinds"] == c.spec["kinds"]
    assert a.schema.feature_names == b.schema.feature_names
    for split in ("train", "val", "test"):
        left, right = a.split(split), b.split(split)
        assert isinstance(left, TensorSplit) and isinstance(right, TensorSplit)
        assert torch.allclose(left.inputs, right.inputs)
        for name in EXAMPLE_TARGETS:
            assert torch.allclose(left.targets[name].float(), right.targets[name].float())
        assert left.masks.keys() == right.masks.keys()


def test_a_byte_order_mark_is_accepted(tmp_path: Path):
    rows = "".join(f"{i % 5},{i}\n" for i in range(20))
    path = write(tmp_path, "label,x\n" + rows, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    data = load_table(path, ["label"])
    assert data.tasks.names == ("label",) and data.spec["features"] == ["x"]


def test_relative_paths_are_resolved_from_the_working_directory(tmp_path: Path, monkeypatch):
    write(tmp_path, "x,y\n" + "".join(f"{i},{i % 3 * 2.5 + i}\n" for i in range(20)))
    monkeypatch.chdir(tmp_path)
    data = load_table("t.csv", ["y"])
    assert data.spec["path"] == str((tmp_path / "t.csv").resolve())


# --- the spec ------------------------------------------------------------------------------------


def test_spec_identifies_the_data_and_changes_with_the_file(tmp_path: Path):
    path = write(tmp_path, "x,y\n" + "".join(f"{i},{i * 1.5}\n" for i in range(20)))
    spec = dict(load_table(path, ["y"]).spec)
    assert json.loads(json.dumps(spec)) == spec
    assert spec["name"] == "table" and spec["version"] == table.TABLE_VERSION
    assert Path(spec["path"]).is_absolute()
    assert len(spec["sha256"]) == 64
    assert spec["targets"] == ["y"] and spec["features"] == ["x"]
    assert spec["split"] == {"fractions": [0.7, 0.15, 0.15], "seed": 0}
    assert load_table(path, ["y"]).spec == spec
    assert load_table(path, ["y"], seed=1).spec != spec
    path.write_text(path.read_text() + "20,31.0\n")
    assert load_table(path, ["y"]).spec["sha256"] != spec["sha256"]


# --- imputation ----------------------------------------------------------------------------------


def test_missing_features_need_impute(tmp_path: Path):
    path = write(tmp_path, "num,cat,y\n" + "".join(
        f"{'' if i in (1, 5) else i},{'' if i == 2 else ['a', 'b'][i % 2]},{i * 0.5}\n"
        for i in range(20)
    ))
    with pytest.raises(ValueError, match=r"t\.csv: feature column 'num' has 2 missing values"):
        load_table(path, ["y"])
    data = load_table(path, ["y"], features=["num", "cat"], impute="mean",
                      fractions=[0.5, 0.25, 0.25], seed=0)
    inputs = torch.cat([data.train.inputs, data.val.inputs, data.test.inputs])
    assert torch.isfinite(inputs).all()
    names = data.schema.feature_names
    assert names[0] == "num" and set(names[1:]) <= {"cat=a", "cat=b", f"cat={MISSING_CATEGORY}"}
    # A gap in a numeric feature becomes the training mean: 0 once standardised.
    assert (inputs[:, 0] == 0).sum() >= 2


# --- errors --------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.csv"):
        load_table(tmp_path / "nothere.csv", ["y"])


def test_unsupported_suffix(tmp_path: Path):
    path = write(tmp_path, "x,y\n1,2\n", name="t.xlsx")
    with pytest.raises(ValueError, match=r"t\.xlsx: unsupported table format '\.xlsx'"):
        load_table(path, ["y"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"targets": ["nope"]}, r"no column 'nope'"),
        ({"targets": ["y_float"], "features": ["x", "ghost"]}, r"no column 'ghost'"),
        ({"targets": ["y_float"], "split": "where"}, r"no column 'where'"),
        ({"targets": []}, r"targets is empty"),
        ({"targets": ["y_float", "y_float"]}, r"targets lists column 'y_float' twice"),
        ({"targets": ["y_float"], "features": ["y_float"]},
         r"'y_float' is both a target and a feature"),
        ({"targets": ["y_float"], "kinds": {"y_float": "ordinal"}},
         r"kinds\['y_float'\] is 'ordinal'"),
        ({"targets": ["y_float"], "kinds": {"x": "regression"}}, r"kinds names 'x'"),
        ({"targets": ["y_float"], "losses": "huber"}, r"losses is 'huber'"),
        ({"targets": ["y_float"], "losses": "cross_entropy"}, r"losses is 'cross_entropy'"),
        ({"targets": ["y_float"], "losses": {"y_float": "hinge"}},
         r"losses\['y_float'\] is 'hinge'"),
        ({"targets": ["y_float"], "losses": {"x": "l2"}}, r"losses names 'x'"),
        ({"targets": ["y_float"], "kinds": ["regression"]}, r"kinds must map"),
        ({"targets": "y_float,y_bool", "features": 3}, r"features must be a list"),
        ({"targets": ["y_float"], "losses": {"y_float": "cross_entropy"}},
         r"'y_float' is regression: its loss must be l1 or l2"),
        ({"targets": ["y_bool"], "losses": {"y_bool": "l2"}},
         r"'y_bool' is binary: its loss must be cross_entropy"),
        ({"targets": ["y_float"], "fractions": [0.5, 0.5]}, r"fractions must be three"),
        ({"targets": ["y_float"], "fractions": [0.8, 0.3, -0.1]}, r"fractions must be three"),
        ({"targets": ["y_float"], "fractions": [0.5, 0.2, 0.2]}, r"fractions must be three"),
        ({"targets": ["y_float"], "impute": "median"}, r"impute must be null or 'mean'"),
        ({"targets": ["y_float"], "seed": 1.5}, r"seed must be an integer"),
        ({"targets": ["y_float"], "max_categories": 1}, r"max_categories must be"),
        ({"targets": ["y_three_words"], "kinds": {"y_three_words": "binary"}},
         r"'y_three_words' is declared binary but has 3 classes"),
        ({"targets": ["y_two_words"], "kinds": {"y_two_words": "regression"}},
         r"target column 'y_two_words' is not numeric"),
    ],
)
def test_bad_options_name_the_file_and_the_column(tmp_path: Path, options: dict, message: str):
    path = frame_file(tmp_path, mixed_frame().drop(columns="split"))
    with pytest.raises(ValueError, match=message) as error:
        load_table(path, **options)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,y\n" + "1,5\n" * 10, r"target column 'y' is constant \(every value is 5\)"),
        ("x,y\n" + "1,\n" * 10, r"target column 'y' has no values \(all missing\)"),
        ("x,y,x\n" + "1,2,3\n" * 10, r"duplicated column name 'x'"),
        ("x,y\n" + "".join(f"id{i},{i % 2}\n" for i in range(60)),
         r"feature column 'x' has 60 distinct values .*looks like an id or free text"),
        ("x,y\n" + "1,2,3\n" * 10, r"the rows have more fields than the header"),
        ("x,y\n1,2\n3,4,5\n", r"cannot read as CSV"),
        (",x,y\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(10)),
         r"column 1 has no name \(often a saved row index\)"),
        ("x,unit price\n" + "".join(f"{i},{i * 1.5}\n" for i in range(10)),
         r"target column 'unit price' cannot name a task"),
        ("x,y\n", r"the table has no data rows"),
        ("", r"the file is empty"),
    ],
)
def test_bad_files_name_the_file_and_the_column(tmp_path: Path, text: str, message: str):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as error:
        load_table(path, ["y"] if "unit price" not in text else ["unit price"])
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_duplicates_are_found_in_the_raw_header_not_pandas_renamed_ones(tmp_path: Path):
    # pandas would read this header as x, x.1: the real name x.1 must not hide the repeat.
    path = write(tmp_path, "x,x,y\n" + "1,2,3\n" * 5)
    with pytest.raises(ValueError, match=r"duplicated column name 'x'"):
        load_table(path, ["y"])
    # A genuine column named x.1 next to x is fine.
    path = write(tmp_path, "x,x.1,y\n" + "".join(f"{i},{i},{i * 0.5}\n" for i in range(20)))
    assert load_table(path, ["y"]).spec["features"] == ["x", "x.1"]


def test_unreadable_files(tmp_path: Path):
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"image\.csv: cannot read as CSV"):
        load_table(binary, ["y"])
    latin = tmp_path / "latin.csv"
    latin.write_bytes("x,y\ncaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.csv: cannot read as CSV"):
        load_table(latin, ["y"])
    fake = tmp_path / "fake.parquet"
    fake.write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match=r"fake\.parquet: cannot read as Parquet"):
        load_table(fake, ["y"])
    with pytest.raises(ValueError, match=r"not a file"):
        load_table(tmp_path, ["y"])


def test_split_column_errors(tmp_path: Path):
    frame = mixed_frame()
    frame.loc[[0, 1, 2], "split"] = ["training", "dev", "training"]
    frame.loc[3, "split"] = None
    with pytest.raises(ValueError, match=r"split column 'split' must hold train, val or test; "
                                         r"found 'training' \(2 rows\), .*'dev'.*'<missing>'"):
        load_table(frame_file(tmp_path, frame), ["y_float"], split="split")
    frame = mixed_frame()
    frame["split"] = ["train", "test"] * 30
    with pytest.raises(ValueError, match=r"the val split is empty"):
        load_table(frame_file(tmp_path, frame), ["y_float"], split="split")
    with pytest.raises(ValueError, match=r"'split' is both the split column and a target"):
        load_table(frame_file(tmp_path, mixed_frame()), ["split"], split="split")


def test_an_empty_random_split(tmp_path: Path):
    path = write(tmp_path, "x,y\n1,1.5\n2,2.5\n3,0.5\n")
    with pytest.raises(ValueError, match=r"t\.csv: the val split is empty \(with fractions"):
        load_table(path, ["y"], fractions=[0.8, 0.1, 0.1])


def test_a_class_unseen_in_training(tmp_path: Path):
    frame = pd.DataFrame({"x": np.arange(24.0), "kind": ["cat", "dog"] * 10 + ["cat", "emu"] * 2,
                          "split": ["train"] * 20 + ["val"] * 2 + ["test"] * 2})
    with pytest.raises(ValueError, match=r"target column 'kind': value 'emu' in the val split "
                                         r"does not occur in the training split"):
        load_table(frame_file(tmp_path, frame), ["kind"], split="split")


def test_a_target_constant_on_the_training_split(tmp_path: Path):
    frame = pd.DataFrame({"x": np.arange(24.0), "y": [1.5] * 20 + [2.5] * 4,
                          "split": ["train"] * 20 + ["val"] * 2 + ["test"] * 2})
    with pytest.raises(ValueError, match=r"'y' is constant on the training split"):
        load_table(frame_file(tmp_path, frame), ["y"], split="split")


def test_duplicated_parquet_columns(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([[1, 2], [3, 4], [5, 6]], names=["x", "x", "y"]), path)
    with pytest.raises(ValueError, match=r"dup\.parquet: duplicated column name 'x'"):
        load_table(path, ["y"])


# --- training ------------------------------------------------------------------------------------


def test_an_mlp_trains_on_a_table(example_csv: Path):
    data = load_table(example_csv, EXAMPLE_TARGETS)
    torch.manual_seed(0)
    model = mlp_network(data.tasks, data.input_shape, size=0.5)
    config = TrainConfig(max_steps=12, batch_size=64, eval_every=6, device="cpu", progress=False)
    result = Trainer(config).fit(model, data)
    assert result.steps == 12
    assert all(math.isfinite(h["train_loss"]) and math.isfinite(h["val_total"])
               for h in result.history)
    for scores in (result.val, result.test):
        assert set(scores) == set(EXAMPLE_TARGETS)
        assert all(math.isfinite(v) for task in scores.values() for v in task.values())
    assert {"mae"} <= set(result.test["sales"]) and {"accuracy"} <= set(result.test["churn"])


def test_docstring_examples_run():
    assert doctest.testmod(table, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_targets_may_be_one_comma_separated_string(tmp_path: Path):
    data = load_table(frame_file(tmp_path, mixed_frame()), "y_float, y_bool", split="split")
    assert data.tasks.names == ("y_float", "y_bool")


def test_importing_the_loader_does_not_import_pandas():
    import subprocess
    import sys

    code = ("import sys, mtlgroup.data.table, mtlgroup.models.mlp; "
            "sys.exit('pandas' in sys.modules or 'pyarrow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
