"""Collection: one folder holding documents (SQLite), BM25, vectors (FAISS) and a manifest.

Every save writes a new generation of files (`docs.g7.sqlite`, `bm25.g7.npz`, ...), fsyncs
them, and only then swaps `manifest.json` atomically. A run killed at any point leaves the
previous manifest pointing at the previous, untouched files, so the collection stays loadable.

One writer at a time: the first change (or `build`) takes an exclusive lock on the folder and
holds it through the commit; a second writer fails at once, naming the holder's PID, and a
writer whose collection was committed past by another process is refused instead of
overwriting it. The manifest carries its own checksum, and only files it lists, by plain name
inside the folder, are ever opened.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neurank.artifacts import (
    fsync_file,
    library_versions,
    sha256_file,
    verify_files,
    write_manifest,
)
from neurank.artifacts import read_manifest as _read_manifest
from neurank.config import CollectionConfig
from neurank.data.corpus import Document
from neurank.errors import CollectionError, DataError, NotFoundError
from neurank.index.bm25 import BM25Index
from neurank.index.filters import Filters
from neurank.index.retrievers import BM25Retriever, DenseRetriever, Retriever
from neurank.index.store import DocumentStore
from neurank.index.vectors import VectorIndex, create_vector_index, load_vector_index

if TYPE_CHECKING:
    from neurank.encoders.protocol import Encoder

MANIFEST = "manifest.json"
FORMAT = "neurank-collection"
FORMAT_VERSION = 2
_GENERATION_FILE = re.compile(r"^(docs|bm25|vectors)\.g(\d+)\.")
_LIBRARIES = ("neurank", "faiss-cpu", "pymilvus", "bm25s", "PyStemmer", "sentence-transformers",
              "torch", "numpy", "scipy")
_OWN_FILES = re.compile(r"^(manifest\.json|\.lock|\..*\.tmp|(docs|bm25|vectors)\.g\d+\..*)$")


class _ModelInfo(BaseModel):
    name: str
    dim: int = Field(ge=1)


class _Manifest(BaseModel):
    """The fields of a collection manifest that loading relies on."""

    model_config = ConfigDict(extra="allow")
    generation: int = Field(ge=1)
    doc_count: int = Field(ge=0)
    model: _ModelInfo
    config: CollectionConfig
    files: dict[str, str]
    vectors: dict[str, object] = Field(default_factory=dict)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a collection folder, checked for format."""
    return _read_manifest(folder, fmt=FORMAT, version=FORMAT_VERSION, what="collection",
                          error=CollectionError,
                          hint="; build one with `neurank index SOURCE --out DIR`")


def _parse_manifest(folder: Path) -> _Manifest:
    try:
        return _Manifest.model_validate(read_manifest(folder))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise CollectionError(f"{folder}/{MANIFEST}: field {where!r}: {problem['msg']}") from None


class WriterLock:
    """An exclusive, non-blocking advisory lock on a folder (released if the process dies)."""

    def __init__(self, folder: Path) -> None:
        path = folder / ".lock"
        handle = open(path, "a+")  # noqa: SIM115 - held open for as long as the lock is
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise CollectionError(f"{folder} is being written by PID {holder}; wait for it "
                                  "to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle: object | None = handle

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)  # type: ignore[arg-type]
            handle.close()  # type: ignore[attr-defined]


def _previous_generation(folder: Path) -> int:
    """The committed generation of `folder` (0 for a new or never-committed folder)."""
    if not folder.exists():
        return 0
    if (folder / MANIFEST).exists():
        return _parse_manifest(folder).generation
    foreign = [p.name for p in folder.iterdir() if not _OWN_FILES.match(p.name)]
    if foreign:
        raise CollectionError(f"{folder} is not empty and not a neurank collection "
                              f"(holds {sorted(foreign)[:3]}); choose another --out")
    return 0  # only the leftovers of an interrupted first build: start over


