"""Input that used to be accepted silently or answered misleadingly (issue 13, "Surprises"):
each case is exit code 2 and one ``error:`` line that names the file or the flag."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mtlgroup.cli.run  # noqa: F401  (registers the commands)
import mtlgroup.cli.select  # noqa: F401
import mtlgroup.cli.study  # noqa: F401
from mtlgroup.cli.app import app
from mtlgroup.cli.study import job_forecast


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def assert_one_error_line(result, *names: str) -> str:
    """Exit 2, no traceback, stderr is one ``error:`` line holding every one of ``names``."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("text", ["", "# just a comment\n", "null\n"])
@pytest.mark.parametrize("command", [["run"], ["study", "--config"]])
def test_an_empty_config_is_an_error_naming_the_file(tmp_path: Path, text, command) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    result = invoke(*command, str(path), "--out", str(tmp_path / "out"))
    assert_one_error_line(result, f"{path}: empty config")
    assert not (tmp_path / "out").exists()


TINY_STUDY = ["study", "--dataset", "synthetic", "--n-train", "16", "--n-val", "8",
              "--n-test", "8", "--image-size", "8", "--max-steps", "1", "--batch-size", "8",
              "--device", "cpu", "--executor", "inline", "--no-progress"]


def test_study_help_states_the_default_tasks() -> None:
    result = invoke("study", "--help")
    text = " ".join(result.output.replace("│", " ").split())
    assert "default all: every task of the dataset" in text
    assert "65 jobs for scenes' 10 tasks" in text


def test_study_says_how_many_jobs_it_starts_and_how_long_they_may_take(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "study")]
    first = invoke(*TINY_STUDY, *out, "--networks", "bright")
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    forecast = lines.index("1 job: 1 new, 0 already done; no estimate yet (no job of the store "
                           "is done)")
    assert forecast < next(i for i, line in enumerate(lines) if "trained," in line)


@dataclass
class _Record:
    status: str
    wall_time: float | None = None


@dataclass
class _Study:  # what job_forecast reads of a Study: its specs, records and store
    specs: list[str]
    mine: list[_Record]
    stored: list[_Record]

    def records(self) -> list[_Record]:
        return self.mine

    @property
    def store(self) -> _Study:
        return self

    def jobs(self, status: str) -> list[_Record]:
        return [r for r in self.stored if r.status == status]


def test_the_forecast_uses_the_mean_wall_time_of_the_stores_done_jobs() -> None:
    mine = [_Record("done", 10.0), _Record("failed"), _Record("pending")]
    study = _Study(["a", "b", "c"], mine, [*mine, _Record("done", 30.0)])
    assert job_forecast(study, retry_failed=True) == (
        "3 jobs: 2 new, 1 already done; estimate 40.0 s of training (20.0 s a job, the mean "
        "of 2 done in the store), shared by the workers")
    assert job_forecast(study, retry_failed=False).startswith(
        "3 jobs: 1 new, 1 already done, 1 failed kept (--skip-failed); estimate 20.0 s")
    finished = _Study(["a"], [_Record("done", 1.0)], [_Record("done", 1.0)])
    assert job_forecast(finished, True) == "1 job: 0 new, 1 already done; nothing to train"


VAL = str(Path(__file__).resolve().parents[1] / "data" / "standley2020" / "setting1_val.csv")


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--budgets", "1,,2"], ["--budgets '1,,2'", "item 2 is empty"]),
        (["--budgets", "1,2,"], ["--budgets '1,2,'", "item 3 is empty"]),
        (["--budgets", "0:2:1"], ["--budgets '0:2:1'", "budget 0 must be a positive finite"]),
        (["--budgets", "1:inf:1"], ["--budgets '1:inf:1'", "finite"]),
        (["--budget", "inf"], ["--budget: budget inf must be a positive finite"]),
        (["--budget", "nan"], ["--budget: budget nan"]),
        (["--budget", "0"], ["--budget: budget 0"]),
    ],
)
def test_select_rejects_budgets_that_are_not_budgets(args, names) -> None:
    assert_one_error_line(invoke("select", VAL, *args), *names)


