"""Matryoshka in use: the first `dim` coordinates of another encoder's vectors, renormalised."""

from __future__ import annotations

import numpy as np

from neurank.encoders.protocol import Encoder
from neurank.errors import ModelError


def truncate_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first `dim` coordinates of each row, L2-normalised again (zero rows stay zero)."""
    head = np.ascontiguousarray(vectors[:, :dim], dtype=np.float32)
    norms = np.linalg.norm(head, axis=1, keepdims=True)
    return head / np.where(norms > 0, norms, 1.0)


class TruncatedEncoder:
    """`inner`'s vectors cut to `dim` dimensions (a Matryoshka-trained model keeps most of its
    quality there: see `benchmarks/finetune.py`), then L2-normalised again."""

    def __init__(self, inner: Encoder, dim: int) -> None:
        if not 1 <= dim <= inner.dim:
            raise ModelError(f"--dim {dim}: {inner.name} makes {inner.dim}-d vectors; choose "
                             f"a dimension from 1 to {inner.dim}")
        self.inner, self.dim = inner, dim
        self.name, self.backend = inner.name, inner.backend

    def encode(self, texts: list[str], *, batch_size: int | None = None,
               show_progress: bool = False) -> np.ndarray:
        return truncate_vectors(self.inner.encode(texts, batch_size=batch_size,
                                           show_progress=show_progress), self.dim)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        return truncate_vectors(self.inner.encode_queries(queries), self.dim)
