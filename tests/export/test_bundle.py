"""Export bundles: what they hold, that they load without the study or the data, and that a
damaged or foreign bundle is named, never half-loaded."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from export_helpers import SYNTHETIC, SYNTHETIC_CHOICE

from mtlgroup.data import load_dataset
from mtlgroup.export import (
    FORMAT_VERSION,
    BundleError,
    ChoiceError,
    export_bundle,
    grouped_model,
    load_grouped,
    read_manifest,
)
from mtlgroup.study.weights import sha256_file


@pytest.fixture()
def bundle_copy(synthetic_bundle, tmp_path):
    return shutil.copytree(synthetic_bundle, tmp_path / "bundle")


def _inputs():
    return load_dataset("synthetic", **SYNTHETIC).test.inputs[:4]


def test_the_bundle_answers_like_the_run_it_came_from(synthetic_run, synthetic_bundle):
    loaded = load_grouped(synthetic_bundle)
    direct = grouped_model(synthetic_run, 3.0)
    x = _inputs()
    for task, value in direct(x).items():
        assert torch.equal(loaded(x)[task], value)


def test_the_manifest_describes_the_choice(synthetic_bundle):
    manifest = read_manifest(synthetic_bundle)
    networks, served_by = SYNTHETIC_CHOICE[3.0]
    assert manifest["format_version"] == FORMAT_VERSION and manifest["budget"] == 3.0
    assert manifest["served_by"] == served_by
    assert [n["name"] for n in manifest["networks"]] == networks
    for entry in manifest["networks"]:
        assert entry["serves"] == [t for t, n in served_by.items() if n == entry["name"]]
        assert entry["serving_cost"] <= entry["cost"]
        assert sha256_file(synthetic_bundle / entry["weights"]) == entry["sha256"]
        assert set(entry["metrics"]["val"]) == set(entry["serves"])
        assert entry["model"]["name"] == "conv"
    aux = next(n for n in manifest["networks"] if n["name"] == "parity+moments")
    assert aux["serving_cost"] < aux["cost"]  # its parity head is not run
    assert manifest["input"] == {"shape": [3, 8, 8], "format": {
        "kind": "image", "channels": 3, "height": 8, "width": 8, "scale": 1 / 255}}
    assert {"mtlgroup", "torch", "python"} <= set(manifest["versions"])


def test_it_loads_without_the_study_or_the_data(synthetic_bundle, tmp_path):
    moved = shutil.copytree(synthetic_bundle, tmp_path / "elsewhere")
    script = textwrap.dedent(f"""
        import torch
        import mtlgroup.data.registry as registry

        def refuse(*args, **kwargs):
            raise AssertionError("the bundle read data")

        registry.cached_dataset = registry.load_dataset = registry.dataset_tasks = refuse
        import mtlgroup
        model = mtlgroup.load_grouped({str(moved)!r})
        out = model(torch.zeros(2, 3, 8, 8))
        print(sorted(out), tuple(out["moments"].shape))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['bright', 'contrast', 'moments', 'parity'] (2, 2)"


def test_a_tampered_weight_file_is_named(bundle_copy):
    weights = bundle_copy / "weights" / "net1.pt"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"net1\.pt: checksum mismatch for network "
                                          r"parity\+moments"):
        load_grouped(bundle_copy)


def test_a_missing_weight_file_is_named(bundle_copy):
    (bundle_copy / "weights" / "net0.pt").unlink()
    with pytest.raises(BundleError, match=r"net0\.pt: weight file of network bright\+parity "
                                          "is missing"):
        load_grouped(bundle_copy)


def _edit_manifest(bundle, change):
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_a_newer_format_asks_for_an_upgrade(bundle_copy):
    _edit_manifest(bundle_copy, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(BundleError, match=f"format version {FORMAT_VERSION + 1} .*reads "
                                          f"versions up to {FORMAT_VERSION}: upgrade"):
        load_grouped(bundle_copy)


def test_a_factory_that_does_not_import_here_is_a_clear_error(bundle_copy):
    def change(manifest):
        manifest["networks"][0]["model"]["name"] = "not_a_package_here.nets:build"

    _edit_manifest(bundle_copy, change)
    with pytest.raises(BundleError, match=r"network bright\+parity is built by "
                                          "not_a_package_here.nets:build"):
        load_grouped(bundle_copy)


@pytest.mark.parametrize("content, message", [
    (None, "no manifest.json: not an export bundle"),
    ("{not json", "not valid JSON"),
    ('{"format": "other"}', "not an mtlgroup bundle manifest"),
])
def test_a_folder_that_is_no_bundle_is_named(tmp_path, content, message):
    if content is not None:
        (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(BundleError, match=message):
        load_grouped(tmp_path)


def test_a_budget_the_run_did_not_select_lists_the_ones_it_did(synthetic_run, tmp_path):
    with pytest.raises(ChoiceError, match="did not select at budget 4; it chose networks at "
                                          "budgets 2, 3"):
        export_bundle(synthetic_run, 4.0, tmp_path / "b")
    with pytest.raises(ChoiceError, match="budget 1 was infeasible"):
        export_bundle(synthetic_run, 1.0, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_export_never_overwrites_what_is_not_a_bundle(synthetic_run, synthetic_bundle, tmp_path):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="exists and is not an export bundle"):
        export_bundle(synthetic_run, 3.0, precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    again = export_bundle(synthetic_run, 2.0, shutil.copytree(synthetic_bundle, tmp_path / "b"))
    assert read_manifest(again)["budget"] == 2.0  # a bundle is replaced
    assert sorted(p.name for p in (again / "weights").iterdir()) == ["net0.pt"]


@pytest.mark.parametrize("fmt", ["torchscript", "pt2", "onnx"])
def test_other_formats_answer_like_the_model(synthetic_run, tmp_path, fmt):
    bundle = export_bundle(synthetic_run, 3.0, tmp_path / "b", formats=[fmt])
    manifest = read_manifest(bundle)
    file = bundle / manifest["formats"][fmt]
    x = _inputs()
    expected = load_grouped(bundle)(x)
    if fmt == "torchscript":
        got = torch.jit.load(str(file))(x)
    elif fmt == "pt2":
        got = torch.export.load(str(file)).module()(torch.cat([x, x]))  # batch size varies
        got = {t: v[: len(x)] for t, v in got.items()}
    else:
        onnx = pytest.importorskip("onnx")
        graph = onnx.load(str(file)).graph
        assert [o.name for o in graph.output] == list(expected)
        return
    for task, value in expected.items():
        torch.testing.assert_close(got[task], value, rtol=1e-4, atol=1e-5)
