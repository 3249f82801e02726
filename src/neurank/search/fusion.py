"""Fusing BM25 and dense scores of a shared candidate set into one score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurank.config import FusionConfig


@dataclass
class Candidates:
    """The union of both retrievers' top-N for one query, with exact scores from both."""

    rows: np.ndarray
    bm25: np.ndarray
    dense: np.ndarray
    bm25_rank: np.ndarray
    """1-based rank in BM25's own top-N list; 0 where BM25 did not list the document"""
    dense_rank: np.ndarray


def _minmax(scores: np.ndarray) -> np.ndarray:
    low, high = scores.min(), scores.max()
    return (scores - low) / (high - low) if high > low else np.zeros_like(scores)


def _zscore(scores: np.ndarray) -> np.ndarray:
    std = scores.std()
    return (scores - scores.mean()) / std if std > 0 else np.zeros_like(scores)


def _rrf(ranks: np.ndarray, k: int) -> np.ndarray:
    return np.where(ranks > 0, 1.0 / (k + ranks), 0.0)


def fuse(candidates: Candidates, config: FusionConfig) -> np.ndarray:
    """Hybrid score per candidate: weighted sum of normalised scores, or reciprocal rank fusion."""
    if len(candidates.rows) == 0:
        return np.zeros(0, dtype=np.float64)
    w = config.dense_weight
    if config.method == "rrf":
        return (1.0 - w) * _rrf(candidates.bm25_rank, config.rrf_k) + w * _rrf(
            candidates.dense_rank, config.rrf_k)
    normalize = _minmax if config.normalization == "minmax" else _zscore
    bm25 = normalize(candidates.bm25.astype(np.float64))
    dense = normalize(candidates.dense.astype(np.float64))
    return (1.0 - w) * bm25 + w * dense
