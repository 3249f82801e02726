"""Features of a candidate list for learned ranking, computed in numpy for the whole list at once.

Groups (each can be left out, for the ablation):
- scores:   every retriever's raw, min-max, z-score, reciprocal-rank and log-rank score, and
            the default weighted fusion of the two;
- terms:    query/document term overlap: coverage, idf-weighted coverage, max and mean idf of
            the matched terms, log term-frequency mass, document and query length;
- title:    title-only BM25 (the body's idf), title coverage, exact title match, query bigrams
            found in the title;
- metadata: category named in the query, quality prior, and every numeric field the user names,
            each with a missing flag, so the fixed boosts become learned features;
- feedback: pseudo-relevance feedback from the list's own top documents (by default fusion):
            similarity to the query moved toward their embedding centroid (Rocchio), BM25 of
            the query expanded with their most characteristic terms (RM3), and the min-max
            fusion of the two.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from neurank.config import FusionConfig, RankerFeatures
from neurank.data.corpus import Document
from neurank.index.bm25 import BM25Index, saturation
from neurank.search.boosts import category_in_query, numeric_value
from neurank.search.candidates import Candidates
from neurank.search.fusion import fuse, minmax, zscore

RETRIEVERS = ("bm25", "dense")
DEFAULT_FUSION = FusionConfig()
"""the untrained hybrid score (equal-weight min-max) that the features and feedback start from"""
FEEDBACK_DOCS = 5
"""top documents of the default fusion that feed back: RM3 reads all 5, Rocchio the first 3"""
ROCCHIO_DOCS = 3
EXPANSION_TERMS = 20
EXPANSION_WEIGHT = 0.5
"""share of the expanded query's weight on the expansion terms (RM3's lambda)"""
_NON_WORD = re.compile(r"\W+")


def feature_names(config: RankerFeatures) -> list[str]:
    """Column names of the feature matrix, in order."""
    names: list[str] = []
    if "scores" in config.groups:
        for name in RETRIEVERS:
            names += [f"{name}_{kind}" for kind in ("raw", "minmax", "zscore", "rrank", "log_rank")]
        names.append("fused_minmax")
    if "terms" in config.groups:
        names += ["query_terms", "coverage", "idf_coverage", "idf_max_matched",
                  "idf_mean_matched", "log_tf_sum", "log_doc_length"]
    if "title" in config.groups:
        names += ["title_bm25", "title_coverage", "title_exact", "title_bigrams"]
    if "metadata" in config.groups:
        names += ["category_match", "quality", "quality_missing"]
        for field in config.numeric_fields:
            names += [f"{field}", f"{field}_missing"]
    if "feedback" in config.groups:
        names += ["feedback_dense", "feedback_bm25", "feedback_fused"]
    return names


def _normalized(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


class _DocInfo(NamedTuple):
    """What the features need of a document, kept per row (rows never change content)."""

    title_ids: tuple[int, ...]
    title: str
    category: object
    numbers: tuple[float | None, ...]


class FeatureExtractor:
    """Turns Candidates into a (candidates, features) float32 matrix.

    Title terms and metadata values are read once per row through `fetch` and kept (at most
    `CACHE_ROWS` rows), so reranking a list costs no document reads once its rows were seen.
    """

    CACHE_ROWS = 500_000

    def __init__(self, bm25: BM25Index, config: RankerFeatures,
                 fetch: Callable[[list[int]], dict[int, Document]]) -> None:
        self.bm25 = bm25
        self.config = config
        self.names = feature_names(config)
        self._fetch = fetch
        self._info: dict[int, _DocInfo] = {}

    def _infos(self, rows: np.ndarray) -> list[_DocInfo]:
        """Each row's info, from the cache or read now (safe under concurrent searches)."""
        wanted = [int(r) for r in rows]
        infos = {row: self._info.get(row) for row in wanted}
        missing = [row for row, info in infos.items() if info is None]
        if missing:
            analyzer, vocab, config = self.bm25.analyzer, self.bm25.vocab, self.config
            fresh = {row: _DocInfo(
                title_ids=tuple(vocab.get(t, -1) for t in analyzer(doc.title)),
                title=_normalized(doc.title),
                category=doc.metadata.get(config.category_field),
                numbers=tuple(numeric_value(doc.metadata.get(field)) for field in
                              (config.quality_field, *config.numeric_fields)))
                for row, doc in self._fetch(missing).items()}
            if len(self._info) + len(fresh) > self.CACHE_ROWS:
                self._info = {}
            self._info.update(fresh)
            infos.update(fresh)
        return [infos[row] for row in wanted]

    def __call__(self, cands: Candidates, doc_vectors: np.ndarray | None = None) -> np.ndarray:
        """Features of every candidate of `cands`, in order (`doc_vectors`, aligned with the
        candidates, only for the feedback group)."""
        columns: list[np.ndarray] = []
        groups = self.config.groups
        terms = list(dict.fromkeys(self.bm25.query_terms(cands.query)))
        idf = self.bm25.idf(terms)
        infos = self._infos(cands.rows) if {"title", "metadata"} & set(groups) else []
        counts = self.bm25.term_counts(cands.rows) if {"terms", "feedback"} & set(groups) else None
        if "scores" in groups:
            columns += self._scores(cands)
        if "terms" in groups:
            columns += self._terms(cands, counts[:, terms].toarray(), idf)
        if "title" in groups:
            columns += self._title(cands.query, infos, terms, idf)
        if "metadata" in groups:
            columns += self._metadata(cands.query, infos)
        if "feedback" in groups:
            if doc_vectors is None or cands.query_vector is None:
                raise ValueError("feedback features need the query and document vectors")
            columns += self._feedback(cands, counts, doc_vectors)
        if not columns:
            return np.zeros((len(cands), 0), dtype=np.float32)
        return np.stack(columns, axis=1).astype(np.float32)

    def _scores(self, cands: Candidates) -> list[np.ndarray]:
        out = []
        depth = len(cands) + 1
        for name in RETRIEVERS:
            raw = cands.scores[name].astype(np.float64)
            rank = cands.ranks[name].astype(np.float64)
            listed = rank > 0
            out += [raw, minmax(raw), zscore(raw), np.where(listed, 1.0 / np.maximum(rank, 1), 0.0),
                    np.log1p(np.where(listed, rank, depth))]
        out.append(fuse(cands, DEFAULT_FUSION))
        return out

    def _terms(self, cands: Candidates, tf: np.ndarray, idf: np.ndarray) -> list[np.ndarray]:
        """`tf`: (candidates, unique query terms) counts; `idf` of those terms."""
        n, query_terms = len(cands), len(idf)
        matched = tf > 0
        idf_total = float(idf.sum())
        matched_idf = matched * idf
        count = matched.sum(axis=1)
        return [
            np.full(n, float(query_terms)),
            count / max(query_terms, 1),
            matched_idf.sum(axis=1) / idf_total if idf_total > 0 else np.zeros(n),
            matched_idf.max(axis=1) if query_terms else np.zeros(n),
            matched_idf.sum(axis=1) / np.maximum(count, 1),
            np.log1p(tf).sum(axis=1),
            np.log1p(self.bm25.doc_lengths(cands.rows)),
        ]

    def _title(self, query: str, infos: list[_DocInfo], terms: list[int],
               idf: np.ndarray) -> list[np.ndarray]:
        analyzer, vocab = self.bm25.analyzer, self.bm25.vocab
        position = {term: j for j, term in enumerate(terms)}
        query_ids = [vocab[t] for t in analyzer(query) if t in vocab]
        bigrams = set(itertools.pairwise(query_ids))
        n = len(infos)
        tf = np.zeros((n, len(terms)))
        lengths = np.zeros(n)
        found_bigrams = np.zeros(n)
        exact = np.zeros(n)
        normalized_query = _normalized(query)
        for i, info in enumerate(infos):
            title_ids, title = info.title_ids, info.title
            lengths[i] = len(title_ids)
            for term in title_ids:
                if term in position:
                    tf[i, position[term]] += 1
            if bigrams:
                found_bigrams[i] = len(bigrams & set(itertools.pairwise(title_ids)))
            exact[i] = float(bool(title) and (title in normalized_query or
                                              normalized_query in title))
        mean_length = max(float(lengths.mean()) if n else 0.0, 1.0)
        title_saturation = saturation(tf, lengths[:, None], mean_length, self.bm25.config.k1,
                                      self.bm25.config.b)
        idf_total = float(idf.sum())
        return [
            (title_saturation * idf).sum(axis=1),
            ((tf > 0) * idf).sum(axis=1) / idf_total if idf_total > 0 else np.zeros(n),
            exact,
            found_bigrams / max(len(bigrams), 1),
        ]

    def _metadata(self, query: str, infos: list[_DocInfo]) -> list[np.ndarray]:
        lowered = query.strip().lower()
        out = [np.asarray([float(category_in_query(info.category, lowered)) for info in infos])]
        for j in range(1 + len(self.config.numeric_fields)):
            values = [info.numbers[j] for info in infos]
            out += [np.asarray([0.0 if v is None else v for v in values]),
                    np.asarray([float(v is None) for v in values])]
        return out

    def _feedback(self, cands: Candidates, counts: sp.csr_matrix,
                  doc_vectors: np.ndarray) -> list[np.ndarray]:
        """`counts`: the candidates' (candidates, vocabulary) term counts."""
        n = len(cands)
        if n == 0:
            return [np.zeros(0)] * 3
        fused = fuse(cands, DEFAULT_FUSION)
        top = np.lexsort((cands.rows, -fused))[:FEEDBACK_DOCS]
        moved = np.asarray(cands.query_vector, dtype=np.float64) + doc_vectors[
            top[:ROCCHIO_DOCS]].astype(np.float64).mean(axis=0)
        dense = doc_vectors.astype(np.float64) @ (moved / max(np.linalg.norm(moved), 1e-12))
        # RM3: P(term | feedback docs), each document weighted by its fused score; over the
        # feedback documents' own terms only (a few hundred, not the vocabulary)
        feedback = counts[top].tocoo()
        lengths = np.maximum(np.bincount(feedback.row, weights=feedback.data,
                                         minlength=len(top)), 1.0)
        weight = fused[top] / fused[top].sum() if fused[top].sum() > 0 else np.full(
            len(top), 1.0 / len(top))
        terms, position = np.unique(feedback.col, return_inverse=True)
        relevance = np.bincount(position, weights=(weight / lengths)[feedback.row]
                                * feedback.data, minlength=len(terms))
        best = np.lexsort((terms, -relevance))[:EXPANSION_TERMS]  # ties: lower term id
        best = best[relevance[best] > 0]
        expansion = np.zeros(n)
        if len(best):
            chosen, share = terms[best], relevance[best] / relevance[best].sum()
            expansion = self.bm25.term_scores(counts[:, chosen].toarray(), cands.rows,
                                              chosen.tolist()) @ share
        original = cands.scores["bm25"] / max(len(self.bm25.query_terms(cands.query)), 1)
        bm25 = (1.0 - EXPANSION_WEIGHT) * original + EXPANSION_WEIGHT * expansion
        return [dense, bm25, 0.5 * minmax(bm25) + 0.5 * minmax(dense)]
