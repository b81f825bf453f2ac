"""Networks: a size-scalable encoder family, task heads, and the multi-task wrapper.

Example:
    >>> import torch
    >>> from mtlgroup.tasks import Task
    >>> net = make_network([Task("depth", "dense", 1)], (3, 32, 32), size=0.5)
    >>> net(torch.zeros(2, 3, 32, 32))["depth"].shape
    torch.Size([2, 1, 32, 32])
"""

from mtlgroup.models.encoders import ConvEncoder, conv_widths
from mtlgroup.models.factory import make_network
from mtlgroup.models.heads import (
    DenseDecoder,
    GlobalPool,
    LabelHead,
    VectorHead,
    build_head,
    default_head,
)
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.network_factory import (
    NETWORKS,
    NetworkFactory,
    NetworkFactoryError,
    create_network,
    register_network,
)
from mtlgroup.models.registry import available_encoders, create_encoder, register_encoder
from mtlgroup.models.tracing import feature_shape

__all__ = [
    "NETWORKS",
    "NetworkFactory",
    "NetworkFactoryError",
    "create_network",
    "register_network",
    "ConvEncoder",
    "DenseDecoder",
    "GlobalPool",
    "LabelHead",
    "MultiTaskNet",
    "VectorHead",
    "available_encoders",
    "build_head",
    "conv_widths",
    "create_encoder",
    "default_head",
    "feature_shape",
    "make_network",
    "register_encoder",
]
