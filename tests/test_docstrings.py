"""Every runnable example in the package's docstrings runs and prints what it shows.

Each module of ``mtlgroup`` (found by walking the installed package, so new modules are covered
without a list) has its examples run by :func:`doctest.testmod`, from a temporary working
directory and with :mod:`tempfile`'s directories inside it, so that examples write only there
(the suite's conftest already sends generated datasets to a temporary cache).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import tempfile

import pytest

import mtlgroup

MODULES = ["mtlgroup"] + sorted(
    info.name for info in pkgutil.walk_packages(mtlgroup.__path__, "mtlgroup.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
