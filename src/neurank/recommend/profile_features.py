"""Turn feature records (profiles, item metadata) into model inputs.

Each field gets a kind, inferred from its values unless the config names it: `categorical`
(one vocabulary slot per value seen at least `min_count` times, the rest share an "other"
slot), `numeric` (standardised value + missing flag, and also a quantile band that acts as a
categorical value, so `age` can define segments), `multi` (lists such as genres or hobbies,
a normalised multi-hot), `text` (embedded by a sentence encoder). The vocabularies are plain
JSON, saved in the recommender's checkpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from neurank.errors import DataError

Kind = Literal["categorical", "numeric", "multi", "text"]
KINDS: tuple[Kind, ...] = ("categorical", "numeric", "multi", "text")
OTHER = "<other>"
NUMERIC_BANDS = 6
TEXT_MIN_MEAN_CHARS = 12
EmbedFn = Callable[[list[str]], np.ndarray]


def infer_kind(values: Sequence[Any]) -> Kind:
    """The kind a field's observed values suggest."""
    present = [v for v in values if v is not None]
    if any(isinstance(v, list) for v in present):
        return "multi"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "numeric"
    strings = [str(v) for v in present]
    if strings and np.mean([len(s) for s in strings]) >= TEXT_MIN_MEAN_CHARS and \
            len(set(strings)) > 0.5 * len(strings):
        return "text"
    return "categorical"


@dataclass
class EncodedFeatures:
    """Model inputs for n records (numpy; the model turns them into tensors)."""

    categorical: np.ndarray
    """(n, categorical slots) int64 indices into one shared vocabulary"""
    multi: np.ndarray
    """(n, multi vocabulary) float32, each field's values sum to 1"""
    numeric: np.ndarray
    """(n, 2 * numeric fields) float32: standardised value, missing flag"""
    text: np.ndarray
    """(n, text dim) float32 (zero width without text fields)"""

    def __len__(self) -> int:
        return len(self.categorical)

    def take(self, rows: np.ndarray) -> EncodedFeatures:
        return EncodedFeatures(self.categorical[rows], self.multi[rows], self.numeric[rows],
                               self.text[rows])


