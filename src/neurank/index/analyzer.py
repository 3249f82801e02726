"""Text -> BM25 terms, with the same rules as bm25s' tokenizer (lowercase, regex, stopwords, stem)."""

from __future__ import annotations

import re
from functools import lru_cache

import bm25s.stopwords as bm25s_stopwords
import Stemmer

from neurank.config import AnalyzerConfig
from neurank.errors import NeurankError

_STOPWORD_LISTS = {
    "english": "STOPWORDS_EN",
    "en": "STOPWORDS_EN",
    "english_plus": "STOPWORDS_EN_PLUS",
    "french": "STOPWORDS_FRENCH",
    "german": "STOPWORDS_GERMAN",
    "spanish": "STOPWORDS_SPANISH",
    "italian": "STOPWORDS_ITALIAN",
    "portuguese": "STOPWORDS_PORTUGUESE",
    "dutch": "STOPWORDS_DUTCH",
    "swedish": "STOPWORDS_SWEDISH",
    "norwegian": "STOPWORDS_NORWEGIAN",
    "danish": "STOPWORDS_DANISH",
    "russian": "STOPWORDS_RUSSIAN",
}


def _stopwords(name: str | None) -> frozenset[str]:
    if not name:
        return frozenset()
    attr = _STOPWORD_LISTS.get(name.lower())
    if attr is None:
        raise NeurankError(f"unknown stopword list {name!r} (known: {sorted(_STOPWORD_LISTS)})")
    return frozenset(getattr(bm25s_stopwords, attr))


class Analyzer:
    """Turns text into a list of index terms; stemming is cached per distinct word."""

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.config = config or AnalyzerConfig()
        self._pattern = re.compile(self.config.token_pattern)
        self._stopwords = _stopwords(self.config.stopwords)
        if self.config.stemmer:
            try:
                stemmer = Stemmer.Stemmer(self.config.stemmer)
            except KeyError:
                raise NeurankError(f"unknown stemmer language {self.config.stemmer!r} "
                                   f"(known: {Stemmer.algorithms()})") from None
            self._stem = lru_cache(maxsize=1 << 18)(stemmer.stemWord)
        else:
            self._stem = None

    def term(self, word: str) -> str | None:
        """The index term of one matched word, or None for a stopword."""
        if self.config.lowercase:
            word = word.lower()
        if word in self._stopwords:
            return None
        return self._stem(word) if self._stem is not None else word

    def spans(self, text: str, terms: set[str]) -> list[tuple[int, int]]:
        """(start, end) of each word of `text` whose index term is in `terms`: what BM25
        matched, for highlighting (whole words, stopwords never, 'shown' not for 'how')."""
        if not terms:
            return []
        return [match.span() for match in self._pattern.finditer(text)
                if self.term(match.group()) in terms]

    def __call__(self, text: str) -> list[str]:
        if self.config.lowercase:
            text = text.lower()
        words = [w for w in self._pattern.findall(text) if w not in self._stopwords]
        if self._stem is not None:
            return [self._stem(w) for w in words]
        return words
