"""Take the answer away: the chosen networks as one model (:class:`GroupedModel`), an export
bundle that loads without the study or the data (:func:`export_bundle`, :func:`load_grouped`)
and predictions on new inputs (:func:`predict`)."""

from mtlgroup.export.bundle import (
    FORMAT_VERSION,
    BundleError,
    export_bundle,
    export_command,
    grouped_model,
    load_grouped,
    read_manifest,
)
from mtlgroup.export.choice import ChoiceError, RunChoice, run_choice
from mtlgroup.export.grouped import GroupedModel, serving_network

__all__ = [
    "FORMAT_VERSION",
    "BundleError",
    "ChoiceError",
    "GroupedModel",
    "RunChoice",
    "export_bundle",
    "export_command",
    "grouped_model",
    "load_grouped",
    "read_manifest",
    "run_choice",
    "serving_network",
]
