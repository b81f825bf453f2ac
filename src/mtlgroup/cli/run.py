"""``mtlgroup demo`` and ``mtlgroup run``: the whole pipeline, from data to report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mtlgroup.cli.app import UsageError, app, run_command, stdout_console
from mtlgroup.cli.options import (
    KEEP_WEIGHTS,
    MODEL,
    PROGRESS,
    RECOMMEND_BUDGET,
    REFINE,
    TRACK,
    check_device,
    check_outputs,
    load_settings,
    overrides,
)


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("demo-run"), "--out", "-o", help="Run directory."),
    quick: bool = typer.Option(False, "--quick", help="Smaller data and shorter training "
                               "(about 3 minutes; used by the smoke test)."),
    dataset: str = typer.Option("scenes", "--dataset", "-d",
                                help="scenes (task set 1) or fashion (its demo task set)."),
    estimator: str = typer.Option("hoa", "--estimator", "-e",
                                  help="hoa, esa, exhaustive, tag, cs or proximal."),
    model: str | None = MODEL,
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Parallel trainings."),
    executor: str = typer.Option("local", "--executor",
                                 help="local (processes on this machine) or ray."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    keep_weights: str | None = KEEP_WEIGHTS,
    recommend_budget: float | None = RECOMMEND_BUDGET,
    refine: bool | None = REFINE,
    track: str | None = TRACK,
    progress: bool | None = PROGRESS,
) -> None:
    """Run the whole pipeline on built-in data (scenes task set 1, or fashion): a pairs
    study, HOA selection at budgets 1 to 5, training of the chosen networks, the all-task and
    independent baselines, and OUT/report.html with the budget curve and the pairwise affinity
    heat map."""

    def body() -> None:
        from mtlgroup.config import StudyConfig, parse_config
        from mtlgroup.demo import demo_settings

        settings = demo_settings(dataset, quick, estimator, workers, device, model, executor)
        if keep_weights is not None:  # checked as a config value: one line naming the flag
            settings.study.keep_weights = parse_config(
                {"keep_weights": keep_weights}, StudyConfig, "--keep-weights").keep_weights
        from mtlgroup.config import PipelineConfig

        for flag, key, value in (("--recommend-budget", "recommend_budget", recommend_budget),
                                 ("--refine", "refine", refine)):
            if value is not None:  # checked as a config value (a demo budget, the estimator)
                settings.pipeline = parse_config({**settings.pipeline.model_dump(), key: value},
                                                 PipelineConfig, flag)
        if track is not None:  # checked as a config value: one line naming the flag
            from mtlgroup.tracking import track_request

            settings.track = track_request(track, "--track")
        check_device(device)
        _run_and_print(settings, out, progress)

    run_command(body)


@app.command("run")
def run_pipeline_command(
    config: Path = typer.Argument(..., exists=False, metavar="CONFIG",
                                  help="YAML file (see docs/pipeline.md)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Run directory (default: the config's `out`)."),
    estimator: str | None = typer.Option(None, "--estimator", "-e",
                                         help="Override: hoa, esa, exhaustive, tag, cs, proximal."),
    model: str | None = MODEL,
    keep_weights: str | None = KEEP_WEIGHTS,
    recommend_budget: float | None = RECOMMEND_BUDGET,
    refine: bool | None = REFINE,
    track: str | None = TRACK,
    progress: bool | None = PROGRESS,
) -> None:
    """Run study → select → finalize → evaluate → report from a YAML config."""

    def body() -> None:
        from mtlgroup.config import ConfigError

        settings = load_settings(config, overrides({"estimator": estimator, "model": model,
                                                       "keep_weights": keep_weights,
                                                       "recommend_budget": recommend_budget,
                                                       "refine": refine, "track": track}))
        try:
            settings.check_for_run()
        except ConfigError as error:
            raise UsageError(str(error)) from None
        check_device(settings.training.device)
        _run_and_print(settings, out or settings.out or Path("runs/run"), progress)

    run_command(body)


def _run_and_print(settings, out: Path, progress: bool | None = None) -> None:
    from mtlgroup.pipeline import run_pipeline

    check_outputs(out, settings)
    from mtlgroup.cli.interrupt import keeps_work_in

    keeps_work_in(out / "study.sqlite")  # the pipeline's store: what a Ctrl-C says was kept
    console = stdout_console()
    report = run_pipeline(settings, out, echo=lambda text: console.print(text, markup=False),
                          progress=progress)
    print_tradeoff(report, console)
    console.print(f"report: {out / 'report.html'} (curve: {out / 'curve.png'})")
    recommendation = report.recommendation or {}
    # soft_wrap: a command cut over two lines could not be pasted.
    if recommendation.get("sentence"):
        console.print(f"recommendation: {recommendation['sentence']}", markup=False,
                      soft_wrap=True)
    if recommendation.get("export_command"):
        console.print(f"export the chosen networks: {recommendation['export_command']}",
                      markup=False, soft_wrap=True)
    if report.failures:
        console.print(f"{len(report.failures)} training(s) failed:", style="red")
        for failure in report.failures:
            console.print(f"  {failure}", markup=False)
        raise typer.Exit(1)


def print_tradeoff(report, console: Console) -> None:
    """The trade-off table: per budget, the chosen networks and the three test totals."""
    table = Table(title=f"{report.dataset}: test total loss by inference budget "
                  f"({report.estimator}; lower is better)", title_justify="left")
    for column in ("budget", "chosen networks", "cost", "chosen", "all-task", "independent"):
        table.add_column(column, justify="left" if column == "chosen networks" else "right",
                         overflow="fold")

    def cell(value, best: bool) -> str:
        if value is None:
            return "– "
        # `*` marks the best where bold does not show (a log); the space keeps digits aligned.
        return f"[bold]{value:.4f}*[/bold]" if best else f"{value:.4f} "

    for row in report.rows:
        networks = ", ".join(row.networks) if row.feasible else "(infeasible)"
        table.add_row(
            f"{row.budget:g}", networks, "–" if row.cost is None else f"{row.cost:.2f}",
            cell(row.test_total, row.best == "chosen"),
            cell(row.all_task_total, row.best == "all-task"),
            cell(row.independent_total, row.best == "independent"),
        )
    console.print(table)
    if any(row.best for row in report.rows):
        console.print("* lowest test total at that budget")
    for line in budget_sentences(report.rows):
        console.print(line, markup=False, soft_wrap=True)
    costs = getattr(report, "costs", None) or {}  # a report from before the costs existed
    used = (f"{report.trainings} networks used ({costs['trained']} trained by this run, "
            f"{costs['reused']} reused from the store)" if "trained" in costs
            else f"{report.trainings} networks used")
    console.print(f"{used}, {report.training_seconds:.0f} s of training, "
                  f"{report.wall_seconds:.0f} s wall time", soft_wrap=True)


def budget_sentences(rows) -> list[str]:
    """One sentence per feasible budget: what to train, and what it changes in test total
    loss against each baseline trained at that budget (negative is better)."""
    from mtlgroup.report.recommend import change_percent, format_percent

    lines = []
    for row in rows:
        if not row.feasible:
            continue
        against = [f"{format_percent(change_percent(row.test_total, base))} against {name}"
                   for name, base in (("one all-task network", row.all_task_total),
                                      ("independent networks", row.independent_total))
                   if row.test_total is not None and base is not None]
        gains = (f"; test total loss {', '.join(against)} (lower is better)" if against
                 else "")
        lines.append(f"budget {row.budget:g}: train {', '.join(row.networks)}{gains}")
    return lines
