"""Training: the trainer, update strategies, callbacks and the result record.

Selective task group updates (``stgu``) are in :mod:`mtlgroup.affinity.stgu`, beside the proximal
affinity they track; ``create_strategy("stgu")`` finds them.
"""

from mtlgroup.training.callbacks import Callback, LossHistory, TrainState
from mtlgroup.training.losses import NonFiniteLossError, evaluate, task_losses, total_loss
from mtlgroup.training.result import TrainResult
from mtlgroup.training.strategies import (
    STRATEGIES,
    JointStrategy,
    UpdateStrategy,
    available_strategies,
    create_strategy,
    register_strategy,
)
from mtlgroup.training.trainer import TRAINER_VERSION, TrainConfig, Trainer, train_network

__all__ = [
    "STRATEGIES",
    "TRAINER_VERSION",
    "Callback",
    "JointStrategy",
    "LossHistory",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "Trainer",
    "UpdateStrategy",
    "available_strategies",
    "create_strategy",
    "evaluate",
    "register_strategy",
    "task_losses",
    "total_loss",
    "train_network",
]
