"""The Encoder protocol: what a collection, the search pipeline and trainers need of a model."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Encoder(Protocol):
    """Texts in, L2-normalised float32 vectors out; `backend` says which runtime does it."""

    name: str
    dim: int
    backend: str

    def encode(self, texts: list[str], *, batch_size: int | None = None,
               show_progress: bool = False) -> np.ndarray:
        """Vectors of shape (len(texts), dim) for documents."""
        ...

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """Vectors for queries (small batches, latency first)."""
        ...
