"""The grouped model in other formats, for serving without mtlgroup (``--format``).

==============  ==============  ==========================================================
format          file            loads with
==============  ==============  ==========================================================
``torchscript`` ``model.ts``    ``torch.jit.load`` (traced: one input tensor, a dict out)
``pt2``         ``model.pt2``   ``torch.export.load(...).module()`` (batch size dynamic)
``onnx``        ``model.onnx``  onnxruntime etc.; outputs named by task (extra ``onnx``)
==============  ==============  ==========================================================

A network that a format cannot capture (data-dependent control flow, unsupported ops) makes
that format fail with a message naming the format; the bundle itself is then not written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from mtlgroup.export.grouped import GroupedModel


def _example(manifest: dict[str, Any], batch: int = 2) -> torch.Tensor:
    import torch

    return torch.zeros(batch, *manifest["input"]["shape"])


def _torchscript(model: GroupedModel, folder: Path, manifest: dict[str, Any]) -> str:
    import warnings

    import torch

    with warnings.catch_warnings():
        # Tracing warns that shapes become constants: only the batch size varies, and it does
        # not enter any shape computation.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, _example(manifest), strict=False)
    torch.jit.save(traced, str(folder / "model.ts"))
    return "model.ts"


def _pt2(model: GroupedModel, folder: Path, manifest: dict[str, Any]) -> str:
    import torch

    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (_example(manifest),),
                                  dynamic_shapes=({0: batch},))
    torch.export.save(program, str(folder / "model.pt2"))
    return "model.pt2"


def _onnx(model: GroupedModel, folder: Path, manifest: dict[str, Any]) -> str:
    import torch

    try:
        import onnx  # noqa: F401  (torch's exporter needs it; fail here with the hint)
        import onnxscript  # noqa: F401
    except ImportError:
        raise ValueError("--format onnx needs the onnx extra: pip install 'mtlgroup[onnx]'"
                         ) from None
    tasks = list(model.tasks)
    torch.onnx.export(model, (_example(manifest),), str(folder / "model.onnx"),
                      input_names=["inputs"], output_names=tasks,
                      dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), dynamo=True,
                      external_data=False)
    return "model.onnx"


FORMATS: dict[str, Callable[[GroupedModel, Path, dict[str, Any]], str]] = {
    "torchscript": _torchscript,
    "pt2": _pt2,
    "onnx": _onnx,
}


def write_format(name: str, model: GroupedModel, folder: Path, manifest: dict[str, Any]) -> str:
    """Write ``model`` into ``folder`` in format ``name``; returns the file's name."""
    try:
        return FORMATS[name](model, folder, manifest)
    except ValueError:
        raise
    except Exception as error:  # the exporters raise many types; one line that says which
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(f"--format {name}: the chosen networks cannot be exported "
                         f"({type(error).__name__}: {first})") from error
