"""The few error classes neurank raises; each message says what to fix."""

from __future__ import annotations

from pathlib import Path


class NeurankError(Exception):
    """Base class for every error neurank raises on purpose."""


class DataError(NeurankError):
    """Malformed input data; names the file, line and field when known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = ""
        if self.path:
            where = self.path + (f":{line}" if line is not None else "")
        if field:
            where = f"{where} field '{field}'" if where else f"field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)


class CollectionError(NeurankError):
    """A collection folder is missing, tampered with, or incompatible."""


class CheckpointError(NeurankError):
    """A checkpoint folder is missing, tampered with, or of another kind."""


class ModelError(NeurankError):
    """A model cannot be found or loaded."""


class NotFoundError(NeurankError):
    """An id (document, user, item) that the store does not hold."""
