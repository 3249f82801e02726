"""Candidates: what the retrievers found for one query, carried through every later stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurank.data.corpus import Document
from neurank.index.retrievers import Retrieved


@dataclass
class Candidates:
    """The union of the retrievers' lists for one query, each candidate scored by all of them.

    `ranks[name]` is the 1-based rank in that retriever's own list, 0 where it did not list the
    candidate. `features` holds per-candidate arrays later stages compute (boost factors now,
    ranker features next); `documents` is filled once, by the first stage that needs them.
    """

    query: str
    rows: np.ndarray
    scores: dict[str, np.ndarray]
    ranks: dict[str, np.ndarray]
    query_vector: np.ndarray | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)
    documents: dict[int, Document] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)


def merge_retrieved(query: str, lists: dict[str, Retrieved],
                    query_vector: np.ndarray | None = None) -> Candidates:
    """Candidates from each retriever's list: union of rows, exact scores and ranks from all."""
    rows = np.unique(np.concatenate([r.rows for r in lists.values()])).astype(np.int64)
    scores, ranks = {}, {}
    for name, found in lists.items():
        rank = np.zeros(len(rows), dtype=np.int64)
        positions = np.searchsorted(rows, found.rows)
        rank[positions] = np.arange(1, len(found.rows) + 1)
        score = np.zeros(len(rows), dtype=np.float64)
        score[positions] = found.scores
        others = rank == 0
        if others.any():
            score[others] = found.score_rows(rows[others])
        scores[name], ranks[name] = score, rank
    return Candidates(query=query, rows=rows, scores=scores, ranks=ranks,
                      query_vector=query_vector)
