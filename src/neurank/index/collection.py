"""Collection: one folder holding documents (SQLite), BM25, vectors and a manifest.

Storage is segmented, as in Lucene. A commit writes only what changed: a new segment for the
documents added since the last commit (`s7.docs.sqlite`, `s7.bm25.npz`, `s7.vectors.npz`)
and, when documents were deleted, the list of deleted rows (`deletes.g7.npy`); segments are
never modified after. Small segments are merged as they accumulate (at most
`MAX_SEGMENTS`), and `optimize()` (`neurank optimize DIR`) merges everything into one
segment without deleted rows. Every commit fsyncs its new files and then swaps
`manifest.json` atomically; a run killed at any point leaves the previous manifest pointing
at files that are still there, so the collection stays loadable.

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
import shutil
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neurank.artifacts import (
    fsync_dir,
    fsync_file,
    library_versions,
    sha256_file,
    verify_files,
    write_manifest,
)
from neurank.artifacts import read_manifest as _read_manifest
from neurank.config import CollectionConfig, FusionConfig
from neurank.data.corpus import Document
from neurank.errors import CollectionError, DataError, NotFoundError
from neurank.index.bm25 import BM25Index
from neurank.index.filters import Filters
from neurank.index.retrievers import BM25Retriever, DenseRetriever, Retriever
from neurank.index.store import DocumentStore, SegmentedStore
from neurank.index.vectors import VectorIndex, create_vector_index, load_vector_index

if TYPE_CHECKING:
    from neurank.encoders.protocol import Encoder

MANIFEST = "manifest.json"
FORMAT = "neurank-collection"
FORMAT_VERSION = 3
MAX_SEGMENTS = 10
"""more segments than this after a commit: the smallest are merged into one"""
_LIBRARIES = ("neurank", "faiss-cpu", "pymilvus", "bm25s", "PyStemmer", "sentence-transformers",
              "onnxruntime", "torch", "numpy", "scipy")
_OWN_FILES = re.compile(r"^(manifest\.json|\.lock|\..*\.tmp|[sm]\d+\..+|deletes\.g\d+\.npy)$")


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a collection folder, checked for its checksum and format."""
    return _read_manifest(folder, fmt=FORMAT, version=FORMAT_VERSION, what="collection",
                          error=CollectionError,
                          hint="; build one with `neurank index SOURCE --out DIR`")


class _ModelInfo(BaseModel):
    name: str
    dim: int = Field(ge=1)


class _Segment(BaseModel):
    name: str = Field(pattern=r"^[sm]\d+$")
    rows: int = Field(ge=0)


class _RankerEntry(BaseModel):
    folder: str = Field(pattern=r"^ranker\.\d+$")
    manifest_sha256: str


class _Manifest(BaseModel):
    """The fields of a collection manifest that loading relies on."""

    model_config = ConfigDict(extra="allow")
    generation: int = Field(ge=1)
    doc_count: int = Field(ge=0)
    next_row: int = Field(ge=0)
    model: _ModelInfo
    config: CollectionConfig
    segments: list[_Segment]
    deletes: str | None = None
    files: dict[str, str]
    vectors: dict[str, Any] = Field(default_factory=dict)
    ranker: _RankerEntry | None = None


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