class FeatureEncoder:
    """Fitted on the training records; `encode` maps any records (unseen values -> other)."""

    def __init__(self, kinds: dict[str, Kind], vocab: dict[str, list[str]],
                 numeric_stats: dict[str, list[float]], text_dim: int = 0) -> None:
        self.kinds = kinds
        self.vocab = vocab
        """categorical and multi field -> its values (index 0 is `OTHER`)"""
        self.numeric_stats = numeric_stats
        """numeric field -> [mean, std, band edges...]"""
        self.text_dim = text_dim
        self._lookup = {f: {v: i for i, v in enumerate(values)} for f, values in vocab.items()}
        offset = 0
        self.offsets: dict[str, int] = {}
        for field in self.slot_fields():
            self.offsets[field] = offset
            offset += len(vocab[field]) if kinds[field] == "categorical" else NUMERIC_BANDS + 1
        self.categorical_size = max(offset, 1)
        multi_offset = 0
        self.multi_offsets: dict[str, int] = {}
        for field in self.fields_of("multi"):
            self.multi_offsets[field] = multi_offset
            multi_offset += len(vocab[field])
        self.multi_size = multi_offset

    # ---------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, records: Sequence[dict[str, Any]], *, kinds: dict[str, Kind] | None = None,
            fields: Sequence[str] | None = None, min_count: int = 3,
            skip_text: bool = False) -> FeatureEncoder:
        """Vocabularies and statistics of `fields` (default: every field) over `records`;
        `text_dim` is set by the caller once it knows its sentence encoder."""
        names = list(fields) if fields is not None else list(
            dict.fromkeys(name for record in records for name in record))
        chosen: dict[str, Kind] = {}
        for name in names:
            kind = (kinds or {}).get(name) or infer_kind([r.get(name) for r in records])
            if kind not in KINDS:
                raise DataError(f"unknown feature kind {kind!r} (use {list(KINDS)})", field=name)
            if not (skip_text and kind == "text"):
                chosen[name] = kind
        vocab: dict[str, list[str]] = {}
        stats: dict[str, list[float]] = {}
        for name, kind in chosen.items():
            values = [r.get(name) for r in records if r.get(name) is not None]
            if kind == "categorical":
                counts = Counter(str(v) for v in values)
                vocab[name] = [OTHER, *sorted(v for v, c in counts.items() if c >= min_count)]
            elif kind == "multi":
                counts = Counter(str(v) for vs in values for v in _as_list(vs))
                vocab[name] = [OTHER, *sorted(v for v, c in counts.items() if c >= min_count)]
            elif kind == "numeric":
                numbers = np.array([_number(v, name) for v in values], dtype=np.float64)
                if len(numbers) == 0:
                    numbers = np.zeros(1)
                edges = np.unique(np.quantile(numbers, np.linspace(0, 1, NUMERIC_BANDS + 1)[1:-1]))
                stats[name] = [float(numbers.mean()), float(numbers.std() or 1.0),
                               *map(float, edges)]
        return cls(chosen, vocab, stats)

    def to_json(self) -> dict[str, Any]:
        # fields as a list: the layout follows their order, and manifests sort object keys
        return {"fields": [[f, k] for f, k in self.kinds.items()], "vocab": self.vocab,
                "numeric_stats": self.numeric_stats, "text_dim": self.text_dim}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureEncoder:
        return cls({f: k for f, k in data["fields"]}, data["vocab"], data["numeric_stats"],
                   data["text_dim"])

    # ---------------------------------------------------------------- layout
    def fields_of(self, kind: Kind) -> list[str]:
        return [f for f, k in self.kinds.items() if k == kind]

    def slot_fields(self) -> list[str]:
        """Fields with a categorical slot: categorical ones and the bands of numeric ones."""
        return [f for f, k in self.kinds.items() if k in ("categorical", "numeric")]

    def slot_names(self) -> list[str]:
        """A readable name for every categorical vocabulary index (explanations)."""
        names = [""] * self.categorical_size
        for field in self.slot_fields():
            start = self.offsets[field]
            if self.kinds[field] == "categorical":
                for i, value in enumerate(self.vocab[field]):
                    names[start + i] = f"{field}={value}"
            else:
                edges = self.numeric_stats[field][2:]
                bounds = [-np.inf, *edges, np.inf]
                names[start] = f"{field} missing"
                for band in range(len(bounds) - 1):
                    names[start + 1 + band] = f"{field} in [{bounds[band]:g}, {bounds[band + 1]:g})"
        return names

    def multi_names(self) -> list[str]:
        return [f"{field}={value}" for field in self.fields_of("multi")
                for value in self.vocab[field]]

    # ---------------------------------------------------------------- encoding
    def encode(self, records: Sequence[dict[str, Any]], embed: EmbedFn | None = None, *,
               text: np.ndarray | None = None) -> EncodedFeatures:
        """Inputs for `records`; `embed` turns the text fields' joined strings into vectors
        (or `text` gives them, already embedded)."""
        n = len(records)
        slots = self.slot_fields()
        categorical = np.zeros((n, max(len(slots), 1)), dtype=np.int64)
        multi = np.zeros((n, self.multi_size), dtype=np.float32)
        numeric_fields = self.fields_of("numeric")
        numeric = np.zeros((n, 2 * len(numeric_fields)), dtype=np.float32)
        for row, record in enumerate(records):
            for col, field in enumerate(slots):
                value = record.get(field)
                if self.kinds[field] == "categorical":
                    index = self._lookup[field].get(str(value), 0) if value is not None else 0
                else:
                    index = 0 if value is None else 1 + int(np.searchsorted(
                        self.numeric_stats[field][2:], _number(value, field), side="right"))
                categorical[row, col] = self.offsets[field] + index
            for field in self.fields_of("multi"):
                values = _as_list(record.get(field))
                indices = [self._lookup[field].get(str(v), 0) for v in values]
                for index in indices:
                    multi[row, self.multi_offsets[field] + index] += 1.0 / len(indices)
            for col, field in enumerate(numeric_fields):
                value = record.get(field)
                if value is None:
                    numeric[row, 2 * col + 1] = 1.0
                else:
                    mean, std = self.numeric_stats[field][:2]
                    numeric[row, 2 * col] = (_number(value, field) - mean) / std
        text_fields = self.fields_of("text")
        if text is None:
            text = np.zeros((n, self.text_dim), dtype=np.float32)
            if text_fields and n:
                if embed is None:
                    raise DataError(f"text fields {text_fields} need an encoder")
                joined = [" ".join(str(r.get(f, "")) for f in text_fields) for r in records]
                text = np.asarray(embed(joined), dtype=np.float32).reshape(n, self.text_dim)
        return EncodedFeatures(categorical, multi, numeric, text)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise DataError(f"expected a number, got {value!r:.40}", field=field) from None
    if not np.isfinite(value):
        raise DataError(f"expected a finite number, got {value!r}", field=field)
    return float(value)


def segment_fields(encoder: FeatureEncoder, encoded: EncodedFeatures,
                   max_other_share: float = 0.5) -> list[str]:
    """Slot fields that split users into real segments: those where fewer than half of the
    records fall in the shared "other" slot (a zip code seen once per user defines none)."""
    chosen = []
    for column, field in enumerate(encoder.slot_fields()):
        other = encoder.offsets[field]
        in_other = encoded.categorical[:, column] == other
        if encoder.kinds[field] == "numeric" or in_other.mean() < max_other_share:
            chosen.append(field)
    return chosen
