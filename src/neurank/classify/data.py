"""Labelled texts for multi-label classification: JSONL or CSV/TSV files, or a folder of splits.

    JSONL  {"text": "...", "labels": ["joy", "love"]}      (labels may also be one string)
    CSV    text,labels  with labels joined by `label_separator` ("joy;love")
    folder train.jsonl / dev.jsonl / test.jsonl (or .csv/.tsv) and optionally labels.txt,
           one label per line, fixing the label set and its order

Every problem names its file, line and field.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurank.data.corpus import iter_csv, iter_jsonl
from neurank.data.validate import Invalid, check_string
from neurank.errors import DataError

SUFFIXES = (".jsonl", ".csv", ".tsv")
MAX_TEXT_CHARS = 100_000
MAX_LABEL_CHARS = 200


@dataclass
class LabelledTexts:
    """Texts, their label lists, and where they came from."""

    texts: list[str]
    labels: list[list[str]]
    source: str
    label_set: list[str] | None = None  # from labels.txt, when the folder has one

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> Counter[str]:
        return Counter(label for labels in self.labels for label in labels)

    def matrix(self, labels: list[str]) -> np.ndarray:
        """Boolean (texts, labels) matrix; labels outside `labels` are an error naming them."""
        index = {label: i for i, label in enumerate(labels)}
        unknown = sorted(set(self.counts()) - set(index))
        if unknown:
            raise DataError(f"labels the model does not know: {unknown[:10]}"
                            f"{' ...' if len(unknown) > 10 else ''} ({len(unknown)} in all; "
                            f"known: {len(labels)})", path=self.source)
        out = np.zeros((len(self.texts), len(labels)), dtype=bool)
        for row, names in enumerate(self.labels):
            out[row, [index[n] for n in names]] = True
        return out


def _label_list(value: Any, *, path: Path, line: int, field: str,
                separator: str) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(separator)] if value.strip() else []
    if not isinstance(value, list):
        raise DataError(f"expected a list of label names, got {type(value).__name__}",
                        path=path, line=line, field=field)
    out: list[str] = []
    for label in value:
        if isinstance(label, bool) or not isinstance(label, str | int):
            raise DataError(f"a label must be a string, got {label!r:.60}", path=path,
                            line=line, field=field)
        name = str(label).strip()
        if not name or len(name) > MAX_LABEL_CHARS or not name.isprintable():
            raise DataError(f"invalid label name {name!r:.60}", path=path, line=line,
                            field=field)
        if name not in out:
            out.append(name)
    return out


def _text(value: Any, *, path: Path, line: int, field: str) -> str:
    if not isinstance(value, str):
        kind = "missing" if value is None else f"a {type(value).__name__}, not a string"
        raise DataError(f"text is {kind}", path=path, line=line, field=field)
    if not value.strip():
        raise DataError("text is empty", path=path, line=line, field=field)
    try:
        return check_string(value, limit=MAX_TEXT_CHARS)
    except Invalid as exc:
        raise DataError(str(exc), path=path, line=line, field=field) from None


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() == ".jsonl":
        return iter_jsonl(path)
    return iter_csv(path)


def read_labelled_file(path: str | Path, *, text_field: str = "text",
                       labels_field: str = "labels", label_separator: str = ";") -> LabelledTexts:
    """Labelled texts from one .jsonl/.csv/.tsv file."""
    path = Path(path)  # a missing file or a folder is named by the shared readers
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(f"unknown file type {path.suffix!r} (use {', '.join(SUFFIXES)})",
                        path=path)
    texts: list[str] = []
    labels: list[list[str]] = []
    for line, record in _records(path):
        if text_field not in record:
            raise DataError(f"no field {text_field!r} (fields: {sorted(record)[:20]}; "
                            "pass --text-field)", path=path, line=line, field=text_field)
        if labels_field not in record:
            raise DataError(f"no field {labels_field!r} (fields: {sorted(record)[:20]}; "
                            "pass --labels-field)", path=path, line=line, field=labels_field)
        texts.append(_text(record[text_field], path=path, line=line, field=text_field))
        labels.append(_label_list(record[labels_field], path=path, line=line,
                                  field=labels_field, separator=label_separator))
    if not texts:
        raise DataError("no labelled texts", path=path)
    return LabelledTexts(texts, labels, str(path))


def _label_file(folder: Path) -> list[str] | None:
    path = folder / "labels.txt"
    if not path.is_file():
        return None
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [n for n in names if n]
    if len(set(names)) != len(names):
        raise DataError("a label is listed twice", path=path)
    return names


def read_labelled(source: str | Path, split: str | None = None,
                  **options: Any) -> LabelledTexts:
    """A file, or split `split` of a folder (train/dev/test files with a known suffix)."""
    source = Path(source)
    if not source.exists():
        raise DataError("no such file or folder", path=source)
    if not source.is_dir():
        return read_labelled_file(source, **options)
    split = split or "train"
    candidates = [source / f"{split}{suffix}" for suffix in SUFFIXES]
    found = [c for c in candidates if c.exists()]
    if not found:
        available = sorted(p.stem for p in source.iterdir() if p.suffix.lower() in SUFFIXES)
        raise DataError(f"no file for split {split!r} (available: {available})", path=source)
    data = read_labelled_file(found[0], **options)
    data.label_set = _label_file(source)
    return data


def label_order(train: LabelledTexts) -> list[str]:
    """The model's labels: the folder's labels.txt order, else train labels by name."""
    counts = train.counts()
    if train.label_set is None:
        return sorted(counts)
    unknown = sorted(set(counts) - set(train.label_set))
    if unknown:
        raise DataError(f"labels not in labels.txt: {unknown[:10]}", path=train.source)
    return list(train.label_set)


def split_off(data: LabelledTexts, fraction: float, seed: int) -> tuple[LabelledTexts,
                                                                         LabelledTexts]:
    """(rest, held-out) with `fraction` of the texts held out (seeded), for a missing dev split."""
    order = np.random.default_rng(seed).permutation(len(data))
    cut = max(1, math.ceil(fraction * len(data)))

    def take(rows: np.ndarray, tag: str) -> LabelledTexts:
        return LabelledTexts([data.texts[i] for i in rows], [data.labels[i] for i in rows],
                             f"{data.source} ({tag})", data.label_set)

    return take(order[cut:], "train part"), take(order[:cut], f"{fraction:.0%} held out")
