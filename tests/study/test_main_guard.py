"""A script that starts a study at its top level, without the ``__main__`` guard: process-pool
workers import it again, and the study says so once instead of losing every job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """\
import sys
sys.path.insert(0, {helpers!r})
from study_helpers import fake_outcome
from mtlgroup.study import Study
from mtlgroup.study.executors import LocalExecutor

def main():
    data = {{"n_train": 32, "n_val": 16, "n_test": 16, "size": 8}}
    with Study({path!r}, "synthetic", data, ["bright", "parity"], {{"max_steps": 2}},
               device="cpu", job_fn=fake_outcome) as study:
        study.add_plan("pairs")
        with LocalExecutor(workers=1, threads_per_worker=1) as executor:
            summary = study.run(executor, progress=False)
    print("done", summary.done, len(summary.failed))

{call}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Both scripts, run at once (each spends most of its time starting torch and a pool)."""
    folder = tmp_path_factory.mktemp("main_guard")
    calls = {"unguarded": "main()", "guarded": 'if __name__ == "__main__":\n    main()'}
    started = {}
    for name, call in calls.items():
        script = folder / f"{name}.py"
        script.write_text(SCRIPT.format(helpers=str(Path(__file__).parent),
                                        path=str(folder / f"{name}.sqlite"), call=call))
        started[name] = subprocess.Popen([sys.executable, str(script)], cwd=folder, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=120)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return results


def test_a_script_without_the_main_guard_gets_one_clear_error(runs):
    result = runs["unguarded"]
    assert result.returncode != 0, result.stdout
    assert "MainGuardError: worker processes import your script (" in result.stderr
    assert "unguarded.py) again, and its top level starts a study" in result.stderr
    assert 'if __name__ == "__main__":' in result.stderr and "docs/studies.md" in result.stderr
    assert "BrokenProcessPool" not in result.stderr + result.stdout
    assert "done" not in result.stdout


def test_the_same_script_with_the_guard_runs(runs):
    result = runs["guarded"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["done", "5", "0"]  # the "pairs" plan on 2 tasks
