"""Errors shared across the package that the CLI turns into one-line messages."""


class RunFailure(RuntimeError):
    """Work that could not be done (e.g. every training of a study failed).

    The CLI prints it as one line and exits with code 1 (bad input exits with 2).
    """
