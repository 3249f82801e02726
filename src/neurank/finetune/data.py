"""Training data for fine-tuning: sentence pairs (scored or positive) and BEIR qrels, with
BM25 hard negatives and a difficulty for curriculum phases."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurank.data.beir import BeirDataset, read_beir
from neurank.errors import DataError


@dataclass
class PairSet:
    """Sentence pairs; `scores` (any scale) for STS-style data, None for positive pairs."""

    first: list[str]
    second: list[str]
    scores: list[float] | None = None
    phases: list[str] | None = None
    """a curriculum phase per pair (easy/medium/hard), from the data or computed"""
    negatives: list[str] | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.first)

    def take(self, rows: np.ndarray) -> PairSet:
        def pick(values: list | None) -> list | None:
            return None if values is None else [values[i] for i in rows]
        return PairSet([self.first[i] for i in rows], [self.second[i] for i in rows],
                       pick(self.scores), pick(self.phases), pick(self.negatives), self.source)

    def scale_midpoint(self) -> float:
        """The middle of the score scale (pairs above it count as positives)."""
        assert self.scores is not None
        return (min(self.scores) + max(self.scores)) / 2


def read_pairs(path: str | Path, *, phase_field: str = "phase") -> PairSet:
    """A TSV/CSV with header columns `sentence1`, `sentence2` and optionally `score` (any scale)
    and a curriculum `phase`; other columns are ignored."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    first, second, scores, phases = [], [], [], []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE
                                if delimiter == "\t" else csv.QUOTE_MINIMAL)
        header = reader.fieldnames or []
        for column in ("sentence1", "sentence2"):
            if column not in header:
                raise DataError(f"header has no column {column!r} (columns: {header})",
                                path=path, line=1, field=column)
        scored, phased = "score" in header, phase_field in header
        for row in reader:
            line = reader.line_num
            a, b = (row.get("sentence1") or "").strip(), (row.get("sentence2") or "").strip()
            if not a or not b:
                raise DataError("empty sentence", path=path, line=line,
                                field="sentence1" if not a else "sentence2")
            first.append(a)
            second.append(b)
            if scored:
                try:
                    value = float(row["score"])
                except (TypeError, ValueError):
                    raise DataError(f"not a number: {row['score']!r}", path=path, line=line,
                                    field="score") from None
                if not np.isfinite(value):
                    raise DataError("not a finite number", path=path, line=line, field="score")
                scores.append(value)
            if phased:
                phases.append((row.get(phase_field) or "").strip())
    if not first:
        raise DataError("no pairs", path=path)
    return PairSet(first, second, scores if scored else None, phases if phased else None,
                   source=str(path))


@dataclass
class QueryPairs:
    """(query, relevant document) training pairs of a BEIR split, one per judged pair."""

    dataset: BeirDataset
    query_ids: list[str]
    pairs: PairSet
    doc_texts: dict[str, str] = field(default_factory=dict)


def document_text(title: str, text: str) -> str:
    return f"{title}. {text}" if title else text


def beir_pairs(folder: str | Path, split: str = "train") -> QueryPairs:
    """Every (query, document judged relevant) pair of `split`."""
    dataset = read_beir(folder, split, load_corpus=True)
    assert dataset.corpus is not None
    texts = {d.id: document_text(d.title, d.text) for d in dataset.corpus}
    query_ids, first, second = [], [], []
    for qid, judged in dataset.qrels.items():
        if qid not in dataset.queries:
            continue
        for doc_id, grade in judged.items():
            if grade > 0 and doc_id in texts:
                query_ids.append(qid)
                first.append(dataset.queries[qid])
                second.append(texts[doc_id])
    if not first:
        raise DataError(f"no judged query-document pairs in the {split} split", path=folder)
    return QueryPairs(dataset, query_ids, PairSet(first, second, source=f"{folder}:{split}"),
                      texts)


