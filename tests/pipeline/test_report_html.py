"""The report a user acts on: one tiny run, its report.json, and report.html as headless
Chromium renders it at 1280 px (no missing image, no horizontal overflow, the recommended
networks visible at the top)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest
import yaml
from pipeline_helpers import DATA, quiet, tiny_settings

from mtlgroup.config import Settings
from mtlgroup.pipeline import run_pipeline, run_stage
from mtlgroup.selection import read_loss_table
from mtlgroup.study.store import StudyStore

TASKS = ["bright", "parity", "moments"]
PIPELINE = {"budgets": [1.0, 1.5, 2.0, 3.0], "baseline_budgets": [2.0]}


def settings(**pipeline) -> Settings:
    return tiny_settings(data={"dataset": "synthetic", "tasks": TASKS, **DATA},
                         **{**PIPELINE, **pipeline})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, run_pipeline(settings(), out, echo=quiet)


# Runs after the page's images have loaded; measures before adding anything, then checks that
# the probe itself would see an overflow and a broken image (its controls).
PROBE = """
<img id="broken-control" src="no-such-image.png" alt="">
<script>
window.addEventListener("load", () => {
  const root = document.documentElement;
  const box = document.getElementById("recommendation");
  const curve = document.querySelector("img[src='curve.png']");
  const found = {
    innerWidth: window.innerWidth, scrollWidth: root.scrollWidth,
    images: [...document.images].map(i => [i.getAttribute("src"), i.naturalWidth]),
    recommendation: box ? box.innerText : "",
    recommendationTop: box ? box.getBoundingClientRect().top : null,
    curveTop: curve ? curve.getBoundingClientRect().top : null,
  };
  const wide = document.createElement("div");
  wide.style.width = "3000px";
  wide.style.height = "1px";
  document.body.appendChild(wide);
  found.controlScrollWidth = root.scrollWidth;
  wide.remove();
  const out = document.createElement("pre");
  out.id = "findings";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>
"""


def rendered(page, tmp_path) -> dict:
    """What the probe found on ``page`` rendered by headless Chromium in a 1280 px window."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (`make test` installs it: make system-deps)")
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    try:
        dumped = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,900",
             "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=90, check=True).stdout
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not render the report within 90 s")
    finally:
        probe.unlink()
    found = re.search(r'<pre id="findings">(.*?)</pre>', dumped, re.S)
    assert found, f"the probe did not run; chromium printed: {dumped[-500:]}"
    return json.loads(html.unescape(found.group(1)))


def test_the_page_renders_at_1280_px_with_the_choice_at_the_top(run, tmp_path):
    out, report = run
    page = rendered(out / "report.html", tmp_path)
    assert page["innerWidth"] == 1280
    images = dict(page["images"])
    assert images.pop("no-such-image.png") == 0  # the probe sees a missing image
    assert {"curve.png", "networks.png", "affinity.png", "predicted.png"} <= set(images)
    assert all(width > 0 for width in images.values()), images
    assert page["controlScrollWidth"] > page["innerWidth"]  # ... and an overflow
    assert page["scrollWidth"] <= page["innerWidth"]
    recommended = report.recommendation["networks"]
    assert recommended and all(name in page["recommendation"] for name in recommended)
    assert page["recommendationTop"] < page["curveTop"]


def test_report_json_keeps_its_fields_and_adds_the_recommendation(run):
    out, report = run
    saved = json.loads((out / "report.json").read_text())
    assert {"dataset", "tasks", "estimator", "rows", "trainings", "training_seconds",
            "wall_seconds", "files", "failures"} <= set(saved)
    recommendation = saved["recommendation"]
    row = next(r for r in report.rows if r.budget == recommendation["budget"])
    assert row.feasible and set(recommendation["networks"]) == set(row.networks)
    assert recommendation["served_by"] == row.served_by
    assert recommendation["test_total"] == pytest.approx(row.test_total)
    assert recommendation["export_command"].startswith(f"mtlgroup export {out} --budget ")
    for comparison in recommendation["comparisons"]:
        total = row.all_task_total if comparison["baseline"] == "all-task" else \
            row.independent_total
        if comparison["budget"] == row.budget:
            assert comparison["test_total"] == pytest.approx(total)
        for task, change in comparison["change_percent"].items():
            base = comparison["test_per_task"][task]
            assert row.test_per_task[task] == pytest.approx(base * (1 + change / 100))
    assert {"curve.png", "networks.png", "predicted.png"} <= set(saved["files"])


def test_the_knee_is_found_on_validation_losses(run):
    out, report = run
    with StudyStore(out / "study.sqlite") as store:
        val = {r.network: r.outcome.loss("val") for r in store.jobs("done")
               if r.is_network and r.candidate.is_full_budget}
    from mtlgroup.report import knee
    from mtlgroup.study.plans import parse_candidate

    def name(network: str) -> str:
        return parse_candidate(network).ordered(TASKS).name

    curve = [(r.budget, sum(val[name(n)][t] for t, n in r.served_by.items()))
             for r in report.rows if r.feasible]
    assert report.recommendation["budget"] == knee(curve)


def test_predicted_networks_are_compared_with_their_real_training(run):
    out, report = run
    assert report.predictions  # HOA predicted the three-task network, which was chosen
    table = read_loss_table(out / "selection_table.csv")
    with StudyStore(out / "study.sqlite") as store:
        real = {r.network: r.outcome.loss("val") for r in store.jobs("done")
                if r.is_network and r.candidate.is_full_budget}
    estimate = json.loads((out / "stages" / "estimate.json").read_text())
    finalize = json.loads((out / "stages" / "finalize.json").read_text())
    with StudyStore(out / "study.sqlite") as store:
        estimated = {r.network for r in store.jobs(keys=estimate["keys"])}
    for point in report.predictions:
        assert point["network"] not in estimated and point["network"] in finalize["networks"]
        assert point["predicted"] == pytest.approx(table.losses(point["network"])[point["task"]])
        assert point["real"] == pytest.approx(real[point["network"]][point["task"]])
    page = (out / "report.html").read_text()
    assert all(p["network"] in page for p in report.predictions)


def test_costs_count_every_training_of_a_fresh_run_as_trained(run):
    _, report = run
    costs = report.costs
    assert costs["trained"] == costs["trainings"] == report.trainings and costs["reused"] == 0
    assert costs["cpu_hours"] * 3600 == pytest.approx(report.training_seconds)
    assert costs["gpu_hours"] == 0.0


def test_the_page_shows_the_exact_settings_and_versions(run):
    out, report = run
    page = (out / "report.html").read_text()
    shown = re.search(r'<pre id="settings"><code>(.*?)</code></pre>', page, re.S)
    assert shown
    assert Settings.model_validate(yaml.safe_load(html.unescape(shown.group(1)))) == settings()
    import numpy
    import torch

    for version in (torch.__version__, numpy.__version__):
        assert f"<code>{version}</code>" in page


def test_a_rerun_reuses_every_training_and_recommends_the_budget_asked_for(run, tmp_path):
    out, report = run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)  # the other tests read the first report
    again = run_stage("report", settings(recommend_budget=1.0), copy, echo=quiet)
    assert again.costs["trained"] == 0 and again.costs["reused"] == report.trainings
    assert again.recommendation["budget"] == 1.0 and not again.recommendation["feasible"]
    assert "infeasible" in again.recommendation["sentence"]
    assert not (copy / "networks.png").exists()  # nothing to draw, and no stale drawing
    page = rendered(copy / "report.html", tmp_path)
    assert all(width > 0 for src, width in page["images"] if src != "no-such-image.png")
    assert "infeasible" in page["recommendation"] and page["scrollWidth"] <= 1280
