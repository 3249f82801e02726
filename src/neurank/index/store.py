"""SQLite document store: ids, fields and JSON metadata, keyed by a never-reused row id."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from neurank.data.corpus import Document
from neurank.index.filters import Filters, filters_to_sql

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
);
"""


class DocumentStore:
    """Documents of one collection generation, in one SQLite file."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        if not read_only:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def copy_to(self, path: Path) -> DocumentStore:
        """A writable copy in `path` (SQLite's online backup, consistent while open)."""
        target = sqlite3.connect(path)
        with target:
            self._db.backup(target)
        target.close()
        return DocumentStore(path)

    def insert(self, documents: Iterable[Document]) -> np.ndarray:
        """Insert new documents; returns their row ids in order."""
        rows = []
        with self._db:
            for doc in documents:
                cursor = self._db.execute(
                    "INSERT INTO docs (id, title, text, metadata) VALUES (?, ?, ?, ?)",
                    (doc.id, doc.title, doc.text, json.dumps(doc.metadata, ensure_ascii=False)),
                )
                rows.append(cursor.lastrowid)
        return np.asarray(rows, dtype=np.int64)

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

    def filter_rows(self, filters: Filters) -> np.ndarray:
        """Row ids whose metadata satisfies every filter (see `neurank.index.filters`)."""
        where, params = filters_to_sql(filters)
        rows = self._db.execute(f"SELECT row FROM docs WHERE {where}", params).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)
