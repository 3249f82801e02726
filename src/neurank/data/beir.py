"""BEIR dataset folders: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neurank.data.corpus import Document, OnEmpty, iter_jsonl, read_jsonl_corpus
from neurank.data.trec import Qrels, read_qrels
from neurank.data.validate import Invalid, check_id, check_string
from neurank.errors import DataError


@dataclass
class BeirDataset:
    """Queries and qrels of one split (and the corpus when asked for)."""

    name: str
    split: str
    queries: dict[str, str]
    qrels: Qrels
    corpus: list[Document] | None = None
    unknown_query_qrels: int = 0
    unknown_doc_qrels: int = 0

    def subset(self, query_ids: set[str]) -> BeirDataset:
        """The same split restricted to `query_ids` (the corpus is shared)."""
        return BeirDataset(name=self.name, split=self.split,
                           queries={q: t for q, t in self.queries.items() if q in query_ids},
                           qrels={q: j for q, j in self.qrels.items() if q in query_ids},
                           corpus=self.corpus)

    def problems(self) -> list[str]:
        """Human-readable notes on qrels that point to ids the dataset lacks."""
        notes = []
        if self.unknown_query_qrels:
            notes.append(f"{self.unknown_query_qrels} qrels name queries missing from "
                         "queries.jsonl (ignored)")
        if self.unknown_doc_qrels:
            notes.append(f"{self.unknown_doc_qrels} qrels name documents missing from the "
                         "corpus (kept: they count as relevant but can never be retrieved)")
        return notes


def read_queries(path: str | Path) -> dict[str, str]:
    """Queries from a BEIR queries.jsonl ({"_id", "text"})."""
    path = Path(path)
    queries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, record in iter_jsonl(path):
        field = "_id" if "_id" in record else "id"
        try:
            qid = check_id(record.get(field), "query id")
        except Invalid as exc:
            raise DataError(str(exc), path=path, line=line, field=field) from None
        if qid in first_line:
            raise DataError(f"duplicate query id {qid!r} (first seen on line {first_line[qid]})",
                            path=path, line=line, field=field)
        first_line[qid] = line
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"query {qid!r} has no text", path=path, line=line, field="text")
        try:
            queries[qid] = check_string(text)
        except Invalid as exc:
            raise DataError(str(exc), path=path, line=line, field="text") from None
    if not queries:
        raise DataError("no queries", path=path)
    return queries


def read_beir(
    folder: str | Path,
    split: str = "test",
    *,
    load_corpus: bool = False,
    doc_ids: set[str] | None = None,
    on_empty: OnEmpty = "keep",
) -> BeirDataset:
    """Read one split of a BEIR folder; qrels naming unknown ids are counted, not fatal.

    `doc_ids` (e.g. the ids of an indexed collection) is used to count qrels that point to
    documents nobody can retrieve when the corpus itself is not loaded.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("no such folder" if not folder.exists() else
                        "is a file, expected a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)",
                        path=folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise DataError(f"no qrels for split {split!r} (available: {available})", path=qrels_path)
    queries = read_queries(folder / "queries.jsonl")
    raw_qrels = read_qrels(qrels_path)
    corpus = read_jsonl_corpus(folder / "corpus.jsonl", on_empty=on_empty) if load_corpus else None
    known_docs = {d.id for d in corpus} if corpus is not None else doc_ids
    qrels: Qrels = {}
    unknown_queries = unknown_docs = 0
    for qid, judged in raw_qrels.items():
        if qid not in queries:
            unknown_queries += len(judged)
            continue
        qrels[qid] = judged
        if known_docs is not None:
            unknown_docs += sum(1 for docid in judged if docid not in known_docs)
    if not qrels:
        raise DataError(f"none of the {unknown_queries} judgements names a query of "
                        f"{folder / 'queries.jsonl'}: nothing to evaluate", path=qrels_path)
    split_queries = {qid: queries[qid] for qid in qrels}
    return BeirDataset(name=folder.name, split=split, queries=split_queries, qrels=qrels,
                       corpus=corpus, unknown_query_qrels=unknown_queries,
                       unknown_doc_qrels=unknown_docs)
