"""BM25 over a term-frequency matrix, scored at query time so updates need no rebuild.

bm25s bakes IDF and the average document length into its precomputed score matrix, so adding
one document would change every stored score. Keeping raw term frequencies (rows = document
slots) and re-deriving the normalised term weights after each change gives exactly the scores of
a fresh build over the same documents. The formula is bm25s' "lucene" variant, and the tests
compare against bm25s itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from neurank.config import AnalyzerConfig
from neurank.index.analyzer import Analyzer


class BM25Index:
    """Term frequencies per document slot, plus the vocabulary; slots are collection row ids."""

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.config = config or AnalyzerConfig()
        self.analyzer = Analyzer(self.config)
        self.vocab: dict[str, int] = {}
        self.tf = sp.csr_matrix((0, 0), dtype=np.float32)
        self.doc_len = np.zeros(0, dtype=np.float32)
        self.live = np.zeros(0, dtype=bool)
        self._postings: sp.csc_matrix | None = None
        self._weights: np.ndarray | None = None
        self._idf: np.ndarray | None = None

    @property
    def num_slots(self) -> int:
        return self.tf.shape[0]

    @property
    def num_docs(self) -> int:
        return int(self.live.sum())

    def _grow(self, num_slots: int) -> None:
        if num_slots <= self.num_slots:
            return
        extra = num_slots - self.num_slots
        self.tf = sp.vstack([self.tf, sp.csr_matrix((extra, self.tf.shape[1]), dtype=np.float32)],
                            format="csr")
        self.doc_len = np.concatenate([self.doc_len, np.zeros(extra, dtype=np.float32)])
        self.live = np.concatenate([self.live, np.zeros(extra, dtype=bool)])

    def add(self, slots: np.ndarray, texts: list[str]) -> None:
        """Index `texts` into empty `slots` (new row ids)."""
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) != len(texts):
            raise ValueError("slots and texts differ in length")
        if len(slots) == 0:
            return
        if self.live[slots[slots < self.num_slots]].any():
            raise ValueError("add() into occupied slots; delete them first")
        term_rows: list[np.ndarray] = []
        term_ids: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            terms = self.analyzer(text)
            lengths[i] = len(terms)
            for term in terms:
                term_ids.append(self.vocab.setdefault(term, len(self.vocab)))
            term_rows.append(np.full(len(terms), slots[i], dtype=np.int64))
        self._grow(int(slots.max()) + 1)
        shape = (self.num_slots, len(self.vocab))
        self.tf.resize(shape)
        rows = np.concatenate(term_rows) if term_rows else np.zeros(0, dtype=np.int64)
        added = sp.coo_matrix((np.ones(len(rows), dtype=np.float32),
                               (rows, np.asarray(term_ids, dtype=np.int64))), shape=shape).tocsr()
        self.tf = (self.tf + added).tocsr()
        self.doc_len[slots] = lengths
        self.live[slots] = True
        self._invalidate()

    def delete(self, slots: np.ndarray) -> None:
        """Forget the documents in `slots`; their statistics leave N, df and avgdl."""
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) == 0:
            return
        keep = np.ones(self.num_slots, dtype=np.float32)
        keep[slots] = 0.0
        self.tf = (sp.diags(keep) @ self.tf).tocsr()
        self.tf.eliminate_zeros()
        self.doc_len[slots] = 0.0
        self.live[slots] = False
        self._invalidate()

    def _invalidate(self) -> None:
        self._postings = self._weights = self._idf = None

    def _prepare(self) -> None:
        """Term-major postings with length-normalised tf, and IDF, for the current statistics."""
        postings = self.tf.tocsc()
        postings.sort_indices()
        n = max(self.num_docs, 1)
        # float64: a float32 mean depends on the order of the slots, which updates change
        avgdl = float(self.doc_len[self.live].astype(np.float64).mean()) if self.num_docs else 1.0
        k1, b = self.config.k1, self.config.b
        tf = postings.data
        dl = self.doc_len[postings.indices]
        self._weights = (tf / (tf + k1 * (1.0 - b + b * dl / max(avgdl, 1e-9)))).astype(np.float32)
        df = np.diff(postings.indptr).astype(np.float64)
        self._idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        self._postings = postings

    def query_terms(self, query: str) -> list[int]:
        """Vocabulary ids of the query's terms (repeats kept, unknown terms dropped)."""
        return [self.vocab[t] for t in self.analyzer(query) if t in self.vocab]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every slot (0 for empty or deleted slots)."""
        if self._postings is None:
            self._prepare()
        assert self._postings is not None and self._weights is not None and self._idf is not None
        out = np.zeros(self.num_slots, dtype=np.float32)
        indptr, indices = self._postings.indptr, self._postings.indices
        for term in self.query_terms(query):
            start, end = indptr[term], indptr[term + 1]
            out[indices[start:end]] += self._idf[term] * self._weights[start:end]
        return out

    def save_rows(self, path: Path, rows: np.ndarray) -> None:
        """Write the given slots' term frequencies, lengths and the terms they use to one .npz
        (a segment; no pickled objects)."""
        rows = np.asarray(rows, dtype=np.int64)
        sub = self.tf[rows].tocsr()
        used, local = np.unique(sub.indices, return_inverse=True)
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        with open(path, "wb") as handle:
            np.savez(handle, rows=rows, indptr=sub.indptr, indices=local.astype(np.int64),
                     data=sub.data, doc_len=self.doc_len[rows],
                     vocab=np.frombuffer(json.dumps([terms[t] for t in used]).encode("utf-8"),
                                         dtype=np.uint8))

    @classmethod
    def load_segments(cls, paths: list[Path], config: AnalyzerConfig,
                      deleted: set[int] | None = None) -> BM25Index:
        """One index over the slots of every segment file written by `save_rows`, leaving out
        the `deleted` ones."""
        index = cls(config)
        parts = []
        for path in paths:
            with np.load(path, allow_pickle=False) as arrays:
                terms = json.loads(arrays["vocab"].tobytes().decode("utf-8"))
                to_global = np.asarray([index.vocab.setdefault(t, len(index.vocab))
                                        for t in terms], dtype=np.int64)
                rows = arrays["rows"].astype(np.int64)
                coo_rows = np.repeat(rows, np.diff(arrays["indptr"]))
                keep = np.ones(len(rows), dtype=bool)
                if deleted:
                    keep = ~np.isin(rows, np.fromiter(deleted, dtype=np.int64))
                entries = keep[np.repeat(np.arange(len(rows)), np.diff(arrays["indptr"]))]
                parts.append((coo_rows[entries], to_global[arrays["indices"]][entries],
                              arrays["data"].astype(np.float32)[entries], rows[keep],
                              arrays["doc_len"].astype(np.float32)[keep]))
        num_slots = max((int(p[3].max()) + 1 for p in parts if len(p[3])), default=0)
        index._grow(num_slots)
        if parts:
            coo_rows, coo_terms, data, rows, lengths = (np.concatenate(x) for x in zip(*parts,
                                                                                        strict=True))
            index.tf = sp.csr_matrix((data, (coo_rows, coo_terms)),
                                     shape=(num_slots, len(index.vocab)), dtype=np.float32)
            index.doc_len[rows] = lengths
            index.live[rows] = True
        return index
