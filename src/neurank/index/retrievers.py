"""Retrievers: the first stage of search, handed out by a Collection, one small interface.

A retriever turns queries into its own top-`depth` rows and can score any other row exactly,
so candidates found by one retriever get the other retrievers' scores too (hybrid fusion and
the learned ranker need every signal for every candidate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neurank.index.bm25 import BM25Index
from neurank.index.vectors import VectorIndex
from neurank.topk import top_indices


@dataclass
class Retrieved:
    """One query's list from one retriever, best first, and its exact scorer for other rows."""

    rows: np.ndarray
    scores: np.ndarray
    score_rows: Callable[[np.ndarray], np.ndarray]


class Retriever(Protocol):
    name: str
    needs_query_vector: bool

    def retrieve(self, queries: list[str], query_vectors: np.ndarray | None, depth: int,
                 allowed: np.ndarray | None) -> list[Retrieved]:
        """Top-`depth` rows per query; rows outside the `allowed` mask are never returned."""
        ...


class BM25Retriever:
    """Documents matching at least one query term, by BM25."""

    name = "bm25"
    needs_query_vector = False

    def __init__(self, index: BM25Index) -> None:
        self.index = index

    def _one(self, query: str, depth: int, allowed: np.ndarray | None) -> Retrieved:
        full = self.index.scores(query).astype(np.float64)
        keep = full > 0  # deleted slots score 0
        if allowed is not None:
            keep &= allowed[: len(keep)]
        rows = top_indices(np.where(keep, full, -np.inf), depth)
        return Retrieved(rows=rows, scores=full[rows],
                         score_rows=lambda r: np.maximum(full[r], 0.0))

    def retrieve(self, queries: list[str], query_vectors: np.ndarray | None, depth: int,
                 allowed: np.ndarray | None) -> list[Retrieved]:
        return [self._one(query, depth, allowed) for query in queries]


class DenseRetriever:
    """Nearest neighbours of the query vector in a vector backend (inner product)."""

    name = "dense"
    needs_query_vector = True

    def __init__(self, vectors: VectorIndex) -> None:
        self.vectors = vectors

    def _scorer(self, query_vector: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        def score_rows(rows: np.ndarray) -> np.ndarray:
            if not len(rows):
                return np.zeros(0, dtype=np.float64)
            return (self.vectors.vectors_for(rows) @ query_vector).astype(np.float64)
        return score_rows

    def retrieve(self, queries: list[str], query_vectors: np.ndarray | None, depth: int,
                 allowed: np.ndarray | None) -> list[Retrieved]:
        if query_vectors is None:
            raise ValueError("the dense retriever needs query vectors")
        scores, rows = self.vectors.search(query_vectors, depth, allowed)
        out = []
        for i, vector in enumerate(query_vectors):
            found = rows[i] >= 0
            out.append(Retrieved(rows=rows[i][found], scores=scores[i][found].astype(np.float64),
                                 score_rows=self._scorer(vector)))
        return out