def _vectors(documents: list[Document], encoder: Encoder, reuse: dict[str, np.ndarray],
             batch_size: int | None, show_progress: bool) -> np.ndarray:
    """Vectors of `documents`: reused by content where `reuse` has them, encoded otherwise."""
    missing = [i for i, d in enumerate(documents) if d.content not in reuse]
    out = np.zeros((len(documents), encoder.dim), dtype=np.float32)
    if missing:
        out[missing] = encoder.encode([documents[i].content for i in missing],
                                      batch_size=batch_size, show_progress=show_progress)
    for i, doc in enumerate(documents):
        if doc.content in reuse:
            out[i] = reuse[doc.content]
    return out


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
        store: SegmentedStore,
        bm25: BM25Index,
        vectors: VectorIndex,
        *,
        generation: int,
        segments: list[_Segment],
        files: dict[str, str],
        next_row: int,
        encoder: Encoder | None = None,
        ranker: _RankerEntry | None = None,
    ) -> None:
        self.folder = folder
        self.config = config
        self.store = store
        self.bm25 = bm25
        self.vectors = vectors
        self.generation = generation
        self.segments = segments
        self._files = files
        self._next_row = next_row
        self._committed = True
        self._deletes_changed = False
        self._pending: tuple[str, DocumentStore] | None = None
        self._encoder = encoder
        self._lock: WriterLock | None = None
        self._ranker = ranker
        self._ranker_checked: _RankerEntry | None = None
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
        batch_size: int | None = None,
        show_progress: bool = True,
        reuse: dict[str, np.ndarray] | None = None,
    ) -> Collection:
        """Index `documents` into `folder`; a collection already there stays until the swap.

        `reuse` maps document content to a vector made by this same model (see
        `vectors_by_content`): documents whose content is there are not encoded again.
        """
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise CollectionError(f"{folder} exists and is not a folder")
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

            encoder = load_encoder(config.model, config.encoder, dim=config.dim)
        elif config.dim is not None and encoder.dim != config.dim:
            from neurank.encoders.truncated import TruncatedEncoder

            encoder = TruncatedEncoder(encoder, config.dim)
        config = config.model_copy(update={"encoder": encoder.backend})
        lock = WriterLock(folder)
        try:
            generation = _previous_generation(folder) + 1
            collection = cls(folder, config, SegmentedStore({}, set()), BM25Index(config.analyzer),
                             create_vector_index(encoder.dim, config.vectors, folder),
                             generation=generation, segments=[], files={}, next_row=0,
                             encoder=encoder)
            collection._lock, collection._committed = lock, False
            collection._append(documents, _vectors(documents, encoder, reuse or {},
                                                   batch_size, show_progress))
            collection.save()
        finally:
            lock.release()
        return collection

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, ids: Iterable[object] | None = None,
                   metadata: Iterable[dict[str, Any]] | None = None,
                   config: CollectionConfig | None = None, encoder: Encoder | None = None,
                   show_progress: bool = False) -> Collection:
        """A searchable collection of plain texts, kept in a temporary folder that goes away
        with the object; `save_as(folder)` keeps a copy. Ids default to "0", "1", ..."""
        texts = list(texts)
        id_list = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(texts))]
        metas = list(metadata) if metadata is not None else [{} for _ in texts]
        if not len(texts) == len(id_list) == len(metas):
            raise DataError(f"{len(texts)} texts, {len(id_list)} ids and {len(metas)} metadata")
        documents = [Document(id=i, text=t, metadata=dict(m))
                     for i, t, m in zip(id_list, texts, metas, strict=True)]
        scratch = Path(tempfile.mkdtemp(prefix="neurank-"))
        try:
            collection = cls.build(scratch / "collection", documents, config, encoder=encoder,
                                   show_progress=show_progress)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        weakref.finalize(collection, shutil.rmtree, scratch, True)
        return collection

    def save_as(self, folder: str | Path) -> Collection:
        """A copy of this collection (its changes saved first) in a new `folder`, opened."""
        target = Path(folder)
        if target.exists():
            raise CollectionError(f"{target} already exists")
        if self.config.vectors.backend == "milvus" and self.config.vectors.milvus_uri:
            raise CollectionError("a collection whose vectors live on a Milvus server cannot be "
                                  "copied as a folder")
        if not self._committed:
            self.save()
        shutil.copytree(self.folder, target, ignore=shutil.ignore_patterns(".*"))
        return Collection.load(target, encoder=self.encoder)

    @classmethod
    def load(cls, folder: str | Path, *, encoder: Encoder | None = None) -> Collection:
        """Open a collection, verifying the manifest and every file it lists against sha256."""
        folder = Path(folder)
        manifest = _parse_manifest(folder)
        verify_files(folder, manifest.files, CollectionError)
        config, dim = manifest.config, manifest.model.dim
        if encoder is not None and encoder.dim != dim:
            raise CollectionError(f"{folder} holds {dim}-d vectors from {config.model!r}; the "
                                  f"given encoder {encoder.name!r} makes {encoder.dim}-d vectors")

        def listed(name: str) -> Path:
            if name not in manifest.files:
                raise CollectionError(f"{folder}: the manifest does not list {name}")
            return folder / name

        deleted: set[int] = set()
        if manifest.deletes is not None:
            deleted = set(np.load(listed(manifest.deletes), allow_pickle=False).tolist())
        names = [segment.name for segment in manifest.segments]
        stores = {name: DocumentStore(listed(f"{name}.docs.sqlite"), read_only=True)
                  for name in names}
        bm25 = BM25Index.load_segments([listed(f"{name}.bm25.npz") for name in names],
                                       config.analyzer, deleted)
        vector_files = [n for n in manifest.files
                        if n.split(".", 1)[0] in names and ".vectors." in n]
        vector_files += [listed(n).name for n in manifest.vectors.get("graph", [])]
        vectors = load_vector_index(folder, vector_files, dim, config.vectors, manifest.vectors,
                                    deleted)
        collection = cls(folder, config, SegmentedStore(stores, deleted), bm25, vectors,
                         generation=manifest.generation, segments=list(manifest.segments),
                         files=dict(manifest.files), next_row=manifest.next_row,
                         encoder=encoder, ranker=manifest.ranker)
        counts = {"manifest": manifest.doc_count, "store": len(collection._row_of),
                  "bm25": bm25.num_docs, "vectors": len(vectors)}
        if len(set(counts.values())) != 1:
            raise CollectionError(f"{folder}: parts disagree on the document count {counts}")
        return collection

    def vectors_by_content(self) -> dict[str, np.ndarray]:
        """Every live document's content -> its vector: what a rebuild with the same model can
        reuse instead of encoding again."""
        rows = np.asarray(sorted(self._row_of.values()), dtype=np.int64)
        documents = self.documents(rows)
        vectors = self.vectors.vectors_for(rows)
        return {documents[int(r)].content: vectors[i] for i, r in enumerate(rows)}

    def reindex(self, model: str, *, encoder: str = "auto", dim: int | None = None,
                batch_size: int | None = None, show_progress: bool = True) -> Collection:
        """This folder's documents encoded by another model, committed as its next generation
        (the current one serves until the manifest swap). Documents, metadata, BM25 and boosts
        stay; the fusion tuning, score threshold and learned ranker were fitted to the old
        vectors' scores and are dropped (run `tune` / `ranker train` again)."""
        rows = sorted(self._row_of.values())
        fetched = self.documents(rows)
        documents = [fetched[r] for r in rows]
        config = self.config.model_copy(update={
            "model": model, "encoder": encoder, "dim": dim, "fusion": FusionConfig(),
            "tuned_on": None, "min_score": None})
        folder = self.folder
        self.close()
        return Collection.build(folder, documents, config, batch_size=batch_size,
                                show_progress=show_progress)

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

            self._encoder = load_encoder(self.config.model, self.config.encoder,
                                         dim=self.config.dim)
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
    def _begin_write(self) -> None:
        """Take the writer lock before the first change after a commit."""
        if not self._committed:
            return
        lock = WriterLock(self.folder)
        try:
            current = self.committed_generation()
            if current != self.generation:
                raise CollectionError(
                    f"{self.folder} was committed to generation {current} by another "
                    f"writer after this process loaded generation {self.generation}; "
                    "reload it before changing it")
        except BaseException:
            lock.release()
            raise
        self._lock = lock
        self.generation += 1
        self._committed = False

    def _append(self, documents: list[Document], vectors: np.ndarray) -> None:
        """Put documents and their vectors into the pending segment under new row ids."""
        if self._pending is None:
            name = f"s{self.generation}"
            path = self.folder / f"{name}.docs.sqlite"
            path.unlink(missing_ok=True)  # left by an earlier interrupted run
            self._pending = (name, DocumentStore(path))
        name, pending = self._pending
        rows = np.arange(self._next_row, self._next_row + len(documents), dtype=np.int64)
        pending.insert(documents, rows)
        self.store.add_segment(name, pending, rows)
        self._next_row += len(documents)
        self.bm25.add(rows, [doc.content for doc in documents])
        self.vectors.add(rows, vectors)
        self._row_of.update(zip([d.id for d in documents], rows.tolist(), strict=True))
        self._id_of.update(zip(rows.tolist(), [d.id for d in documents], strict=True))

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
        vectors = self.encoder.encode([doc.content for doc in documents],
                                      show_progress=show_progress)
        self._begin_write()
        self._append(documents, vectors)

    def delete(self, doc_ids: Iterable[str]) -> None:
        """Delete documents by id; unknown ids are an error and nothing is deleted."""
        doc_ids = list(dict.fromkeys(doc_ids))
        missing = [i for i in doc_ids if i not in self._row_of]
        if missing:
            raise NotFoundError(f"no documents with ids {missing[:5]} in {self.folder}")
        if not doc_ids:
            return
        self._begin_write()
        rows = np.asarray([self._row_of.pop(i) for i in doc_ids], dtype=np.int64)
        pending_name, pending = self._pending or (None, None)
        for row in rows.tolist():
            del self._id_of[row]
            if pending is not None and self.store.segment_of(row) == pending_name:
                pending.delete(np.asarray([row]))  # never committed: gone for good
            else:
                self.store.deleted.add(row)
                self._deletes_changed = True
        self.bm25.delete(rows)
        self.vectors.delete(rows)

    def upsert(self, documents: Iterable[Document], *, show_progress: bool = False) -> None:
        """Insert documents, replacing those whose id is already present."""
        documents = list(documents)
        self.delete([doc.id for doc in documents if doc.id in self._row_of])
        self.add(documents, show_progress=show_progress)

    def optimize(self) -> None:
        """Merge every segment into one without deleted rows (and rewrite the HNSW graph)."""
        self._begin_write()
        self.save(merge_all=True)

    # ---------------------------------------------------------------- saving
    def _live_rows(self, name: str) -> np.ndarray:
        rows, _ = self.store.segments[name].ids_by_row()
        return rows[[row not in self.store.deleted for row in rows.tolist()]] if len(rows) else rows

    def _write_segment(self, name: str, rows: np.ndarray) -> list[str]:
        """BM25 and vectors of `rows` for segment `name` (its documents are already written)."""
        self.bm25.save_rows(self.folder / f"{name}.bm25.npz", rows)
        return [f"{name}.docs.sqlite", f"{name}.bm25.npz",
                *self.vectors.save(self.folder, name, rows)]

    def _merge(self, names: list[str]) -> list[str]:
        """Copy the live documents of segments `names` into one new segment."""
        merged = f"m{self.generation}"
        path = self.folder / f"{merged}.docs.sqlite"
        path.unlink(missing_ok=True)
        store = DocumentStore(path)
        rows = np.concatenate([self._live_rows(name) for name in names])
        rows.sort()
        for start in range(0, len(rows), 5_000):
            chunk = rows[start:start + 5_000]
            docs = self.store.fetch(chunk)
            store.insert([docs[int(r)] for r in chunk], chunk)
        store.commit()
        for name in names:
            self.store.drop_segment(name)
        self.store.add_segment(merged, store, rows)
        self.segments = [s for s in self.segments if s.name not in names]
        self.segments.append(_Segment(name=merged, rows=len(rows)))
        self._deletes_changed = True
        return self._write_segment(merged, rows)

    def save(self, *, merge_all: bool = False) -> None:
        """Commit pending changes: write what changed, swap the manifest, release the lock."""
        if self._committed:
            return
        if self._lock is None:
            raise CollectionError(f"{self.folder}: uncommitted changes without the writer lock")
        try:
            written: list[str] = []
            if self._pending is not None:
                name, pending = self._pending
                pending.commit()
                rows, _ = pending.ids_by_row()
                if len(rows):
                    self.segments.append(_Segment(name=name, rows=len(rows)))
                    written += self._write_segment(name, rows)
                else:
                    self.store.drop_segment(name)
                self._pending = None
            else:
                written += self.vectors.save(self.folder, f"s{self.generation}",
                                             np.zeros(0, dtype=np.int64))
            if merge_all and (len(self.segments) > 1 or self.store.deleted):
                written += self._merge([s.name for s in self.segments])
            elif len(self.segments) > MAX_SEGMENTS:
                smallest = sorted(self.segments, key=lambda s: s.rows)
                written += self._merge([s.name for s in smallest[:len(self.segments)
                                                                  - MAX_SEGMENTS + 2]])
            if merge_all:
                written += self.vectors.save_graph(self.folder, f"m{self.generation}")
            deletes = self._deletes_file(written)
            keep = [f"{s.name}.{part}" for s in self.segments for part in ("docs.sqlite",
                                                                           "bm25.npz")]
            keep += [n for n in [*self._files, *written] if ".vectors." in n
                     and n.split(".", 1)[0] in {s.name for s in self.segments}]
            keep += list(self.vectors.state().get("graph", []))
            keep += [deletes] if deletes else []
            fresh = set(written)  # a rewritten deletes file is in it too
            for name in fresh:
                fsync_file(self.folder / name)
            self._files = {name: self._files[name] if name in self._files and name not in fresh
                           else sha256_file(self.folder / name) for name in dict.fromkeys(keep)}
            self._write_manifest(self._files, deletes)
            self._committed = True
            self._deletes_changed = False
            self._remove_stale_files(set(self._files))
        finally:
            if self._committed:
                self._lock.release()
                self._lock = None

    def _deletes_file(self, written: list[str]) -> str | None:
        """The deleted-rows file of this commit: rewritten only when deletes changed."""
        current = next((n for n in self._files if n.startswith("deletes.")), None)
        if not self.store.deleted:
            return None
        if not self._deletes_changed and current is not None:
            return current
        name = f"deletes.g{self.generation}.npy"
        with open(self.folder / name, "wb") as handle:
            np.save(handle, np.asarray(sorted(self.store.deleted), dtype=np.int64))
        written.append(name)
        return name

    def update_config(self, config: CollectionConfig) -> None:
        """Store new search settings (fusion, boosts) without touching the indexes."""
        fixed = ("model", "encoder", "dim", "analyzer", "vectors")
        if any(getattr(config, name) != getattr(self.config, name) for name in fixed):
            raise CollectionError("model, encoder, dim, analyzer and vector settings are fixed at "
                                  "build time; rebuild the collection (or `neurank reindex` it)")
        with self._locked_manifest() as manifest:
            self.config = config
            self._write_manifest(manifest.files, manifest.deletes)

    @contextmanager
    def _locked_manifest(self) -> Iterator[_Manifest]:
        """Commit pending changes, then hold the writer lock over the committed manifest,
        refusing one another writer moved past this object's generation."""
        self.save()
        lock = WriterLock(self.folder)
        try:
            manifest = _parse_manifest(self.folder)
            if manifest.generation != self.generation:
                raise CollectionError(f"{self.folder} was committed to generation "
                                      f"{manifest.generation} by another writer; reload it")
            yield manifest
        finally:
            lock.release()

    @property
    def ranker_folder(self) -> Path | None:
        """The learned ranker's checkpoint folder inside the collection (None when it has
        none), its manifest checked against the sha256 the collection's manifest records."""
        if self._ranker is None:
            return None
        folder = self.folder / self._ranker.folder
        if self._ranker_checked is not self._ranker:  # once per ranker, not on every search
            manifest = folder / MANIFEST
            if not manifest.is_file() or sha256_file(manifest) != self._ranker.manifest_sha256:
                raise CollectionError(f"{folder}: the ranker is missing or was modified; train "
                                      "or attach it again (`neurank ranker train|attach`)")
            self._ranker_checked = self._ranker
        return folder

    def set_ranker(self, checkpoint: str | Path | None) -> None:
        """Copy a ranker checkpoint folder into the collection and record it in the manifest
        (None removes it); the previous ranker's folder goes once the new manifest is in place."""
        with self._locked_manifest() as manifest:
            previous = self._ranker
            entry = None
            if checkpoint is not None:
                name = f"ranker.{time.time_ns()}"
                staging = self.folder / f".{name}.tmp"
                shutil.copytree(checkpoint, staging, ignore=shutil.ignore_patterns(".*"))
                staging.rename(self.folder / name)
                fsync_dir(self.folder)
                entry = _RankerEntry(folder=name,
                                     manifest_sha256=sha256_file(self.folder / name / MANIFEST))
            self._ranker = entry
            try:
                self._write_manifest(manifest.files, manifest.deletes)
            except BaseException:
                self._ranker = previous
                if entry is not None:
                    shutil.rmtree(self.folder / entry.folder, ignore_errors=True)
                raise
            if previous is not None:
                shutil.rmtree(self.folder / previous.folder, ignore_errors=True)

    def _write_manifest(self, files: dict[str, str], deletes: str | None) -> None:
        write_manifest(self.folder, {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "generation": self.generation,
            "doc_count": len(self._row_of),
            "next_row": self._next_row,
            "model": {"name": self.config.model, "dim": self.vectors.dim, "normalized": True},
            "config": self.config.model_dump(mode="json"),
            "segments": [s.model_dump() for s in self.segments],
            "deletes": deletes,
            "files": files,
            "vectors": self.vectors.state(),
            "ranker": None if self._ranker is None else self._ranker.model_dump(),
            "versions": library_versions(*_LIBRARIES),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })

    def _remove_stale_files(self, keep: set[str]) -> None:
        for path in self.folder.iterdir():
            if path.name in keep or path.name in (MANIFEST, ".lock"):
                continue
            if _OWN_FILES.match(path.name):
                path.unlink(missing_ok=True)