class Collection:
    """Documents plus their BM25 and vector indexes, loaded from or saved to one folder."""

    def __init__(
        self,
        folder: Path,
        config: CollectionConfig,
        store: DocumentStore,
        bm25: BM25Index,
        vectors: VectorIndex,
        *,
        generation: int,
        committed: bool,
        encoder: Encoder | None = None,
    ) -> None:
        self.folder = folder
        self.config = config
        self.store = store
        self.bm25 = bm25
        self.vectors = vectors
        self.generation = generation
        self._committed = committed
        self._encoder = encoder
        self._lock: WriterLock | None = None
        rows, ids = store.ids_by_row()
        self._row_of: dict[str, int] = dict(zip(ids, rows.tolist(), strict=True))
        self._id_of: dict[int, str] = dict(zip(rows.tolist(), ids, strict=True))

    # ---------------------------------------------------------------- building and loading
    @classmethod
    def build(
        cls,
        folder: str | Path,
        documents: Iterable[Document],
        config: CollectionConfig | None = None,
        *,
        encoder: Encoder | None = None,
        batch_size: int = 64,
        show_progress: bool = True,
    ) -> Collection:
        """Index `documents` into `folder`; a collection already there stays until the swap."""
        folder = Path(folder)
        config = config or CollectionConfig()
        documents = list(documents)
        if not documents:
            raise DataError("the corpus is empty: nothing to index")
        seen: set[str] = set()
        for doc in documents:
            if doc.id in seen:
                raise DataError(f"duplicate document id {doc.id!r}", field="id")
            seen.add(doc.id)
        folder.mkdir(parents=True, exist_ok=True)
        if encoder is None:
            from neurank.encoders.resolve import load_encoder

            encoder = load_encoder(config.model, config.encoder)
        config = config.model_copy(update={"encoder": encoder.backend})
        lock = WriterLock(folder)
        try:
            generation = _previous_generation(folder) + 1
            store_path = folder / f"docs.g{generation}.sqlite"
            store_path.unlink(missing_ok=True)  # left by an earlier interrupted run
            store = DocumentStore(store_path)
            rows = store.insert(documents)
            contents = [doc.content for doc in documents]
            bm25 = BM25Index(config.analyzer)
            bm25.add(rows, contents)
            vectors = create_vector_index(encoder.dim, config.vectors, folder)
            vectors.add(rows, encoder.encode(contents, batch_size=batch_size,
                                             show_progress=show_progress))
            collection = cls(folder, config, store, bm25, vectors, generation=generation,
                             committed=False, encoder=encoder)
            collection._lock = lock
            collection.save()
        finally:
            lock.release()
        return collection

    @classmethod
    def load(cls, folder: str | Path, *, encoder: Encoder | None = None) -> Collection:
        """Open a collection, verifying the manifest and every file it lists against sha256."""
        folder = Path(folder)
        manifest = _parse_manifest(folder)
        verify_files(folder, manifest.files, CollectionError)
        config, generation, dim = manifest.config, manifest.generation, manifest.model.dim
        if encoder is not None and encoder.dim != dim:
            raise CollectionError(f"{folder} holds {dim}-d vectors from {config.model!r}; the "
                                  f"given encoder {encoder.name!r} makes {encoder.dim}-d vectors")

        def listed(name: str) -> Path:
            if name not in manifest.files:
                raise CollectionError(f"{folder}: the manifest does not list {name}")
            return folder / name

        store = DocumentStore(listed(f"docs.g{generation}.sqlite"), read_only=True)
        bm25 = BM25Index.load(listed(f"bm25.g{generation}.npz"), config.analyzer)
        vector_files = [n for n in manifest.files if n.startswith(f"vectors.g{generation}.")]
        vectors = load_vector_index(folder, vector_files, dim, config.vectors,
                                    manifest.vectors)
        collection = cls(folder, config, store, bm25, vectors, generation=generation,
                         committed=True, encoder=encoder)
        counts = {"manifest": manifest.doc_count, "store": len(collection._row_of),
                  "bm25": bm25.num_docs, "vectors": len(vectors)}
        if len(set(counts.values())) != 1:
            raise CollectionError(f"{folder}: parts disagree on the document count {counts}")
        return collection

    def close(self) -> None:
        """Drop uncommitted changes' lock and close the files (the object is unusable after)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self.store.close()
        self.vectors.close()

    def committed_generation(self) -> int:
        """The generation the folder's manifest holds now (another process may have moved it)."""
        return _parse_manifest(self.folder).generation

    @property
    def encoder(self) -> Encoder:
        """The collection's model on the runtime it was built with, loaded on first use."""
        if self._encoder is None:
            from neurank.encoders.resolve import load_encoder

            self._encoder = load_encoder(self.config.model, self.config.encoder)
            if self._encoder.dim != self.vectors.dim:
                raise CollectionError(f"model {self.config.model!r} makes {self._encoder.dim}-d "
                                      f"vectors, the collection holds {self.vectors.dim}-d ones")
        return self._encoder

    # ---------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._row_of

    @property
    def num_slots(self) -> int:
        """One past the largest row id ever used; arrays over rows have this length."""
        return self.bm25.num_slots

    def row_of(self, doc_id: str) -> int:
        try:
            return self._row_of[doc_id]
        except KeyError:
            raise NotFoundError(f"no document with id {doc_id!r} in {self.folder}") from None

    def doc_ids(self) -> set[str]:
        """Every document id in the collection."""
        return set(self._row_of)

    def ids_of(self, rows: Iterable[int]) -> list[str]:
        """Document ids of row ids."""
        return [self._id_of[int(r)] for r in rows]

    def get(self, doc_id: str) -> Document:
        row = self.row_of(doc_id)
        return self.store.fetch([row])[row]

    def documents(self, rows: Iterable[int]) -> dict[int, Document]:
        return self.store.fetch(rows)

    def retriever(self, name: str) -> Retriever:
        """The collection's retriever called `name` ("bm25" or "dense")."""
        if name == "bm25":
            return BM25Retriever(self.bm25)
        if name == "dense":
            return DenseRetriever(self.vectors)
        raise CollectionError(f"no retriever {name!r} in {self.folder} (has bm25, dense)")

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """Query vectors from the collection's model."""
        return self.encoder.encode_queries(queries)

    def allowed_rows(self, filters: Filters | None) -> np.ndarray | None:
        """Boolean mask over row ids for metadata filters (None when there are none)."""
        if not filters:
            return None
        mask = np.zeros(self.num_slots, dtype=bool)
        mask[self.store.filter_rows(filters)] = True
        return mask

    # ---------------------------------------------------------------- updating
    def _writable_store(self) -> None:
        """Take the writer lock; mutations go to the next generation's copy of the store."""
        if self._committed:
            lock = WriterLock(self.folder)
            try:
                current = self.committed_generation()
                if current != self.generation:
                    raise CollectionError(
                        f"{self.folder} was committed to generation {current} by another "
                        f"writer after this process loaded generation {self.generation}; "
                        "reload it before changing it")
                next_path = self.folder / f"docs.g{self.generation + 1}.sqlite"
                next_path.unlink(missing_ok=True)
                self.store = self.store.copy_to(next_path)
            except BaseException:
                lock.release()
                raise
            self._lock = lock
            self.generation += 1
            self._committed = False

    def add(self, documents: Iterable[Document], *, show_progress: bool = False) -> None:
        """Add new documents; an id already present is an error (see `upsert`)."""
        documents = list(documents)
        if not documents:
            return
        ids = [doc.id for doc in documents]
        present = [i for i in ids if i in self._row_of]
        if present:
            raise DataError(f"documents already in the collection: {present[:5]} (use upsert)")
        if len(set(ids)) != len(ids):
            raise DataError("duplicate ids within the added documents")
        empty = [doc.id for doc in documents if not doc.content.strip()]
        if empty:
            raise DataError(f"documents with no title and no text: {empty[:5]}", field="text")
        contents = [doc.content for doc in documents]
        vectors = self.encoder.encode(contents, show_progress=show_progress)
        self._writable_store()
        rows = self.store.insert(documents)
        self.bm25.add(rows, contents)
        self.vectors.add(rows, vectors)
        self._row_of.update(zip(ids, rows.tolist(), strict=True))
        self._id_of.update(zip(rows.tolist(), ids, strict=True))

    def delete(self, doc_ids: Iterable[str]) -> None:
        """Delete documents by id; unknown ids are an error and nothing is deleted."""
        doc_ids = list(dict.fromkeys(doc_ids))
        missing = [i for i in doc_ids if i not in self._row_of]
        if missing:
            raise NotFoundError(f"no documents with ids {missing[:5]} in {self.folder}")
        if not doc_ids:
            return
        self._writable_store()
        rows = np.asarray([self._row_of.pop(i) for i in doc_ids], dtype=np.int64)
        for row in rows.tolist():
            del self._id_of[row]
        self.store.delete(rows)
        self.bm25.delete(rows)
        self.vectors.delete(rows)

    def upsert(self, documents: Iterable[Document], *, show_progress: bool = False) -> None:
        """Insert documents, replacing those whose id is already present."""
        documents = list(documents)
        self.delete([doc.id for doc in documents if doc.id in self._row_of])
        self.add(documents, show_progress=show_progress)

    # ---------------------------------------------------------------- saving
    def save(self) -> None:
        """Persist pending changes as a new generation, swap the manifest, release the lock."""
        if self._committed:
            return
        if self._lock is None:
            raise CollectionError(f"{self.folder}: uncommitted changes without the writer lock")
        try:
            gen = self.generation
            self.store.commit()
            names = [self.store.path.name, f"bm25.g{gen}.npz"]
            self.bm25.save(self.folder / names[1])
            names += self.vectors.save(self.folder, f"vectors.g{gen}")
            for name in names:
                fsync_file(self.folder / name)
            self._write_manifest({name: sha256_file(self.folder / name) for name in names})
            self._committed = True
            self._remove_stale_files(set(names))
        finally:
            if self._committed:
                self._lock.release()
                self._lock = None

    def update_config(self, config: CollectionConfig) -> None:
        """Store new search settings (fusion, boosts) without touching the indexes."""
        fixed = ("model", "encoder", "analyzer", "vectors")
        if any(getattr(config, name) != getattr(self.config, name) for name in fixed):
            raise CollectionError("model, encoder, analyzer and vector settings are fixed at build "
                                  "time; rebuild the collection to change them")
        self.save()
        lock = WriterLock(self.folder)
        try:
            manifest = _parse_manifest(self.folder)
            if manifest.generation != self.generation:
                raise CollectionError(f"{self.folder} was committed to generation "
                                      f"{manifest.generation} by another writer; reload it")
            self.config = config
            self._write_manifest(manifest.files)
        finally:
            lock.release()

    def _write_manifest(self, files: dict[str, str]) -> None:
        write_manifest(self.folder, {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "generation": self.generation,
            "doc_count": len(self._row_of),
            "model": {"name": self.config.model, "dim": self.vectors.dim, "normalized": True},
            "config": self.config.model_dump(mode="json"),
            "files": files,
            "vectors": self.vectors.state(),
            "versions": library_versions(*_LIBRARIES),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })

    def _remove_stale_files(self, keep: set[str]) -> None:
        for path in self.folder.iterdir():
            stale_generation = _GENERATION_FILE.match(path.name) and path.name not in keep
            stale_temp = path.name.startswith(".") and path.name.endswith(".tmp")
            if stale_generation or stale_temp:
                path.unlink(missing_ok=True)
