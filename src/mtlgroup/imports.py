"""Import a user's function by path, ``package.module:function``.

Datasets and network factories of a user are named this way in configs and on the command line,
and worker processes (local or Ray) import them again by the same path, so a path must be
importable where the jobs run. The current directory is searched too, as ``python -m`` does,
so a ``mydata.py`` in the directory the ``mtlgroup`` command runs from imports.

Example:
    >>> import_object("math:sqrt")(9.0)
    3.0
    >>> is_import_path("scenes"), is_import_path("mypkg.data:load")
    (False, True)
    >>> import_object("math:nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mtlgroup.imports.ImportPathError: cannot import 'math:nope': module 'math' has no ...
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class ImportPathError(ValueError):
    """A ``module:attribute`` path that does not import; the message says why."""


def is_import_path(text: str) -> bool:
    """Whether ``text`` has the form ``package.module:attribute``."""
    return isinstance(text, str) and ":" in text


def import_object(path: str) -> Any:
    """The object at ``package.module:attribute`` (dots after the colon walk attributes)."""
    if not _PATH.match(path or ""):
        raise ImportPathError(
            f"{path!r} is not an import path: expected package.module:function"
        )
    module_name, attribute = path.split(":", 1)
    module = _import_module(path, module_name)
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ImportPathError(
                f"cannot import {path!r}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    return value


def _import_module(path: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        cwd = os.getcwd()
        missing_top = error.name == module_name.split(".")[0]
        if missing_top and cwd not in sys.path and "" not in sys.path:
            sys.path.append(cwd)  # a user's module in the working directory (as `python -m`)
            return _import_module(path, module_name)
        raise ImportPathError(f"cannot import {path!r}: {error}") from None
    except Exception as error:  # the user's module raised while importing
        raise ImportPathError(
            f"cannot import {path!r}: importing {module_name} raised "
            f"{type(error).__name__}: {error}"
        ) from None
