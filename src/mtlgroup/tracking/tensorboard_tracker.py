"""The TensorBoard tracker: one subdirectory of event files per training.

Runs go to ``<dir>/<run name>`` (``<out>/tensorboard`` by default; the name made a folder
name by :func:`~mtlgroup.tracking.base.run_dir_name`), written by
``torch.utils.tensorboard.SummaryWriter``; look at them with ``tensorboard --logdir <dir>``.
Parameters are one text summary (``params``, a Markdown table); TensorBoard keeps no files, so
an artifact is copied into the run's ``artifacts/`` folder.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtlgroup.tracking.base import Tracker, register_tracker, require, run_dir_name

LOG_DIR = "tensorboard"
ARTIFACT_DIR = "artifacts"


def _summary_writer() -> Any:
    # torch.utils.tensorboard raises ImportError when the tensorboard package is missing.
    return require("tensorboard", "torch.utils.tensorboard").SummaryWriter


@register_tracker
class TensorBoardTracker(Tracker):
    """One TensorBoard run: scalars, a text summary of the params, and copied files."""

    kind = "tensorboard"
    package = "tensorboard"
    options = {"dir": f"the log directory (default <out>/{LOG_DIR}); one subdirectory per run"}
    required = ("dir",)

    @classmethod
    def complete(cls, options: Mapping[str, str], out: Path) -> dict[str, str]:
        return {"dir": str(Path(options["dir"]).absolute() if "dir" in options else out / LOG_DIR)}

    @classmethod
    def prepare(cls, options: Mapping[str, str]) -> None:
        _summary_writer()  # a broken install fails here, in the driver, not in every job
        Path(options["dir"]).mkdir(parents=True, exist_ok=True)

    @classmethod
    def viewer(cls, options: Mapping[str, str]) -> str:
        return (f"tracking to TensorBoard runs in {options['dir']}; look at them with: "
                f"tensorboard --logdir {shlex.quote(options['dir'])}")

    def __init__(self, options: Mapping[str, str], run_name: str):
        self.run_name = run_name
        self.path = Path(options["dir"]) / run_dir_name(run_name)
        self._writer = _summary_writer()(log_dir=str(self.path))

    def log_params(self, params: Mapping[str, Any]) -> None:
        rows = "\n".join(f"| {k} | {v} |" for k, v in params.items())
        self._writer.add_text("params", f"| param | value |\n|---|---|\n{rows}")

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for name, value in metrics.items():
            self._writer.add_scalar(name, float(value), int(step))

    def log_artifact(self, path: str | Path) -> None:
        target = self.path / ARTIFACT_DIR
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / Path(path).name)

    def flush(self) -> None:
        self._writer.flush()

    def close(self, failed: bool = False) -> None:
        if failed:
            self._writer.add_text("status", "failed")
        self._writer.close()
