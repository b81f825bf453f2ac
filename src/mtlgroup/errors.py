"""Errors shared across the package that the CLI turns into one-line messages."""


class RunFailure(RuntimeError):
    """Work that could not be done (e.g. every training of a study failed).

    The CLI prints it as one line and exits with code 1 (bad input exits with 2).
    """


class NonFiniteLossError(RuntimeError):
    """A task's loss became NaN or infinite; training of that network stops.

    Defined here, not in :mod:`mtlgroup.training.losses` (which re-exports it), so that the CLI
    can catch it without importing torch.
    """

    def __init__(self, task: str, step: int, value: float):
        self.task, self.step, self.value = task, step, value
        super().__init__(f"loss of task {task!r} is {value} at step {step}; training stopped")
