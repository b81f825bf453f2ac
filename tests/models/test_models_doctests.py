"""The runnable examples in the docstrings of the models, cost and device modules."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "mtlgroup.device",
    "mtlgroup.cost",
    "mtlgroup.models",
    "mtlgroup.models.encoders",
    "mtlgroup.models.factory",
    "mtlgroup.models.heads",
    "mtlgroup.models.multitask",
    "mtlgroup.models.registry",
    "mtlgroup.models.tracing",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
