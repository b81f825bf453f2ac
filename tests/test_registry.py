"""The one registry type and import paths: the lookups every "name → thing" table shares."""

from __future__ import annotations

import os
import sys

import pytest

from mtlgroup.imports import ImportPathError, import_object, is_import_path
from mtlgroup.registry import Registry, UnknownNameError


def test_register_get_and_list_in_registration_order():
    things: Registry[int] = Registry("thing")
    things.register("b", 2)
    assert things.register("a")(1) == 1  # decorator form returns the object
    assert things.names() == ["b", "a"] and things.get("a") == 1 and "b" in things
    assert len(things) == 2 and list(things) == ["b", "a"]


def test_unknown_name_lists_the_valid_ones_and_is_both_key_and_value_error():
    things: Registry[int] = Registry("thing")
    things.register("only", 1)
    with pytest.raises(UnknownNameError) as error:
        things.get("other")
    assert str(error.value) == "unknown thing 'other'; available: only"
    assert isinstance(error.value, KeyError) and isinstance(error.value, ValueError)


def test_a_taken_name_needs_replace_but_the_same_object_is_fine():
    things: Registry[object] = Registry("thing")
    marker = object()
    things.register("x", marker)
    things.register("x", marker)  # re-import of a module registering again
    with pytest.raises(ValueError, match="already registered"):
        things.register("x", object())
    replacement = object()
    things.register("x", replacement, replace=True)
    assert things.get("x") is replacement
    things.unregister("x")
    assert "x" not in things


def test_builtins_are_imported_on_first_lookup():
    module = "userpkg.tabular"
    sys.modules.pop(module, None)
    lazy: Registry[int] = Registry("thing", builtins=(module,))
    assert module not in sys.modules
    assert lazy.names() == [] and module in sys.modules


def test_import_paths():
    assert import_object("userpkg.tabular:load_rows").__name__ == "load_rows"
    assert import_object("os.path:join") is os.path.join
    assert is_import_path("a.b:c") and not is_import_path("table")
    for bad, message in [("no_such_module_x:f", "No module named 'no_such_module_x'"),
                         ("userpkg.tabular:missing", "has no attribute 'missing'"),
                         ("not a path", "expected package.module:function"),
                         ("a.b:", "expected package.module:function")]:
        with pytest.raises(ImportPathError, match=message):
            import_object(bad)


def test_a_module_beside_the_config_imports_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "beside_config_mod.py").write_text("def answer():\n    return 42\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert import_object("beside_config_mod:answer")() == 42


def test_a_module_that_raises_on_import_is_named(tmp_path, monkeypatch):
    (tmp_path / "raising_mod.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportPathError, match="importing raising_mod raised RuntimeError: boom"):
        import_object("raising_mod:f")
