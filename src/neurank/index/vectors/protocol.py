"""The small protocol every vector backend implements, and the one contract test checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from neurank.config import VectorIndexConfig


class VectorIndex(Protocol):
    """Vectors keyed by collection row id; inner-product search over normalised vectors.

    Writes (`add`, `delete`) are visible to `search` at once and become durable at `save`,
    which the Collection calls inside its commit with the rows of the segment it writes;
    `state()` goes into the manifest and is handed back to `load` (with every segment's files),
    so a backend can refuse a store that disagrees with the commit.
    """

    dim: int
    config: VectorIndexConfig

    def add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors for new row ids."""
        ...

    def delete(self, rows: np.ndarray) -> None:
        """Remove row ids; unknown ids are ignored."""
        ...

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids) of shape (n_queries, k), padded with -inf / -1.

        `allowed` is a boolean mask over row ids (filters); rows outside it are never returned.
        """
        ...

    def vectors_for(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors of the given row ids (for exact re-scoring of fused candidates)."""
        ...

    def __len__(self) -> int:
        """Number of live vectors."""
        ...

    def save(self, folder: Path, stem: str, rows: np.ndarray) -> list[str]:
        """Make pending writes durable: the vectors of a new segment's `rows` (and whatever
        else the backend must persist now) in files named `stem*`; return their names."""
        ...

    def save_graph(self, folder: Path, stem: str) -> list[str]:
        """Persist a search structure that is costly to rebuild (HNSW); [] if none."""
        ...

    def state(self) -> dict[str, Any]:
        """What the manifest records about this index (backend, remote name, count)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


def check_vectors(rows: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(int64 rows, contiguous float32 vectors), checked for shape and finiteness."""
    rows = np.asarray(rows, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.shape != (len(rows), dim):
        raise ValueError(f"expected vectors of shape ({len(rows)}, {dim}), got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors contain NaN or infinity")
    return rows, vectors


def empty_result(n_queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    shape = (n_queries, max(k, 0))
    return np.full(shape, -np.inf, dtype=np.float32), np.full(shape, -1, dtype=np.int64)


def pad_result(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad (n, k') results to (n, k) with -inf / -1."""
    if scores.shape[1] >= k:
        return scores[:, :k], rows[:, :k]
    pad = ((0, 0), (0, k - scores.shape[1]))
    return (np.pad(scores, pad, constant_values=-np.inf),
            np.pad(rows, pad, constant_values=-1))
