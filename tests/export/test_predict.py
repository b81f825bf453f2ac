"""Predictions of a bundle on new inputs: tables encoded as in training, arrays, images."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from export_helpers import SYNTHETIC, make_run

from mtlgroup.data import load_dataset
from mtlgroup.data.table import write_example_table
from mtlgroup.export import export_bundle, load_grouped, read_manifest
from mtlgroup.export.predict import predict, read_inputs

TARGETS = ["sales", "churn", "rating", "returns"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_example_table(tmp_path_factory.mktemp("table") / "shop.csv", n_rows=240)


@pytest.fixture(scope="module")
def table_bundle(table, tmp_path_factory):
    options = {"path": str(table), "targets": TARGETS}
    choice = {2.0: (["sales+churn", "rating+returns"],
                    {"sales": "sales+churn", "churn": "sales+churn", "rating": "rating+returns",
                     "returns": "rating+returns"})}
    run = make_run(tmp_path_factory.mktemp("table-run"), "table", options, choice)
    return export_bundle(run, 2.0, run / "bundle")


def test_table_rows_are_encoded_as_in_training(table, table_bundle):
    """The training table itself, read through the bundle, gives the inputs the networks
    were trained on, row for row."""
    data = load_dataset("table", path=str(table), targets=TARGETS)
    read = read_inputs(read_manifest(table_bundle), table)
    frame = pd.read_csv(table)
    assert len(read.tensor) == len(frame)
    train = data.train.inputs
    # Every training row occurs among the read rows (the split shuffles them).
    matches = torch.cdist(train, read.tensor,
                            compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values
    assert float(matches.max()) < 1e-4


def test_table_predictions_are_in_the_targets_own_terms(table, table_bundle, tmp_path):
    out = predict(table_bundle, table, tmp_path / "p.csv")
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["row", *TARGETS]
    assert set(predictions["churn"]) <= {"yes", "no"}
    assert set(predictions["rating"]) <= set(pd.read_csv(table)["rating"].dropna().astype(int))
    manifest = read_manifest(table_bundle)
    sales = next(t["target"] for t in manifest["tasks"] if t["name"] == "sales")
    raw = load_grouped(table_bundle)(read_inputs(manifest, table).tensor)["sales"]
    np.testing.assert_allclose(predictions["sales"], raw[:, 0].detach().numpy() * sales["std"]
                               + sales["mean"], rtol=1e-5)


def test_missing_feature_columns_are_named(table, table_bundle, tmp_path):
    frame = pd.read_csv(table).drop(columns=["price", "region"])
    frame.to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(ValueError, match="missing feature columns region, price"):
        predict(table_bundle, tmp_path / "new.csv")


def test_a_feature_gap_is_named_when_training_did_not_impute(table, table_bundle, tmp_path):
    frame = pd.read_csv(table)
    frame.loc[3, "price"] = None
    frame.to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(ValueError, match="'price' has 1 missing values \\(first in row 4\\)"):
        predict(table_bundle, tmp_path / "gap.csv")


def test_arrays_of_the_wrong_shape_are_named(synthetic_bundle, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 9, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \[2, 3, 9, 8\]; this bundle takes "
                                         r"\[N, 3, 8, 8\]"):
        predict(synthetic_bundle, tmp_path / "x.npy", tmp_path / "p.npz")


def test_arrays_and_images_give_the_model_outputs(synthetic_bundle, tmp_path):
    inputs = load_dataset("synthetic", **SYNTHETIC).test.inputs[:3]
    np.save(tmp_path / "x.npy", inputs.numpy())
    out = np.load(predict(synthetic_bundle, tmp_path / "x.npy", tmp_path / "p.npz"))
    expected = load_grouped(synthetic_bundle)(inputs)
    for task, value in expected.items():
        np.testing.assert_allclose(out[task], value.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["parity.class"], expected["parity"].argmax(1).numpy())
    # The same images as 8-bit PNG files (RGB, [0, 1] × 255): the same classes, up to the
    # rounding of the pixels.
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(inputs.numpy()):
        pixels = np.round(image.transpose(1, 2, 0) * 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"img{i}.png"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    read = read_inputs(read_manifest(synthetic_bundle), folder)
    assert read.names == ["img0.png", "img1.png", "img2.png"]
    torch.testing.assert_close(read.tensor, inputs, rtol=0, atol=0.5 / 255 + 1e-6)


def test_dense_outputs_do_not_go_into_a_csv(synthetic_bundle, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="task bright predicts a \\[1, 8, 8\\] map per input, "
                                         "which does not fit a CSV: write --out FILE.npz"):
        predict(synthetic_bundle, tmp_path / "x.npy", tmp_path / "p.csv")


def test_a_table_given_to_an_image_bundle_is_refused(synthetic_bundle, table):
    with pytest.raises(ValueError, match="takes image inputs, not a table"):
        predict(synthetic_bundle, table)
