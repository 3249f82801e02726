"""The small protocol every vector backend implements (FAISS here; Milvus for scale-out later)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    """Vectors keyed by collection row id; inner-product search over normalised vectors."""

    dim: int

    def add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors for new row ids."""

    def delete(self, rows: np.ndarray) -> None:
        """Remove row ids; unknown ids are ignored."""

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids) of shape (n_queries, k), padded with -inf / -1.

        `allowed` is a boolean mask over row ids (filters); rows outside it are never returned.
        """

    def vectors_for(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors of the given row ids (for exact re-scoring of fused candidates)."""

    def __len__(self) -> int:
        """Number of live vectors."""

    def save(self, folder: Path, stem: str) -> list[str]:
        """Write files named `stem*` into `folder`; return their names."""
