"""The strategy catalogue (what `mtlgroup strategies` prints) and NAME:KEY=VALUE specs."""

from __future__ import annotations

import pytest

from mtlgroup.training import available_strategies
from mtlgroup.training.strategy_catalog import (
    KINDS,
    describe_strategies,
    parse_strategy_spec,
    strategy_from_spec,
)
from mtlgroup.training.torchjd_support import torchjd_available


def test_every_strategy_is_described():
    infos = describe_strategies()
    assert sorted(info.name for info in infos) == available_strategies()
    assert all(info.kind in KINDS and info.description for info in infos)
    by_name = {info.name: info for info in infos}
    assert by_name["joint"].kind == "joint" and by_name["stgu"].kind == "group-sequential"
    assert by_name["upgrad"].source == "torchjd" and by_name["gradnorm"].source == "mtlgroup"
    assert by_name["cagrad"].options == {"c": 0.4, "norm_eps": 0.0001}
    assert by_name["gradnorm"].options == {"alpha": 1.5, "lr": 0.025, "layer": "last"}
    assert by_name["upgrad"].available == torchjd_available()
    for name in ("upgrad", "mgda", "pcgrad", "cagrad", "nashmtl", "alignedmtl", "imtlg",
                 "graddrop", "dualproj", "uw", "dwa", "famo", "imtll", "gradnorm"):
        assert name in by_name


@pytest.mark.parametrize("text,expected", [
    ("joint", ("joint", {})),
    (" cagrad:c=0.4 ", ("cagrad", {"c": 0.4})),
    ("gradnorm:alpha=0,layer=all", ("gradnorm", {"alpha": 0, "layer": "all"})),
    ("upgrad:pref_vector=[1, 2, 3]", ("upgrad", {"pref_vector": [1, 2, 3]})),
    ("stgu:groups=[[a, b], [c]],seed=3", ("stgu", {"groups": [["a", "b"], ["c"]], "seed": 3})),
    ("nashmtl:max_norm=null", ("nashmtl", {"max_norm": None})),
])
def test_specs_parse(text, expected):
    assert parse_strategy_spec(text) == expected


@pytest.mark.parametrize("text", ["", ":c=1", "cagrad:c", "cagrad:=1"])
def test_malformed_specs_are_refused(text):
    with pytest.raises(ValueError, match="bad strategy"):
        parse_strategy_spec(text)


def test_a_spec_makes_its_strategy():
    strategy = strategy_from_spec("gradnorm:alpha=0.5")
    assert strategy.name == "gradnorm" and strategy.alpha == 0.5


def test_without_torchjd_the_error_says_how_to_install(monkeypatch):
    import importlib

    real = importlib.import_module

    def no_torchjd(name, *args, **kwargs):
        if name.startswith("torchjd"):
            raise ImportError("No module named 'torchjd'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_torchjd)
    hint = r"'pcgrad' needs torchjd.*pip install mtlgroup\[torchjd\]"
    with pytest.raises(ImportError, match=hint):
        strategy_from_spec("pcgrad")