def bm25_negatives(query_pairs: QueryPairs, *, depth: int = 30, margin: float = 0.0) -> None:
    """Give each pair the best-ranked BM25 document that is judged relevant to none of the
    query's pairs (the classic hard negative), and a difficulty phase: how close its BM25
    score comes to the positive's (tertiles: easy, medium, hard).

    `margin` (relative, as NV-Retriever's TopK-PercPos): a candidate scoring above
    (1 - margin) x the query's best positive is skipped, since a document that close is often
    an unjudged relevant one (a false negative); 0 takes the top non-relevant document."""
    from neurank.index.bm25 import BM25Index

    doc_ids = list(query_pairs.doc_texts)
    index = BM25Index()
    index.add(np.arange(len(doc_ids)), [query_pairs.doc_texts[d] for d in doc_ids])
    position = {d: i for i, d in enumerate(doc_ids)}
    relevant = query_pairs.dataset.qrels
    negatives, ratios = [], []
    cache: dict[str, np.ndarray] = {}
    for qid, query in zip(query_pairs.query_ids, query_pairs.pairs.first, strict=True):
        scores = cache.setdefault(qid, index.scores(query))
        judged = {position[d] for d, g in relevant.get(qid, {}).items() if g > 0
                  and d in position}
        positive_score = max(float(scores[j]) for j in judged) if judged else 1.0
        ceiling = (1.0 - margin) * positive_score
        ranked = [int(i) for i in np.argsort(-scores)[:depth]
                  if int(i) not in judged and (margin == 0.0 or scores[i] <= ceiling)]
        negative = ranked[0] if ranked else int(np.argmin(scores))
        negatives.append(query_pairs.doc_texts[doc_ids[negative]])
        ratios.append(float(scores[negative]) / max(positive_score, 1e-9))
    edges = np.quantile(ratios, [1 / 3, 2 / 3]) if ratios else [0.0, 0.0]
    query_pairs.pairs.negatives = negatives
    query_pairs.pairs.phases = [("easy", "medium", "hard")[int(np.searchsorted(edges, r))]
                                for r in ratios]


def fingerprint(*paths: str | Path) -> str:
    """sha256 over the training data files (recorded in the checkpoint)."""
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(Path(path).rglob("*")) if Path(path).is_dir() else [Path(path)]:
            if file.is_file():
                digest.update(file.name.encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


@dataclass
class TrainingData:
    """What `neurank finetune` (and a fine-tuning sweep) trains on: the pairs, the BEIR queries
    they come from (None for a pairs file), and the data record of the checkpoint."""

    pairs: PairSet
    queries: QueryPairs | None
    record: dict[str, Any]

    def record_for(self, validation_fraction: float, seed: int) -> dict[str, Any]:
        """The checkpoint's data record; for BEIR data with the queries the gate holds out
        (what `tune --held-out-of` reads)."""
        from neurank.finetune.train import held_out_queries

        if self.queries is None:
            return dict(self.record)
        return {**self.record, "validation_queries": sorted(held_out_queries(
            self.queries.query_ids, validation_fraction, seed))}


def read_training_data(*, dataset: str | Path | None = None, split: str = "train",
                       pairs: str | Path | None = None, mine_negatives: bool = True,
                       negative_margin: float = 0.0,
                       log: Callable[[str], None] = print) -> TrainingData:
    """BEIR qrels pairs (with BM25 hard negatives, `negative_margin` below the positives, and
    difficulty phases when `mine_negatives`) or a pairs file, with its fingerprint."""
    if (dataset is None) == (pairs is None):
        raise DataError("fine-tuning reads either a BEIR folder or a pairs file")
    if dataset is not None:
        queries = beir_pairs(dataset, split)
        if mine_negatives:
            log("mining BM25 hard negatives ...")
            bm25_negatives(queries, margin=negative_margin)
        return TrainingData(queries.pairs, queries, {"dataset": str(dataset), "split": split,
                                                     "sha256": fingerprint(dataset)})
    assert pairs is not None
    return TrainingData(read_pairs(pairs), None, {"pairs": str(pairs),
                                                  "sha256": fingerprint(pairs)})
