"""Training: the trainer, update strategies, callbacks and the result record.

Selective task group updates (``stgu``) are in :mod:`mtlgroup.affinity.stgu`, beside the proximal
affinity they track; ``create_strategy("stgu")`` finds them. The torchjd aggregators and
scalarizers and GradNorm are in :mod:`~mtlgroup.training.jacobian_strategies`,
:mod:`~mtlgroup.training.scalarized_strategies` and :mod:`~mtlgroup.training.gradnorm`;
``describe_strategies()`` lists every one (``mtlgroup strategies``).
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
from mtlgroup.training.strategy_catalog import (
    StrategyInfo,
    describe_strategies,
    describe_strategy,
    parse_strategy_spec,
    strategy_from_spec,
)
from mtlgroup.training.trainer import TRAINER_VERSION, TrainConfig, Trainer, train_network

__all__ = [
    "STRATEGIES",
    "TRAINER_VERSION",
    "StrategyInfo",
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
    "describe_strategies",
    "describe_strategy",
    "evaluate",
    "parse_strategy_spec",
    "register_strategy",
    "strategy_from_spec",
    "task_losses",
    "total_loss",
    "train_network",
]
