"""``mtlgroup export`` (a run's choice as a bundle) and ``mtlgroup predict`` (a bundle on new
inputs)."""

from __future__ import annotations

from pathlib import Path

import typer

from mtlgroup.cli.app import app, run_command


@app.command("export")
def export_command(
    run: Path = typer.Argument(..., metavar="RUN",
                               help="The run directory (of mtlgroup run / demo)."),
    budget: float = typer.Option(..., "--budget", "-b",
                                 help="The budget whose chosen networks to export (one the run "
                                      "selected at; the error lists them)."),
    out: Path = typer.Option(None, "--out", "-o",
                             help="The bundle folder to write (default RUN/export-BUDGET); a "
                                  "bundle already there is replaced."),
    store: Path = typer.Option(None, "--store",
                               help="The run's study store, if not RUN/study.sqlite."),
    formats: list[str] = typer.Option(
        [], "--format", "-f",
        help="Also write the grouped model as torchscript (model.ts), pt2 (torch.export, "
             "model.pt2) or onnx (model.onnx; needs the onnx extra). Repeat or comma-separate."),
) -> None:
    """Export the networks a run chose at a budget as one self-contained bundle: their weights
    and a manifest.json (tasks, which network serves which task, costs, val/test metrics, input
    shape and format, how to rebuild each network, versions).

    Load it in Python without the study or the data: mtlgroup.load_grouped(DIR) returns a
    torch module mapping an input batch to {task: output}. Predict with mtlgroup predict DIR
    INPUT."""
    from mtlgroup.export import export_bundle, read_manifest
    from mtlgroup.study.status import format_bytes

    def body() -> None:
        names = [f.strip() for value in formats for f in value.split(",") if f.strip()]
        target = out if out is not None else run / f"export-{budget:g}"
        written = export_bundle(run, budget, target, store, names)
        manifest = read_manifest(written)
        for entry in manifest["networks"]:
            typer.echo(f"  {entry['name']}: serves {', '.join(entry['serves'])} "
                       f"(cost {entry['serving_cost']:.2f}, {format_bytes(entry['bytes'])})")
        extra = "".join(f", {name}: {file}" for name, file in manifest["formats"].items())
        typer.echo(f"exported {len(manifest['networks'])} networks for "
                   f"{len(manifest['served_by'])} tasks at budget {budget:g} "
                   f"(serving cost {manifest['serving_cost']:.2f}) to {written}{extra}")
        typer.echo(f"load it: mtlgroup.load_grouped({str(written)!r}); predict: mtlgroup "
                   f"predict {written} INPUT")

    run_command(body)


@app.command("predict")
def predict_command(
    bundle: Path = typer.Argument(..., metavar="BUNDLE",
                                  help="An export bundle (of mtlgroup export)."),
    inputs: Path = typer.Argument(..., metavar="INPUTS",
                                  help="A table (.csv/.parquet) with the training "
                                  "table's feature columns, an .npy array [N, ...], "
                                  "or an image file or folder."),
    out: Path = typer.Option(None, "--out", "-o",
                             help="Where to write the predictions: .csv (one row per input) "
                                  "or .npz (raw outputs, needed for dense maps). Default: "
                                  "INPUT.predictions.csv beside the input."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Inputs per forward pass."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, or auto."),
) -> None:
    """Predict every task of an exported bundle on new inputs."""
    from mtlgroup.device import resolve_device
    from mtlgroup.export.predict import predict

    def body() -> None:
        written = predict(bundle, inputs, out, batch_size, str(resolve_device(device)))
        typer.echo(f"predictions written to {written}")

    run_command(body)
