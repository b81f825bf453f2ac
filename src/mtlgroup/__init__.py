"""mtlgroup: which tasks should be learned together in multi-task learning?

The package is layered so that each stage can run alone: ``tasks`` and ``data`` describe the
problem, ``models`` and ``training`` train networks, ``study`` trains many, ``affinity``
estimates task affinity from one run, ``selection`` chooses networks under a budget (no torch),
and ``report`` shows the result. Import what you need from the subpackages; this top level stays
light so that ``import mtlgroup.selection`` does not pull in torch.
"""

__version__ = "0.1.0"

_LAZY = {"load_grouped": "mtlgroup.export", "GroupedModel": "mtlgroup.export",
         "export_bundle": "mtlgroup.export", "grouped_model": "mtlgroup.export"}
"""Names the top level offers without importing torch until they are used."""


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mtlgroup' has no attribute {name!r}")
