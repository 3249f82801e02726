"""SearchPipeline: the one staged path every search takes (library, CLI, tune, evaluate, server, TUI).

    retrievers (the mode's list) -> Candidates -> scorer (signal | fusion | learned ranker)
        -> boosts -> score threshold -> top-k
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from neurank.config import BoostConfig, FusionConfig
from neurank.data.corpus import Document
from neurank.errors import NeurankError
from neurank.index.collection import Collection
from neurank.index.filters import Filters
from neurank.search.boosts import apply_boosts, boost_factors
from neurank.search.candidates import Candidates, merge_retrieved
from neurank.search.fusion import FusionScorer
from neurank.search.modes import MODES, Mode, retrievers_of
from neurank.search.scorers import Scorer, SignalScorer

MAX_K = 10_000


@dataclass
class Ranking:
    """Top rows of one query with the scores of each signal, aligned with `rows`."""

    rows: np.ndarray
    score: np.ndarray
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    documents: dict[int, Document] = field(default_factory=dict)


@dataclass
class Hit:
    """One result; `scores` holds every signal that ranked it (bm25, dense, fused, boost)."""

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


class SearchPipeline:
    """Runs queries against a collection; fusion, boosts and threshold default to its config."""

    def __init__(
        self,
        collection: Collection,
        *,
        fusion: FusionConfig | None = None,
        boosts: BoostConfig | None = None,
        min_score: float | None = None,
    ) -> None:
        self.collection = collection
        self.fusion = fusion or collection.config.fusion
        self.boosts = boosts or collection.config.boosts
        self.min_score = min_score if min_score is not None else collection.config.min_score
        self._learned: Any = None  # the learned mode's scorer, reused while its ranker is

    def modes(self) -> list[str]:
        """The modes this collection can run: learned only once it has a ranker."""
        return [m for m in MODES if m != "learned" or self.collection.ranker_folder is not None]

    # ------------------------------------------------------------------ stages
    def scorer(self, mode: Mode, fusion: FusionConfig | None = None) -> Scorer:
        """The scorer stage of a mode: a retriever's own score, fusion of several, or the
        collection's learned ranker."""
        names = retrievers_of(mode)
        if mode == "learned":
            from neurank.search.ranker import LearnedScorer, collection_ranker  # torch: lazily

            ranker = collection_ranker(self.collection)
            if self._learned is None or self._learned.ranker is not ranker:
                self._learned = LearnedScorer(self.collection, ranker)  # keeps its row cache
            return self._learned
        return SignalScorer(names[0]) if len(names) == 1 else FusionScorer(fusion or self.fusion)

    def depth(self, mode: Mode, k: int) -> int:
        """How many rows each retriever lists: k, or the fusion (ranker) depth when later
        stages reorder."""
        if mode == "learned":
            from neurank.search.ranker import collection_ranker

            return max(collection_ranker(self.collection).config.depth, k)
        reorders = len(retrievers_of(mode)) > 1 or self.boosts.active
        return max(self.fusion.candidates, k) if reorders else k

    def candidates(
        self, queries: list[str], *, mode: Mode = "hybrid", depth: int | None = None,
        filters: Filters | None = None, show_progress: bool = False,
    ) -> list[Candidates]:
        """Stage 1: each retriever of `mode` lists its top-`depth`; candidates get every score."""
        depth = depth or self.fusion.candidates
        retrievers = [self.collection.retriever(name) for name in retrievers_of(mode)]
        allowed = self.collection.allowed_rows(filters)  # validated where it becomes SQL
        vectors = (self.collection.encode_queries(queries)
                   if any(r.needs_query_vector for r in retrievers) else None)
        lists = {r.name: r.retrieve(queries, vectors, depth, allowed) for r in retrievers}
        return [merge_retrieved(query, {name: found[i] for name, found in lists.items()},
                                None if vectors is None else vectors[i])
                for i, query in enumerate(tqdm(queries, desc="candidates",
                                               disable=not show_progress))]

    def _boost_factors(self, cands: Candidates) -> np.ndarray:
        """Boost factor per candidate, computed once per Candidates (tune reuses it per trial)."""
        if "boost" not in cands.features:
            missing = [int(r) for r in cands.rows if int(r) not in cands.documents]
            cands.documents.update(self.collection.documents(missing))
            docs = [cands.documents[int(r)] for r in cands.rows]
            cands.features["boost"] = boost_factors(cands.query, docs, self.boosts)
        return cands.features["boost"]

    def finish(self, cands: Candidates, k: int, scorer: Scorer) -> Ranking:
        """Stages 2-5: score, boost, threshold, top-k (ties by lower row id).

        A scorer drops a candidate by scoring it -inf (the learned ranker's threshold); the
        signals shown are the retrievers' scores, the per-candidate values later stages
        computed (ranker, boost) and the final score.
        """
        score = np.asarray(scorer(cands), dtype=np.float64)
        if self.boosts.active and len(cands):
            self._boost_factors(cands)
            score = apply_boosts(score, cands.features["boost"])
        signals = {**cands.scores, **cands.features}
        signals.setdefault(scorer.name, score)
        keep = np.isfinite(score)
        if self.min_score is not None:
            keep &= score >= self.min_score
        rows = cands.rows
        if not keep.all():
            rows, score = rows[keep], score[keep]
            signals = {name: values[keep] for name, values in signals.items()}
        order = np.lexsort((rows, -score))[:k]
        return Ranking(rows=rows[order], score=score[order],
                       signals={name: values[order] for name, values in signals.items()},
                       documents=cands.documents)

    # ------------------------------------------------------------------ entry points
    def rank(
        self,
        queries: list[str],
        *,
        k: int = 10,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
        show_progress: bool = False,
    ) -> list[Ranking]:
        """Top-k rows per query with per-signal scores."""
        scorer = self.scorer(mode)
        if not 1 <= k <= MAX_K:
            raise NeurankError(f"k must be between 1 and {MAX_K}, got {k}")
        for i, query in enumerate(queries):
            if not isinstance(query, str) or not query.strip():
                raise NeurankError(f"query {i} is empty")
        if not queries:
            return []
        cands = self.candidates(queries, mode=mode, depth=self.depth(mode, k), filters=filters,
                                show_progress=show_progress)
        return [self.finish(c, k, scorer) for c in cands]

    def search_batch(
        self,
        queries: list[str],
        *,
        k: int = 10,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
    ) -> list[list[Hit]]:
        """Hits (with documents) for each query; documents fetched once."""
        rankings = self.rank(queries, k=k, mode=mode, filters=filters)
        docs: dict[int, Document] = {}
        for ranking in rankings:
            docs.update(ranking.documents)
        docs.update(self.collection.documents(
            {int(r) for rk in rankings for r in rk.rows if int(r) not in docs}))
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
