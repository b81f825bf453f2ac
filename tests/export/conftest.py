"""The export tests' run and bundle (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_helpers import SYNTHETIC, SYNTHETIC_CHOICE, make_run


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("run"), "synthetic", SYNTHETIC, SYNTHETIC_CHOICE)


@pytest.fixture(scope="session")
def synthetic_bundle(synthetic_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mtlgroup.export import export_bundle

    return export_bundle(synthetic_run, 3.0, tmp_path_factory.mktemp("bundle") / "bundle")
