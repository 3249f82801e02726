"""Fusing the retrievers' scores of a shared candidate set into one score."""

from __future__ import annotations

import numpy as np

from neurank.config import FusionConfig
from neurank.search.candidates import Candidates


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scores mapped onto [0, 1] (all zeros when they are constant)."""
    scores = scores.astype(np.float64)
    low, high = scores.min(), scores.max()
    return (scores - low) / (high - low) if high > low else np.zeros_like(scores)


def zscore(scores: np.ndarray) -> np.ndarray:
    """Scores standardised to mean 0, std 1 along the last axis (zeros where constant)."""
    scores = scores.astype(np.float64)
    if scores.size == 0:
        return scores
    # not `std > 0`: a constant row's std can be a rounding residue (0.4 x 3 -> 5.6e-17),
    # which would blow rounding noise up to +-1
    constant = scores.max(axis=-1, keepdims=True) == scores.min(axis=-1, keepdims=True)
    std = np.where(constant, 1.0, scores.std(axis=-1, keepdims=True))
    return np.where(constant, 0.0, (scores - scores.mean(axis=-1, keepdims=True)) / std)


def _rrf(ranks: np.ndarray, k: int) -> np.ndarray:
    return np.where(ranks > 0, 1.0 / (k + ranks), 0.0)


def fuse(candidates: Candidates, config: FusionConfig) -> np.ndarray:
    """Hybrid score per candidate: weighted sum of normalised scores, or reciprocal rank fusion.

    The weights are `1 - dense_weight` for "bm25" and `dense_weight` for "dense".
    """
    if len(candidates.rows) == 0:
        return np.zeros(0, dtype=np.float64)
    weights = {"bm25": 1.0 - config.dense_weight, "dense": config.dense_weight}
    missing = [name for name in weights if name not in candidates.scores]
    if missing:
        raise ValueError(f"fusion needs the {missing} scores of every candidate")
    if config.method == "rrf":
        return sum(w * _rrf(candidates.ranks[name], config.rrf_k) for name, w in weights.items())
    normalize = minmax if config.normalization == "minmax" else zscore
    return sum(w * normalize(candidates.scores[name].astype(np.float64))
               for name, w in weights.items())


class FusionScorer:
    """The scorer stage for hybrid search: `fuse` under one FusionConfig."""

    name = "fused"

    def __init__(self, config: FusionConfig) -> None:
        self.config = config

    def __call__(self, candidates: Candidates) -> np.ndarray:
        return fuse(candidates, self.config)
