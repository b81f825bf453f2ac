"""Malformed input through the real command line: whatever is wrong with a loss table, an
affinity CSV, a budget string or a YAML config, the answer is exit code 2 and one ``error:``
line on stderr that names the file, no traceback, and nothing written.

Each input is broken by construction (one mutation of a valid file), so every example must be
rejected; hypothesis picks the mutation and its details. ``derandomize``: the same examples on
every run, so a failure reproduces and the suite stays fast.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import mtlgroup.cli  # noqa: F401  (registers the commands)
from mtlgroup.cli.app import app

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

TABLE = [["network", "cost", "task", "loss"],
         ["a", "1", "a", "0.3"], ["b", "1", "b", "0.5"],
         ["a+b", "1", "a", "0.35"], ["a+b", "1", "b", "0.4"]]
AFFINITY = [["source", "a", "b", "c"], ["a", "1", "0.2", "0.1"], ["b", "0.3", "1", "-0.1"],
            ["c", "0.1", "0.2", "1"]]

# Text that is no number: a letter that no float/Decimal literal (inf, nan, 1e3) holds.
NOT_A_NUMBER = st.one_of(
    st.sampled_from(["", " ", "nan", "inf", "-inf", "NaN", "1..2", "--1", "0x1"]),
    st.text(alphabet="0123456789.-+ xqzk", min_size=1, max_size=6).filter(
        lambda s: any(c in s for c in "xqzk")),
)
BINARY = st.binary(min_size=1, max_size=40).map(lambda b: b"\x89PNG\r\n\x1a\n\x00\xff" + b)


def csv_text(rows: list[list[str]]) -> bytes:
    return "".join(",".join(row) + "\n" for row in rows).encode()


@st.composite
def broken_tables(draw: st.DrawFn) -> bytes:
    """A loss table with one thing wrong."""
    rows = [list(r) for r in TABLE]
    kind = draw(st.sampled_from(["empty", "header", "cost", "loss", "fields", "conflict",
                                 "twice", "name", "binary", "no rows"]))
    row = draw(st.integers(1, len(rows) - 1))
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"  \n\n"]))
    if kind == "binary":
        return draw(BINARY)
    if kind == "header":  # a required column left out (and its cells)
        column = draw(st.integers(0, 3))
        rows = [r[:column] + r[column + 1:] for r in rows]
    elif kind == "cost":
        rows[row][1] = draw(st.one_of(NOT_A_NUMBER, st.floats(max_value=-1e-3).map(repr)))
    elif kind == "loss":
        rows[row][3] = draw(NOT_A_NUMBER)
    elif kind == "fields":  # a short row (a long one is fine: spreadsheets add commas)
        rows[row] = rows[row][:draw(st.integers(1, 3))]
    elif kind == "conflict":  # one network, two costs
        rows.append(["a+b", draw(st.sampled_from(["2", "0.5", "1.5"])), "c", "0.1"])
    elif kind == "twice":  # a network lists a task twice
        rows.append(list(rows[row]))
    elif kind == "name":
        rows[row][draw(st.sampled_from([0, 2]))] = draw(st.sampled_from(["", " "]))
    else:  # "no rows"
        rows = rows[:1]
    return csv_text(rows)


@st.composite
def broken_affinities(draw: st.DrawFn) -> bytes:
    """An affinity CSV with one thing wrong."""
    rows = [list(r) for r in AFFINITY]
    kind = draw(st.sampled_from(["empty", "binary", "header", "tasks", "cell", "row",
                                 "source", "twice", "width"]))
    row = draw(st.integers(1, len(rows) - 1))
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b" , \n"]))
    if kind == "binary":
        return draw(BINARY)
    if kind == "header":  # the first cell is not `source`
        rows[0][0] = draw(st.sampled_from(["", "task", "src", "a"]))
    elif kind == "tasks":  # a header task twice or empty
        rows[0][draw(st.integers(2, 3))] = draw(st.sampled_from(["a", ""]))
    elif kind == "cell":
        rows[row][draw(st.integers(1, 3))] = draw(NOT_A_NUMBER.filter(
            lambda s: s.strip().lower() not in ("nan", "inf", "-inf")))  # nan is a value here
    elif kind == "row":  # a source task without its row
        del rows[row]
    elif kind == "source":  # a row for a task the header does not have
        rows[row][0] = draw(st.sampled_from(["d", "A", "a+b"]))
    elif kind == "twice":
        rows.append(list(rows[row]))
    else:  # "width": a row with too few or too many values
        rows[row] = rows[row][:-1] if draw(st.booleans()) else [*rows[row], "0.5"]
    return csv_text(rows)


BROKEN_BUDGETS = st.one_of(
    NOT_A_NUMBER.filter(lambda s: s.strip() not in ("",)),
    st.sampled_from(["1:5", "1:5:0.5:1", "5:1:1", "1:5:0", "1:5:-1", "-1", "1,-2", ",", ":",
                     "0.1", "0:0.5:0.1"]),  # the last three: below the cheapest cover (1)
)


@st.composite
def broken_configs(draw: st.DrawFn) -> bytes:
    """A YAML config that fails validation before anything is trained."""
    kind = draw(st.sampled_from(["syntax", "not a mapping", "unknown key", "type", "binary"]))
    if kind == "binary":
        return draw(BINARY)
    if kind == "syntax":
        text = draw(st.sampled_from(["data: [1, 2\n", "a: b: c\n", "training:\n\tepochs: 1\n",
                                     "out: 'open\n", "{data: \n"]))
    elif kind == "not a mapping":
        text = draw(st.sampled_from(["- 1\n- 2\n", "42\n", "just words\n", "'text'\n"]))
    elif kind == "unknown key":
        section = draw(st.sampled_from(["", "training", "data", "study", "pipeline"]))
        key = draw(st.text(alphabet="xyzqk_", min_size=3, max_size=8))
        text = f"{key}: 1\n" if not section else f"{section}:\n  {key}: 1\n"
    else:  # "type"
        text = draw(st.sampled_from([
            "training:\n  epochs: many\n", "training:\n  epochs: -1\n", "training:\n  lr: fast\n",
            "training:\n  batch_size: [1]\n", "data:\n  n_train: -5\n", "study: 3\n",
            "pipeline:\n  budgets: soon\n", "training: [1, 2]\n"]))
    return text.encode()


def listing(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def assert_rejected(files: dict[str, bytes], args: Callable[[Path], list[str]],
                    named: str | None) -> None:
    """Write ``files`` to a fresh folder, run the command ``args(folder)``: exit 2, one
    ``error:`` line naming the file ``named``, no traceback, nothing written."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for file, content in files.items():
            (folder / file).write_bytes(content)
        before = listing(folder)
        result = CliRunner().invoke(app, args(folder))
        assert result.exit_code == 2, (files, result.output)
        assert "Traceback" not in result.output, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (files, result.stderr)
        if named is not None:
            assert str(folder / named) in lines[0], (files, lines[0])
        assert listing(folder) == before, "something was written"


