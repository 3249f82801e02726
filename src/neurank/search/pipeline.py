"""SearchPipeline: BM25 and dense retrieval, fusion, boosts and filters over a Collection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
from tqdm.auto import tqdm

from neurank.config import BoostConfig, FusionConfig
from neurank.errors import NeurankError
from neurank.index.collection import Collection
from neurank.index.store import Filters
from neurank.search.boosts import apply_boosts, boost_factors
from neurank.search.fusion import Candidates, fuse

Mode = Literal["bm25", "dense", "hybrid"]
MODES: tuple[str, ...] = get_args(Mode)
MAX_K = 10_000


@dataclass
class Ranking:
    """Top rows of one query with the scores of each signal, aligned with `rows`."""

    rows: np.ndarray
    score: np.ndarray
    signals: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Hit:
    """One result; `scores` holds every signal that ranked it (bm25, dense, fused)."""

    id: str
    rank: int
    score: float
    scores: dict[str, float]
    title: str
    text: str
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "rank": self.rank, "score": self.score, "scores": self.scores,
                "title": self.title, "text": self.text, "metadata": self.metadata}


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n highest finite scores, best first, ties by lower index."""
    candidates = np.flatnonzero(np.isfinite(scores))
    if len(candidates) > n:
        part = np.argpartition(-scores[candidates], n - 1)[:n]
        candidates = candidates[part]
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order]


class SearchPipeline:
    """Runs queries against a collection in bm25, dense or hybrid mode."""

    def __init__(
        self,
        collection: Collection,
        *,
        fusion: FusionConfig | None = None,
        boosts: BoostConfig | None = None,
    ) -> None:
        self.collection = collection
        self.fusion = fusion or collection.config.fusion
        self.boosts = boosts or collection.config.boosts

    # ------------------------------------------------------------------ signals
    def _bm25_scores(self, query: str, allowed: np.ndarray | None) -> np.ndarray:
        """BM25 score per row, -inf for deleted or filtered-out rows."""
        scores = self.collection.bm25.scores(query).astype(np.float64)
        keep = self.collection.bm25.live.copy()
        if allowed is not None:
            keep &= allowed[: len(keep)]
        scores[~keep] = -np.inf
        return scores

    def _bm25_top(self, scores: np.ndarray, n: int) -> np.ndarray:
        """Rows matching at least one query term, best first."""
        matched = np.where(scores > 0, scores, -np.inf)
        return _top(matched, n)

    def _encode(self, queries: list[str]) -> np.ndarray:
        return self.collection.encoder.encode_queries(queries)

    def candidates(
        self, queries: list[str], *, depth: int | None = None, filters: Filters | None = None,
        show_progress: bool = False,
    ) -> list[Candidates]:
        """Union of BM25's and the dense index's top-`depth` per query, scored by both."""
        depth = depth or self.fusion.candidates
        allowed = self.collection.allowed_rows(filters)
        query_vectors = self._encode(queries)
        _, dense_rows = self.collection.vectors.search(query_vectors, depth, allowed)
        out = []
        for i, query in enumerate(tqdm(queries, desc="fusing", disable=not show_progress)):
            bm25_scores = self._bm25_scores(query, allowed)
            bm25_list = self._bm25_top(bm25_scores, depth)
            dense_list = dense_rows[i][dense_rows[i] >= 0]
            rows = np.union1d(bm25_list, dense_list)
            bm25_rank = np.zeros(len(rows), dtype=np.int64)
            dense_rank = np.zeros(len(rows), dtype=np.int64)
            bm25_rank[np.searchsorted(rows, bm25_list)] = np.arange(1, len(bm25_list) + 1)
            dense_rank[np.searchsorted(rows, dense_list)] = np.arange(1, len(dense_list) + 1)
            dense_scores = (self.collection.vectors.vectors_for(rows) @ query_vectors[i]
                            if len(rows) else np.zeros(0, dtype=np.float32))
            out.append(Candidates(rows=rows, bm25=np.maximum(bm25_scores[rows], 0.0),
                                  dense=dense_scores.astype(np.float64),
                                  bm25_rank=bm25_rank, dense_rank=dense_rank))
        return out

    # ------------------------------------------------------------------ ranking
    def _fused_ranking(self, query: str, cands: Candidates, k: int,
                       fusion: FusionConfig) -> Ranking:
        fused = fuse(cands, fusion)
        if self.boosts.active and len(cands.rows):
            docs = self.collection.documents(cands.rows)
            factors = boost_factors(query, [docs[int(r)] for r in cands.rows], self.boosts)
            fused = apply_boosts(fused, factors)
        order = np.lexsort((cands.rows, -fused))[:k]
        return Ranking(rows=cands.rows[order], score=fused[order],
                       signals={"bm25": cands.bm25[order], "dense": cands.dense[order],
                                "fused": fused[order]})

    def rank(
        self,
        queries: list[str],
        *,
        k: int = 10,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
        show_progress: bool = False,
    ) -> list[Ranking]:
        """Top-k rows per query with per-signal scores, without fetching documents."""
        if mode not in MODES:
            raise NeurankError(f"unknown mode {mode!r}: use one of {MODES}")
        if not 1 <= k <= MAX_K:
            raise NeurankError(f"k must be between 1 and {MAX_K}, got {k}")
        for i, query in enumerate(queries):
            if not isinstance(query, str) or not query.strip():
                raise NeurankError(f"query {i} is empty")
        if not queries:
            return []
        if mode == "hybrid":
            depth = max(self.fusion.candidates, k)
            cands = self.candidates(queries, depth=depth, filters=filters,
                                    show_progress=show_progress)
            return [self._fused_ranking(q, c, k, self.fusion)
                    for q, c in zip(queries, cands, strict=True)]
        allowed = self.collection.allowed_rows(filters)
        if mode == "bm25":
            out = []
            for query in tqdm(queries, desc="bm25", disable=not show_progress):
                scores = self._bm25_scores(query, allowed)
                rows = self._bm25_top(scores, k)
                out.append(Ranking(rows=rows, score=scores[rows],
                                   signals={"bm25": scores[rows]}))
            return out
        query_vectors = self._encode(queries)
        dense_scores, dense_rows = self.collection.vectors.search(query_vectors, k, allowed)
        out = []
        for i, query in enumerate(queries):
            found = dense_rows[i] >= 0
            rows, scores = dense_rows[i][found], dense_scores[i][found].astype(np.float64)
            bm25 = np.maximum(self.collection.bm25.scores(query)[rows], 0.0).astype(np.float64)
            out.append(Ranking(rows=rows, score=scores, signals={"dense": scores, "bm25": bm25}))
        return out

    def search_batch(
        self,
        queries: list[str],
        *,
        k: int = 10,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
    ) -> list[list[Hit]]:
        """Hits (with documents) for each query."""
        rankings = self.rank(queries, k=k, mode=mode, filters=filters)
        docs = self.collection.documents({int(r) for rk in rankings for r in rk.rows})
        results = []
        for ranking in rankings:
            hits = []
            for i, row in enumerate(ranking.rows.tolist()):
                doc = docs[row]
                hits.append(Hit(id=doc.id, rank=i + 1, score=float(ranking.score[i]),
                                scores={name: float(v[i]) for name, v in ranking.signals.items()},
                                title=doc.title, text=doc.text, metadata=doc.metadata))
            results.append(hits)
        return results

    def search(
        self, query: str, *, k: int = 10, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> list[Hit]:
        """Hits for one query."""
        return self.search_batch([query], k=k, mode=mode, filters=filters)[0]
