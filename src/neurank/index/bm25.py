"""BM25 over term frequencies in immutable blocks, scored at query time: updates cost what they change.

bm25s bakes IDF and the average document length into its precomputed score matrix, so adding
one document would change every stored score. Here each `add` appends a block of raw term
frequencies (merged with its neighbours as blocks accumulate, as Lucene merges segments),
`delete` clears a slot's live bit and takes its terms out of the document frequencies, and the
statistics (N, df, avgdl) are kept current, so the length-normalised weights are computed at
query time for the query's own postings only. Scores equal a fresh build over the same
documents, and bm25s' "lucene" variant (the tests compare against bm25s itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from neurank.config import AnalyzerConfig
from neurank.index.analyzer import Analyzer


@dataclass
class _Block:
    """Term frequencies of some slots: `tf[i]` is slot `slots[i]`'s row (columns = term ids)."""

    slots: np.ndarray
    tf: sp.csr_matrix
    _postings: sp.csc_matrix | None = None

    @property
    def postings(self) -> sp.csc_matrix:
        """Term-major view, built once (blocks never change)."""
        if self._postings is None:
            self._postings = self.tf.tocsc()
            self._postings.sort_indices()
        return self._postings


def saturation(tf: np.ndarray, lengths: np.ndarray | float, mean_length: float, k1: float,
               b: float) -> np.ndarray:
    """BM25's length-normalised term-frequency saturation `tf / (tf + k1 (1 - b + b len/mean))`
    (0 where the denominator is, which needs k1 = 0 or an empty document at b = 1, and tf = 0)."""
    denominator = tf + k1 * (1.0 - b + b * lengths / mean_length)
    return np.divide(tf, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    """`array` with room for at least `size` entries (capacity doubles), zero-filled."""
    if size <= len(array):
        return array
    out = np.zeros(max(size, 2 * len(array)), dtype=array.dtype)
    out[: len(array)] = array
    return out


class BM25Index:
    """BM25 over document slots (collection row ids) with incremental updates."""

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.config = config or AnalyzerConfig()
        self.analyzer = Analyzer(self.config)
        self.vocab: dict[str, int] = {}
        self._blocks: list[_Block] = []
        self._locator: tuple[np.ndarray, np.ndarray] | None = None
        self._slots = 0
        self._doc_len = np.zeros(0, dtype=np.float32)
        self._live = np.zeros(0, dtype=bool)
        self._df = np.zeros(0, dtype=np.float64)
        self._total_len = 0.0
        self._num_docs = 0
        self._dead_entries = 0

    @property
    def num_slots(self) -> int:
        return self._slots

    @property
    def num_docs(self) -> int:
        return self._num_docs

    @property
    def live(self) -> np.ndarray:
        """Boolean mask over slots: True where a document is stored."""
        return self._live[: self._slots]

    def _extend_slots(self, num_slots: int) -> None:
        self._doc_len = _grown(self._doc_len, num_slots)
        self._live = _grown(self._live, num_slots)
        self._slots = max(self._slots, num_slots)

    def _count_terms(self, tf: sp.csr_matrix, sign: float) -> None:
        """Add (sign +1) or remove (-1) these documents' terms from the document frequencies."""
        self._df = _grown(self._df, len(self.vocab))
        terms, counts = np.unique(tf.indices, return_counts=True)
        self._df[terms] += sign * counts

    def _append(self, slots: np.ndarray, tf: sp.csr_matrix, lengths: np.ndarray) -> None:
        self._extend_slots(int(slots.max()) + 1)
        self._doc_len[slots] = lengths
        self._live[slots] = True
        self._count_terms(tf, +1.0)
        self._total_len += float(lengths.astype(np.float64).sum())
        self._num_docs += len(slots)
        self._blocks.append(_Block(slots, tf))
        self._locator = None
        # merge while the newest block is as large as the one before: O(log n) blocks
        while len(self._blocks) > 1 and self._blocks[-1].tf.nnz >= self._blocks[-2].tf.nnz:
            newer, older = self._blocks.pop(), self._blocks.pop()
            width = len(self.vocab)
            self._blocks.append(_Block(np.concatenate([older.slots, newer.slots]), sp.vstack(
                [_widened(older.tf, width), _widened(newer.tf, width)], format="csr")))

    def add(self, slots: np.ndarray, texts: list[str]) -> None:
        """Index `texts` into empty `slots` (new row ids)."""
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) != len(texts):
            raise ValueError("slots and texts differ in length")
        if len(slots) == 0:
            return
        if self.live[slots[slots < self._slots]].any():
            raise ValueError("add() into occupied slots; delete them first")
        term_ids: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.float32)
        indptr = [0]
        for i, text in enumerate(texts):
            terms = self.analyzer(text)
            lengths[i] = len(terms)
            term_ids.extend(self.vocab.setdefault(term, len(self.vocab)) for term in terms)
            indptr.append(len(term_ids))
        tf = sp.csr_matrix((np.ones(len(term_ids), dtype=np.float32),
                            np.asarray(term_ids, dtype=np.int64), np.asarray(indptr)),
                           shape=(len(slots), len(self.vocab)))
        tf.sum_duplicates()
        self._append(slots, tf, lengths)

    def _locate(self) -> tuple[np.ndarray, np.ndarray]:
        """(block, position in it) of every slot's row, -1 for none; built on first use after
        the blocks change, so reading rows is a direct index instead of a search per block."""
        if self._locator is None:
            block_of = np.full(self._slots, -1, dtype=np.int64)
            position = np.zeros(self._slots, dtype=np.int64)
            for b, block in enumerate(self._blocks):
                block_of[block.slots] = b
                position[block.slots] = np.arange(len(block.slots))
            self._locator = (block_of, position)
        return self._locator

    def _rows_of(self, slots: np.ndarray) -> sp.csr_matrix:
        """Term frequencies of `slots` (in that order), gathered from the blocks."""
        width = len(self.vocab)
        if not len(slots):
            return sp.csr_matrix((0, width), dtype=np.float32)
        block_of, position = self._locate()
        which = np.full(len(slots), -1, dtype=np.int64)
        inside = (slots >= 0) & (slots < len(block_of))
        which[inside] = block_of[slots[inside]]
        if (which < 0).any():
            raise KeyError(f"slot {int(slots[np.argmax(which < 0)])} has no indexed document")
        parts, order = [], []
        for b in np.unique(which):
            picked = np.flatnonzero(which == b)
            parts.append(_widened(self._blocks[b].tf, width)[position[slots[picked]]])
            order.append(picked)
        if len(parts) == 1:
            return parts[0]
        return sp.vstack(parts, format="csr")[np.argsort(np.concatenate(order))]

    def delete(self, slots: np.ndarray) -> None:
        """Forget the documents in `slots`; their statistics leave N, df and avgdl."""
        slots = np.asarray(slots, dtype=np.int64)
        slots = slots[(slots < self._slots)]
        slots = slots[self._live[slots]]
        if len(slots) == 0:
            return
        tf = self._rows_of(slots)
        self._count_terms(tf, -1.0)
        self._total_len -= float(self._doc_len[slots].astype(np.float64).sum())
        self._num_docs -= len(slots)
        self._live[slots] = False
        self._doc_len[slots] = 0.0
        self._dead_entries += tf.nnz
        if self._dead_entries > 0.25 * max(sum(b.tf.nnz for b in self._blocks), 1):
            self._compact()

    def _compact(self) -> None:
        """Rebuild one block from the live slots only."""
        live = np.flatnonzero(self.live)
        tf = self._rows_of(live)
        self._blocks = [_Block(live, tf)] if len(live) else []
        self._locator = None
        self._dead_entries = 0

    def term_counts(self, slots: np.ndarray) -> sp.csr_matrix:
        """(len(slots), vocabulary) term counts of the given slots' documents, in that order."""
        return self._rows_of(np.asarray(slots, dtype=np.int64))

    def term_scores(self, counts: np.ndarray, slots: np.ndarray, terms: list[int]) -> np.ndarray:
        """BM25 contribution of each of `terms` to each slot's score, from their
        (len(slots), len(terms)) counts."""
        tf = np.asarray(counts, dtype=np.float64)
        lengths = self.doc_lengths(slots)[:, None]
        return self.idf(terms) * saturation(tf, lengths, max(self.mean_doc_length, 1e-9),
                                            self.config.k1, self.config.b)

    def idf(self, terms: list[int]) -> np.ndarray:
        """BM25 (Lucene) idf of each term id, from the live documents."""
        df = self._df[np.asarray(terms, dtype=np.int64)] if terms else np.zeros(0)
        n = float(self._num_docs)
        return np.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def doc_lengths(self, slots: np.ndarray) -> np.ndarray:
        """Number of index terms of each slot's document."""
        return self._doc_len[np.asarray(slots, dtype=np.int64)].astype(np.float64)

    @property
    def mean_doc_length(self) -> float:
        return self._total_len / self._num_docs if self._num_docs else 0.0

    def query_terms(self, query: str) -> list[int]:
        """Vocabulary ids of the query's terms (repeats kept, unknown terms dropped)."""
        return [self.vocab[t] for t in self.analyzer(query) if t in self.vocab]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every slot (0 for empty or deleted slots)."""
        out = np.zeros(self._slots, dtype=np.float32)
        if not self._num_docs:
            return out
        # float64 statistics: a float32 sum would depend on slot order, which updates change
        avgdl = max(self._total_len / self._num_docs, 1e-9)
        for term in self.query_terms(query):
            idf = np.float32(self.idf([term])[0])
            for block in self._blocks:
                postings = block.postings
                if term >= postings.shape[1]:
                    continue
                start, end = postings.indptr[term], postings.indptr[term + 1]
                if start == end:
                    continue
                slots = block.slots[postings.indices[start:end]]
                weights = saturation(postings.data[start:end], self._doc_len[slots], avgdl,
                                     self.config.k1, self.config.b)
                out[slots] += idf * weights.astype(np.float32)
        out[~self.live] = 0.0
        return out

    def save_rows(self, path: Path, rows: np.ndarray) -> None:
        """Write the given slots' term frequencies, lengths and the terms they use to one .npz
        (a segment; no pickled objects)."""
        rows = np.asarray(rows, dtype=np.int64)
        sub = self._rows_of(rows)
        used, local = np.unique(sub.indices, return_inverse=True)
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        with open(path, "wb") as handle:
            np.savez(handle, rows=rows, indptr=sub.indptr, indices=local.astype(np.int64),
                     data=sub.data, doc_len=self._doc_len[rows],
                     vocab=np.frombuffer(json.dumps([terms[t] for t in used]).encode("utf-8"),
                                         dtype=np.uint8))

    @classmethod
    def load_segments(cls, paths: list[Path], config: AnalyzerConfig,
                      deleted: set[int] | None = None) -> BM25Index:
        """One index over the slots of every segment file written by `save_rows`, leaving out
        the `deleted` ones."""
        index = cls(config)
        parts = []
        gone = np.fromiter(deleted or (), dtype=np.int64)
        for path in paths:
            with np.load(path, allow_pickle=False) as arrays:
                terms = json.loads(arrays["vocab"].tobytes().decode("utf-8"))
                to_global = np.asarray([index.vocab.setdefault(t, len(index.vocab))
                                        for t in terms], dtype=np.int64)
                rows = arrays["rows"].astype(np.int64)
                tf = sp.csr_matrix((arrays["data"].astype(np.float32),
                                    to_global[arrays["indices"]], arrays["indptr"]),
                                   shape=(len(rows), len(index.vocab)))
                keep = ~np.isin(rows, gone)
                parts.append((rows[keep], tf[np.flatnonzero(keep)],
                              arrays["doc_len"].astype(np.float32)[keep]))
        parts = [p for p in parts if len(p[0])]
        if parts:
            width = len(index.vocab)
            rows = np.concatenate([p[0] for p in parts])
            tf = sp.vstack([_widened(p[1], width) for p in parts], format="csr")
            index._append(rows, tf, np.concatenate([p[2] for p in parts]))
        return index


def _widened(tf: sp.csr_matrix, width: int) -> sp.csr_matrix:
    """`tf` with `width` columns (terms added to the vocabulary after it was made)."""
    if tf.shape[1] == width:
        return tf
    return sp.csr_matrix((tf.data, tf.indices, tf.indptr), shape=(tf.shape[0], width))