@pytest.mark.parametrize(("budgets", "message"), [
    ("'1,,2'", "pipeline.budgets: '1,,2': item 2 is empty"),
    ("[1, .inf]", "pipeline.budgets: budget inf must be a positive finite"),
])
def test_run_rejects_config_budgets_with_the_same_parser(tmp_path: Path, budgets, message) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(f"data: {{dataset: synthetic}}\npipeline: {{budgets: {budgets}}}\n")
    assert_one_error_line(invoke("run", str(path), "--out", str(tmp_path / "out")),
                          str(path), message)


def test_config_budgets_may_be_written_as_on_the_command_line() -> None:
    from mtlgroup.config import PipelineConfig, parse_config

    assert parse_config({"budgets": "2:3:0.5"}, PipelineConfig).budgets == [2.0, 2.5, 3.0]


BOM = b"\xef\xbb\xbf"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"  # not UTF-8, and NUL bytes
NUL = b"network,cost\x00\x00\x00task\n"  # valid UTF-8 all the same
AFFINITY = "source,a,b\na,1,0.5\nb,0.4,1\n"


def _file(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def _as_table(path: str) -> list[str]:
    return ["select", path, "--budget", "2"]


def _as_affinity(path: str) -> list[str]:
    return ["select", "--affinity", path, "--max-groups", "1"]


def _as_config(path: str) -> list[str]:
    return ["study", "--config", path]


@pytest.mark.parametrize("command", [_as_table, _as_affinity, _as_config])
@pytest.mark.parametrize("content", [PNG, NUL])
def test_a_binary_file_is_said_to_be_one(tmp_path: Path, command, content) -> None:
    path = _file(tmp_path, "given", content)
    assert_one_error_line(invoke(*command(path)), f"{path}: not a text file (binary?)")


@pytest.mark.parametrize(("command", "what"), [(_as_table, "loss table"),
                                               (_as_affinity, "affinity file"),
                                               (_as_config, "config file")])
def test_a_directory_is_said_to_be_one(tmp_path: Path, command, what) -> None:
    assert_one_error_line(invoke(*command(str(tmp_path))),
                          f"{tmp_path}: is a directory, not a {what}")


def test_a_spreadsheets_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    table = (Path(VAL).read_bytes()).replace(b"\n", b"\r\n")  # as a spreadsheet exports it
    result = invoke(*_as_table(_file(tmp_path, "val.csv", BOM + table)), "--json")
    assert result.exit_code == 0, result.output
    affinity = invoke(*_as_affinity(_file(tmp_path, "a.csv", BOM + AFFINITY.encode())))
    assert affinity.exit_code == 0, affinity.output
    config = _file(tmp_path, "c.yaml", BOM + b"training: {epochs: 0}\n")  # read past the BOM
    assert_one_error_line(invoke(*_as_config(config)), f"{config}: training.epochs")


LR = "--lr (training.lr): expected a positive finite learning rate such as 0.001, got "


@pytest.mark.parametrize(("args", "message"), [
    (["--optimizer", "foo"],
     "--optimizer (training.optimizer): Input should be 'adam' or 'sgd', got 'foo'"),
    (["--lr", "nan"], LR + "nan"),
    (["--lr", "inf"], LR + "inf"),
    (["--lr", "0"], LR + "0.0"),
    (["--lr", "-1"], LR + "-1.0"),
])
def test_a_bad_training_flag_is_named_with_what_it_takes(tmp_path: Path, args, message) -> None:
    result = invoke("study", "--dataset", "synthetic", "--plan", "pairs",
                    "--out", str(tmp_path / "out"), *args)
    assert assert_one_error_line(result) == f"error: {message}"
    assert not (tmp_path / "out").exists()
