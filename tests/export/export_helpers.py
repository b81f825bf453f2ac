"""Run directories to export from: a study of the chosen networks and the ``select`` value a
pipeline would have saved (so the export tests train a few tiny networks, not a whole run)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mtlgroup.pipeline.rows import BudgetRow
from mtlgroup.study import Study

SYNTHETIC = {"n_train": 48, "n_val": 16, "n_test": 16, "size": 8}
TRAIN = {"max_steps": 3, "batch_size": 16}

Choice = Mapping[float, tuple[Sequence[str], Mapping[str, str]]]

SYNTHETIC_CHOICE: Choice = {
    # parity+moments serves only moments: its parity head is auxiliary.
    3.0: (["bright+parity", "parity+moments", "contrast/2"],
          {"bright": "bright+parity", "parity": "bright+parity", "moments": "parity+moments",
           "contrast": "contrast/2"}),
    2.0: (["bright+parity+moments+contrast"],
          dict.fromkeys(("bright", "parity", "moments", "contrast"),
                        "bright+parity+moments+contrast")),
}


def make_run(out: Path, dataset: str, data_options: Mapping[str, Any], choice: Choice,
             model: Any = None, infeasible: Sequence[float] = (1.0,)) -> Path:
    """Train the networks of ``choice`` (budget → networks, served_by) in ``out/study.sqlite``
    and save the select stage's rows, as a pipeline run would."""
    names = sorted({n for networks, _ in choice.values() for n in networks})
    with Study(out / "study.sqlite", dataset, data_options, train_config=TRAIN, device="cpu",
               model=model) as study:
        study.add_plan(names)
        summary = study.run("inline", progress=False)
        assert summary.ok, summary.format()
    rows = [BudgetRow(budget, False, note="infeasible: too small").to_dict()
            for budget in infeasible]
    rows += [BudgetRow(budget, True, networks=list(networks), served_by=dict(served)).to_dict()
             for budget, (networks, served) in sorted(choice.items())]
    (out / "stages").mkdir(parents=True, exist_ok=True)
    (out / "stages" / "select.json").write_text(json.dumps({"rows": rows}))
    return out
