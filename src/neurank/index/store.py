"""SQLite document stores: ids, fields and JSON metadata, keyed by a never-reused row id.

A collection's documents live in segments, one SQLite file each, written once and then only
read; `SegmentedStore` answers for all of them and hides rows deleted since.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from neurank.data.corpus import Document
from neurank.index.filters import Filters, check_known_fields, filters_to_sql

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    row INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
);
"""


class DocumentStore:
    """Documents of one segment, in one SQLite file."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        if not read_only:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def insert(self, documents: Iterable[Document], rows: np.ndarray) -> None:
        """Insert new documents under the given row ids."""
        with self._db:
            self._db.executemany(
                "INSERT INTO docs (row, id, title, text, metadata) VALUES (?, ?, ?, ?, ?)",
                [(int(row), doc.id, doc.title, doc.text,
                  json.dumps(doc.metadata, ensure_ascii=False))
                 for row, doc in zip(rows.tolist(), documents, strict=True)])

    def delete(self, rows: np.ndarray) -> None:
        with self._db:
            self._db.executemany("DELETE FROM docs WHERE row = ?", [(int(r),) for r in rows])

    def commit(self) -> None:
        self._db.commit()

    def ids_by_row(self) -> tuple[np.ndarray, list[str]]:
        """(row ids, document ids) of every stored document, in row order."""
        pairs = self._db.execute("SELECT row, id FROM docs ORDER BY row").fetchall()
        return np.asarray([p[0] for p in pairs], dtype=np.int64), [p[1] for p in pairs]

    def fetch(self, rows: Iterable[int]) -> dict[int, Document]:
        """Documents of the given rows, keyed by row id."""
        wanted = [int(r) for r in rows]
        found: dict[int, Document] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row, doc_id, title, text, meta in self._db.execute(
                f"SELECT row, id, title, text, metadata FROM docs WHERE row IN ({marks})", chunk
            ):
                found[row] = Document(id=doc_id, title=title, text=text, metadata=json.loads(meta))
        return found

    def metadata_fields(self) -> set[str]:
        """Every top-level metadata field name some document of the segment has (a scan:
        asked only to explain a filter that matched nothing)."""
        found = self._db.execute(
            "SELECT DISTINCT j.key FROM docs, json_each(docs.metadata) AS j").fetchall()
        return {row[0] for row in found}

    def rows_where(self, where: str, params: list[Any]) -> np.ndarray:
        """Row ids matching a WHERE clause made by `filters_to_sql`."""
        rows = self._db.execute(f"SELECT row FROM docs WHERE {where}", params).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)


class SegmentedStore:
    """Every segment's documents as one store; rows in `deleted` are never returned."""

    def __init__(self, segments: dict[str, DocumentStore], deleted: set[int]) -> None:
        self.segments = segments
        self.deleted = deleted
        self._segment_of: dict[int, str] = {}
        for name, store in segments.items():
            rows, _ = store.ids_by_row()
            self._segment_of.update(dict.fromkeys(rows.tolist(), name))

    def add_segment(self, name: str, store: DocumentStore, rows: np.ndarray) -> None:
        self.segments[name] = store
        self._segment_of.update(dict.fromkeys(rows.tolist(), name))

    def drop_segment(self, name: str) -> None:
        store = self.segments.pop(name)
        rows, _ = store.ids_by_row()
        for row in rows.tolist():
            self._segment_of.pop(row, None)
            self.deleted.discard(row)
        store.close()

    def segment_of(self, row: int) -> str:
        return self._segment_of[row]

    def close(self) -> None:
        for store in self.segments.values():
            store.close()

    def ids_by_row(self) -> tuple[np.ndarray, list[str]]:
        """(row ids, document ids) of every live document, in row order."""
        pairs = [(row, doc_id) for store in self.segments.values()
                 for row, doc_id in zip(*store.ids_by_row(), strict=True)
                 if row not in self.deleted]
        pairs.sort()
        return np.asarray([p[0] for p in pairs], dtype=np.int64), [p[1] for p in pairs]

    def fetch(self, rows: Iterable[int]) -> dict[int, Document]:
        by_segment: dict[str, list[int]] = {}
        for row in rows:
            by_segment.setdefault(self._segment_of[int(row)], []).append(int(row))
        found: dict[int, Document] = {}
        for name, wanted in by_segment.items():
            found.update(self.segments[name].fetch(wanted))
        return found

    def filter_rows(self, filters: Filters) -> np.ndarray:
        """Live row ids whose metadata satisfies every filter (see `neurank.index.filters`)."""
        where, params = filters_to_sql(filters)
        rows = [store.rows_where(where, params) for store in self.segments.values()]
        found = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        if self.deleted:
            found = found[~np.isin(found, np.fromiter(self.deleted, dtype=np.int64))]
        if len(found) == 0:  # only then is it worth a scan for the fields that exist
            known = set().union(*(s.metadata_fields() for s in self.segments.values()))
            check_known_fields(filters, known, "no document has a metadata field")
        return np.sort(found)
