"""The scorer stage: one score per candidate (fusion today, the learned ranker next)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from neurank.search.candidates import Candidates


class Scorer(Protocol):
    """Scores every candidate of one query; `name` is the signal its scores are shown under."""

    name: str

    def __call__(self, candidates: Candidates) -> np.ndarray: ...


class SignalScorer:
    """A single retriever's own score (the bm25 and dense modes)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, candidates: Candidates) -> np.ndarray:
        return candidates.scores[self.name]
