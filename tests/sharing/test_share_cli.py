"""`mtlgroup share` end to end on tiny scenes (16×16, three tasks, one epoch): its files, the
table's savings recomputed from the exported shared model, a rerun that trains nothing, a
given base task, and bad input before any work."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from mtlgroup.cli import app

TASKS = ["semseg", "depth", "normals"]
VIT = {"base_width": 16, "depth": 1}
TINY = ["--dataset", "scenes", "--tasks", ",".join(TASKS), "--image-size", "16", "--n-train",
        "48", "--n-val", "16", "--n-test", "16", "--epochs", "1", "--batch-size", "16",
        *(f for k, v in VIT.items() for f in ("--model-option", f"{k}={v}")),
        "--delta-epochs", "1", "--executor", "inline", "--no-progress"]
LEVELS = ["--weight-density", "0.05,0.2", "--activation-sparsity", "0.9"]


def run(*args: str):
    return CliRunner().invoke(app, ["share", *args])


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("share") / "run"
    result = run(*TINY, *LEVELS, "--video", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out, result.output, json.loads((out / "sharing.json").read_text())


def test_every_output_is_written_and_the_table_printed(shared_run):
    out, output, saved = shared_run
    for name in ("study.sqlite", "sharing.json", "sharing.csv", "sharing.png", "report.html"):
        assert (out / name).is_file(), name
    assert (out / "export").is_dir() and any((out / "export").iterdir())
    assert len(list((out / "deltas").glob("*.pt"))) == 2 * (len(TASKS) - 1)  # levels × subs
    assert saved["settings"]["model_options"] == VIT  # --model-option reached the ViTs
    rows = {r["label"]: r for r in saved["table"]["rows"]}
    assert list(rows)[0] == "independent"
    assert {"shared d=0.05 s=0.9", "shared d=0.2 s=0.9"} <= set(rows)
    assert any(r["kind"] == "multi-task" for r in rows.values())
    assert all(set(r["test"]) == set(TASKS) for r in rows.values())
    csv_lines = (out / "sharing.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(rows)
    for label in rows:
        assert label in output
    page = (out / "report.html").read_text()
    assert 'src="sharing.png"' in page and saved["base"]["task"] in page
    assert len(saved["video"]) == 2 and "MFLOPs/frame" in output
    for entry in saved["video"]:
        assert entry["flops_per_frame"] <= entry["full_flops_per_frame"]
        assert set(entry["metrics"]) == set(TASKS)


def test_the_multi_task_vit_costs_at_most_the_shared_model(shared_run):
    _, _, saved = shared_run
    rows = {r["label"]: r for r in saved["table"]["rows"]}
    for row in rows.values():
        if row["kind"] == "shared":
            equal = rows[row["extra"]["multi_task_at_equal_flops"]]
            assert equal["flops"] <= row["flops"]


def test_the_table_savings_are_those_of_the_exported_shared_model(shared_run):
    """FLOPs and stored parameters of the exported model, counted again from its non-zeros
    on the same test images, give the table's ratios; the independent networks' FLOPs and
    parameters are counted from the ViTs the factory builds."""
    from mtlgroup.cost import network_flops
    from mtlgroup.data.registry import cached_dataset
    from mtlgroup.models.network_factory import NetworkFactory
    from mtlgroup.sharing.model import load_shared

    out, _, saved = shared_run
    settings = saved["settings"]
    data = cached_dataset("scenes", settings["data_options"])[0]
    inputs = torch.cat([b.inputs for b in data.test.batches(256)])
    factory = NetworkFactory("vit", VIT)
    single_flops = sum(network_flops(data.tasks.subset([t]), data.input_shape, 1.0,
                                     factory).total for t in TASKS)
    single_params = 0
    for task in TASKS:
        network = factory.build(data.tasks.subset([task]), data.input_shape)
        single_params += sum(p.numel() for p in network.parameters())
    model = load_shared(out / "export")
    with torch.inference_mode():
        flops = model.counted_flops(inputs)
    row = next(r for r in saved["table"]["rows"] if r["label"] == "shared d=0.05 s=0.9")
    assert row["flops_ratio"] == pytest.approx(float(flops.total) / single_flops, rel=1e-9)
    assert row["params_ratio"] == pytest.approx(
        model.stored_parameters().total / single_params, rel=1e-9)
    assert row["flops_ratio"] < 1.0 and row["params_ratio"] < 1.0


def test_load_grouped_serves_the_exported_shared_model(shared_run):
    from mtlgroup.export import load_grouped
    from mtlgroup.sharing.model import load_shared

    out, _, _ = shared_run
    x = torch.rand(2, 3, 16, 16)
    grouped, shared = load_grouped(out / "export"), load_shared(out / "export")
    with torch.inference_mode():
        a, b = grouped(x), shared(x)
    assert set(a) == set(TASKS)
    for task in TASKS:
        assert torch.equal(a[task], b[task])


def test_a_rerun_trains_nothing_new(shared_run):
    out, _, saved = shared_run
    deltas = {p.name: p.stat().st_mtime_ns for p in (out / "deltas").glob("*.pt")}
    choices = {p.name: p.stat().st_mtime_ns for p in (out / "base-choice").glob("*.json")}
    assert len(choices) == 1  # the measured base choice is saved, not measured again
    again = run(*TINY, *LEVELS, "--out", str(out))
    assert again.exit_code == 0, again.output
    resaved = json.loads((out / "sharing.json").read_text())
    assert resaved["trained"] == {"networks": 0, "deltas": 0}
    assert resaved["reused"]["deltas"] == len(deltas)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "deltas").glob("*.pt")} == deltas
    assert {p.name: p.stat().st_mtime_ns for p in (out / "base-choice").glob("*.json")} == choices
    assert resaved["base"] == saved["base"]
    before = {r["label"]: r["test"] for r in saved["table"]["rows"]}
    assert {r["label"]: r["test"] for r in resaved["table"]["rows"]} == before


def test_a_given_base_task_is_the_base(shared_run, tmp_path):
    out, _, saved = shared_run
    copy = tmp_path / "given"
    shutil.copytree(out, copy)  # the trained ViTs are reused: only the new deltas train
    base = next(t for t in TASKS if t != saved["base"]["task"])
    result = run(*TINY, "--base", base, "--out", str(copy))
    assert result.exit_code == 0, result.output
    found = json.loads((copy / "sharing.json").read_text())
    assert found["base"]["task"] == base and found["base"]["given"] is True
    assert sorted(found["base"]["ranking"]) == sorted(TASKS)  # the proxy ranking is reported
    assert found["trained"]["networks"] == 0 and found["trained"]["deltas"] == len(TASKS) - 1
    assert f"base task: {base} (given)" in result.output


@pytest.fixture
def no_work(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr("mtlgroup.training.trainer.Trainer.fit", fail)
    monkeypatch.setattr("mtlgroup.sharing.train.train_task_delta", fail)


@pytest.mark.parametrize("args, message", [
    (["--tasks", "semseg,nope"], "nope"),
    (["--weight-density", "1.5"], "weight density 1.5 is not in (0, 1]"),
    (["--weight-density", "0"], "weight density 0 is not in (0, 1]"),
    (["--activation-sparsity", "1"], "activation sparsity 1 is not in [0, 1)"),
    (["--weight-density", "0.1,0.2", "--activation-sparsity", "0.5,0.6,0.7"], "pairs"),
    (["--model", "conv"], "needs the ViT family"),
    (["--base", "nope"], "unknown --base 'nope'"),
    (["--base-method", "vote"], "bad --base-method 'vote'"),
    (["--penalty", "l2"], "bad --penalty 'l2'"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, no_work, args, message):
    out = tmp_path / "bad"
    result = run(*TINY, *args, "--out", str(out))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert not out.exists()


def test_help_explains_the_options_and_outputs():
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for words in ("--weight-density", "--activation-sparsity", "--base", "--video",
                  "sharing.json", "report.html", "export"):
        assert words in text


@pytest.mark.parametrize("options, message", [
    ({"weight_density": 2.0}, "weight density 2 is not in (0, 1]"),
    ({"base": "nope"}, "unknown base task 'nope'"),
    ({"model": "conv"}, "needs the ViT family"),
    ({"video": True}, "video needs the scenes dataset"),
    ({"tasks": ["bright"]}, "at least two tasks"),
    ({"base_method": "vote"}, "unknown base method 'vote'"),
])
def test_run_sharing_refuses_a_bad_request_before_any_file(tmp_path, no_work, options,
                                                           message):
    from mtlgroup.sharing import run_sharing

    request = {"tasks": ["bright", "parity"], **options}
    with pytest.raises(ValueError) as error:
        run_sharing("synthetic", out=tmp_path / "api", echo=lambda line: None, **request)
    assert message in str(error.value)
    assert not (tmp_path / "api").exists()
