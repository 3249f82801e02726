"""Milvus backend: vectors in a Milvus collection (a server, or an embedded milvus-lite file).

The collection folder stays the source of truth for documents and BM25; Milvus holds only
(row id, vector). Writes are buffered in this process and sent at `save()`, the collection's
commit, so a failed update leaves Milvus as the last manifest describes it; searches see the
buffer at once (pending vectors are scored exactly and merged, pending deletes filtered out).
The manifest records the Milvus collection name and its vector count, and `load` refuses a
Milvus collection whose count disagrees (written by someone else, or a commit that died
between Milvus and the manifest).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from neurank.config import VectorIndexConfig
from neurank.errors import CollectionError
from neurank.index.vectors.protocol import check_vectors, empty_result, pad_result

EMBEDDED_FILE = "milvus.db"
_BATCH = 1_000


def _client(uri: str, token_env: str) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise CollectionError("the Milvus backend needs pymilvus and milvus-lite: "
                              "pip install 'neurank[milvus]'") from exc
    token = os.environ.get(token_env, "")
    return MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)


class MilvusIndex:
    """A `VectorIndex` over a Milvus collection."""

    def __init__(self, dim: int, config: VectorIndexConfig, folder: Path,
                 name: str | None = None) -> None:
        self.dim = dim
        self.config = config
        self.uri = config.milvus_uri or str(Path(folder).resolve() / EMBEDDED_FILE)
        self.name = name or f"neurank_{uuid.uuid4().hex[:16]}"
        self.client = _client(self.uri, config.milvus_token_env)
        self._count = 0
        self._pending_add: dict[int, np.ndarray] = {}
        self._pending_delete: set[int] = set()
        if name is None:
            self._create()

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = self.client.prepare_index_params()
        if self.config.kind == "hnsw":
            params.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                             params={"M": self.config.hnsw_m,
                                     "efConstruction": self.config.ef_construction})
        else:
            params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        self.client.create_collection(self.name, schema=schema, index_params=params)

    # ---------------------------------------------------------------- writes (buffered)
    def __len__(self) -> int:
        return self._count + len(self._pending_add) - len(self._pending_delete)

    def add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        rows, vectors = check_vectors(rows, vectors, self.dim)
        clash = [int(r) for r in rows if int(r) in self._pending_add]
        if clash:
            raise ValueError(f"row ids already present: {clash[:5]}")
        self._pending_add.update({int(r): v for r, v in zip(rows, vectors, strict=True)})

    def delete(self, rows: np.ndarray) -> None:
        for row in np.asarray(rows, dtype=np.int64).tolist():
            if self._pending_add.pop(row, None) is None:
                self._pending_delete.add(row)

    def save(self, folder: Path, stem: str, rows: np.ndarray) -> list[str]:
        """Send buffered deletes and inserts, flush, and recount; no local files (the vectors
        of every segment live in Milvus)."""
        if self._pending_delete:
            gone = sorted(self._pending_delete)
            for start in range(0, len(gone), _BATCH):
                self.client.delete(self.name, ids=gone[start:start + _BATCH])
        added = sorted(self._pending_add.items())
        for start in range(0, len(added), _BATCH):
            self.client.insert(self.name, [{"id": row, "vector": vector.tolist()}
                                           for row, vector in added[start:start + _BATCH]])
        self.client.flush(self.name)
        self._pending_add.clear()
        self._pending_delete.clear()
        self._count = self.remote_count()
        return []

    def save_graph(self, folder: Path, stem: str) -> list[str]:
        """Milvus keeps its own index; nothing to write."""
        return []

    # ---------------------------------------------------------------- reads
    def remote_count(self) -> int:
        result = self.client.query(self.name, filter="", output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def _remote_search(self, queries: np.ndarray, k: int,
                       allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self._count == 0:
            return empty_result(len(queries), k)
        expression = ""
        if allowed is not None:
            ids = np.flatnonzero(allowed)
            if not len(ids):
                return empty_result(len(queries), k)
            expression = f"id in [{','.join(map(str, ids.tolist()))}]"
        limit = min(k + len(self._pending_delete), self._count, 16_384)
        params = {"metric_type": "IP", "params": {"ef": max(self.config.ef_search, limit)}
                  if self.config.kind == "hnsw" else {}}
        results = self.client.search(self.name, data=queries.tolist(), limit=limit,
                                     filter=expression, output_fields=[], search_params=params)
        scores, rows = empty_result(len(queries), limit)
        for i, hits in enumerate(results):
            kept = [h for h in hits if int(h["id"]) not in self._pending_delete]
            rows[i, : len(kept)] = [int(h["id"]) for h in kept]
            scores[i, : len(kept)] = [float(h["distance"]) for h in kept]
        return scores, rows

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if k <= 0 or len(self) == 0:
            return empty_result(len(queries), k)
        scores, rows = self._remote_search(queries, k, allowed)
        if self._pending_add:
            pending = np.fromiter(self._pending_add, dtype=np.int64)
            if allowed is not None:
                pending = pending[(pending < len(allowed)) & allowed[np.clip(pending, 0,
                                                                             len(allowed) - 1)]]
            extra = (self.vectors_for(pending) @ queries.T).T if len(pending) else None
            if extra is not None:
                scores = np.concatenate([scores, extra.astype(np.float32)], axis=1)
                rows = np.concatenate([rows, np.broadcast_to(pending, extra.shape)], axis=1)
        order = np.lexsort((rows, -scores), axis=1) if scores.size else None
        if order is not None:
            scores = np.take_along_axis(scores, order, axis=1)
            rows = np.take_along_axis(rows, order, axis=1)
        rows = np.where(np.isfinite(scores), rows, -1)
        return pad_result(scores, rows, k)

    def vectors_for(self, rows: np.ndarray) -> np.ndarray:
        wanted = np.asarray(rows, dtype=np.int64).tolist()
        found = {r: self._pending_add[r] for r in wanted if r in self._pending_add}
        remote = [r for r in wanted if r not in found]
        for start in range(0, len(remote), _BATCH):
            for entity in self.client.get(self.name, ids=remote[start:start + _BATCH],
                                          output_fields=["vector"]):
                found[int(entity["id"])] = np.asarray(entity["vector"], dtype=np.float32)
        missing = [r for r in wanted if r not in found]
        if missing:
            raise KeyError(f"rows {missing[:5]} are not in Milvus collection {self.name}")
        return np.stack([found[r] for r in wanted]) if wanted else np.zeros((0, self.dim),
                                                                             np.float32)

    # ---------------------------------------------------------------- manifest
    def state(self) -> dict[str, Any]:
        uri = self.config.milvus_uri  # None for the embedded file, so the folder can move
        return {"backend": "milvus", "uri": uri, "collection": self.name, "count": self._count}

    def close(self) -> None:
        self.client.close()

    @classmethod
    def load(cls, folder: Path, files: list[str], dim: int, config: VectorIndexConfig,
             state: dict[str, Any], deleted: set[int]) -> MilvusIndex:
        """Reconnect to the manifest's Milvus collection; refuse it if its count disagrees.
        (Deletes were sent to Milvus at their commit, so `deleted` needs no action here.)"""
        name = state.get("collection")
        if not isinstance(name, str) or not name:
            raise CollectionError(f"{folder}: the manifest names no Milvus collection")
        index = cls(dim, config, folder, name=name)
        if not index.client.has_collection(name):
            raise CollectionError(f"{folder}: Milvus at {index.uri} has no collection {name!r}")
        index.client.load_collection(name)
        index._count = index.remote_count()
        if index._count != state.get("count"):
            raise CollectionError(
                f"{folder}: Milvus collection {name!r} holds {index._count} vectors but the "
                f"manifest committed {state.get('count')} (changed by another writer, or an "
                "update died mid-commit); rebuild the collection")
        return index
