"""The examples in the selection package's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mtlgroup.selection

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(mtlgroup.selection.__path__, "mtlgroup.selection.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
