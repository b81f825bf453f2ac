"""Reading a text file a user named (a loss table, an affinity CSV, a YAML config).

Whatever goes wrong is one sentence that names the file: it is missing, it is a directory, or
it is not text at all (a binary file given by mistake: without this, "'utf-8' codec can't
decode byte 0x89" or csv's "line contains NUL"). A UTF-8 byte-order mark, which spreadsheet
programs write at the start of an exported CSV, is accepted (encoding ``utf-8-sig``): without
that the first column would be named ``\\ufeffnetwork``. No third-party import.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "t.csv").write_bytes(b"\\xef\\xbb\\xbfnetwork,cost\\r\\n")
    >>> read_text(folder / "t.csv", "loss table")
    'network,cost\\r\\n'
    >>> read_text(folder, "loss table")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...: is a directory, not a loss table
"""

from __future__ import annotations

from pathlib import Path


def read_text(path: str | Path, what: str, error: type[Exception] = ValueError) -> str:
    """The text of ``path`` (a ``what``, e.g. ``"loss table"``), line endings as written.

    Raises:
        FileNotFoundError: ``{what} {path} does not exist``.
        error: ``{path}: is a directory, not a {what}`` or ``{path}: not a text file
            (binary?)`` (``error`` is the caller's error type, a ``ValueError`` by default).
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a directory, not a {what}")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:  # valid UTF-8 can still be binary; no text file holds a NUL byte
        raise error(f"{path}: not a text file (binary?); expected a {what}")
    return text
