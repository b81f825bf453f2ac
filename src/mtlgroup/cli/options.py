"""Options and parsing shared by the commands that load a dataset and train."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from mtlgroup.cli.app import UsageError


@dataclass
class DataOptions:
    """Which data to load: every built-in loader accepts these keyword arguments."""

    dataset: str
    n_train: int | None
    n_val: int | None
    n_test: int | None
    image_size: int | None
    data_seed: int

    def loader_kwargs(self) -> dict[str, int]:
        given = {
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "size": self.image_size,
            "seed": self.data_seed,
        }
        return {k: v for k, v in given.items() if v is not None}


DATASET = typer.Option("scenes", "--dataset", "-d", help="Dataset name (see `mtlgroup datasets`).")
N_TRAIN = typer.Option(None, "--n-train", min=1, help="Training images (default: the dataset's).")
N_VAL = typer.Option(None, "--n-val", min=1, help="Validation images.")
N_TEST = typer.Option(None, "--n-test", min=1, help="Test images.")
IMAGE_SIZE = typer.Option(None, "--image-size", min=8, help="Image side in pixels (scenes: 32).")
DATA_SEED = typer.Option(0, "--data-seed", help="Seed of the generated data.")


def resolve_tasks(dataset: str, tasks: str) -> list[str]:
    """Parse ``--tasks``: comma-separated names, ``all``, or ``set:NAME`` for a named task set."""
    from mtlgroup.data import dataset_entry
    from mtlgroup.tasks import parse_task_list

    entry = dataset_entry(dataset)
    valid = entry.tasks().names
    text = tasks.strip()
    if text == "all":
        return list(valid)
    if text.startswith("set:"):
        set_name = text[4:]
        if set_name not in entry.task_sets:
            known = ", ".join(f"set:{k}" for k in entry.task_sets)
            raise UsageError(f"unknown task set {text!r} of {dataset}; known: {known}")
        return list(entry.task_sets[set_name])
    return parse_task_list(text, valid)


def check_size(size: float) -> float:
    if not (0.0 < size <= 16.0):
        raise UsageError(f"bad --size {size}: the encoder size must be in (0, 16], e.g. 0.5 or 1")
    return size


# Training flags shared by the commands that train one network (`train`, `affinity`).
SIZE = typer.Option(1.0, "--size", help="Encoder size: 1 = standard, 0.5 = half the FLOPs.")
EPOCHS = typer.Option(10, "--epochs", min=1, help="Passes over the training split.")
MAX_STEPS = typer.Option(None, "--max-steps", min=1, help="Optimizer steps (overrides --epochs).")
BATCH_SIZE = typer.Option(64, "--batch-size", min=1)
LR = typer.Option(1e-3, "--lr", min=0.0, help="Learning rate.")
OPTIMIZER = typer.Option("adam", "--optimizer", help="adam or sgd.")
SCHEDULE = typer.Option("constant", "--schedule", help="constant, cosine or step.")
PATIENCE = typer.Option(None, "--patience", min=1,
                        help="Stop after this many validations without improvement.")
SEED = typer.Option(0, "--seed", help="Seed of weights and data order.")
DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")


def train_config(device: str, **fields):  # -> mtlgroup.training.TrainConfig
    """The training configuration of the flags above; a bad device fails here, before any
    time is spent on data."""
    from mtlgroup.device import resolve_device
    from mtlgroup.training import TrainConfig

    resolve_device(device)
    return TrainConfig(device=device, **fields)