@FUZZ
@given(broken_tables())
def test_select_rejects_a_broken_loss_table(content: bytes) -> None:
    assert_rejected({"val.csv": content},
                    lambda folder: ["select", str(folder / "val.csv"), "--budget", "2"],
                    "val.csv")


@FUZZ
@given(broken_tables())
def test_select_rejects_a_broken_table_to_score_on(content: bytes) -> None:
    assert_rejected({"val.csv": csv_text(TABLE), "test.csv": content},
                    lambda folder: ["select", str(folder / "val.csv"), "--budget", "2",
                                    "--score-on", str(folder / "test.csv")],
                    "test.csv")


@FUZZ
@given(broken_affinities())
def test_select_rejects_a_broken_affinity_file(content: bytes) -> None:
    assert_rejected({"a.csv": content},
                    lambda folder: ["select", "--affinity", str(folder / "a.csv"),
                                    "--max-groups", "2"],
                    "a.csv")


@FUZZ
@given(BROKEN_BUDGETS)
def test_select_rejects_a_broken_budget_list(text: str) -> None:
    assert_rejected({"val.csv": csv_text(TABLE)},
                    lambda folder: ["select", str(folder / "val.csv"), f"--budgets={text}"],
                    None)


@FUZZ
@given(broken_configs(), st.sampled_from(["run", "study"]))
def test_run_and_study_reject_a_broken_config(content: bytes, command: str) -> None:
    def args(folder: Path) -> list[str]:
        config, out = str(folder / "config.yaml"), ["--out", str(folder / "out")]
        return ["run", config, *out] if command == "run" else [
            "study", "--config", config, *out, "--networks", "a"]

    assert_rejected({"config.yaml": content}, args, "config.yaml")
