"""The package's public names, and a light import for reading files."""

from __future__ import annotations

import subprocess
import sys

import mtlgroup.affinity as affinity


def test_every_public_name_resolves():
    assert sorted(affinity.__all__) == sorted(affinity._HOME)
    for name in affinity.__all__:
        assert getattr(affinity, name).__name__ == name


def test_reading_an_affinity_file_does_not_load_torch(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("source,a,b\na,1,0.5\nb,0.25,1\n")
    code = ("import sys; from mtlgroup.affinity import Affinity; "
            f"a = Affinity.from_csv({str(path)!r}); "
            "assert 'torch' not in sys.modules, 'torch was imported'; print(a.get('b', 'a'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0.25"
