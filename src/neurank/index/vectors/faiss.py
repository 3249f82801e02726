"""FAISS backend, in process, files in the collection folder: exact inner product
(IndexFlatIP) or HNSW, both with deletes and filters.

Vectors live in one compact array; position p holds row id `rows[p]` (-1 once deleted). FAISS
HNSW cannot remove nodes, so deletes are tombstones excluded with a bitmap selector at search
time, and the graph is rebuilt when tombstones pass `compact_ratio`. The flat index is always
compacted on save, which is a copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np

from neurank.config import VectorIndexConfig
from neurank.index.vectors.protocol import check_vectors, empty_result, pad_result


class FaissIndex:
    """A `VectorIndex` over FAISS."""

    def __init__(self, dim: int, config: VectorIndexConfig | None = None) -> None:
        self.dim = dim
        self.config = config or VectorIndexConfig()
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self.rows = np.zeros(0, dtype=np.int64)
        self._position: dict[int, int] = {}
        self._index = self._new_index()

    def _new_index(self) -> faiss.Index:
        if self.config.kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.config.ef_construction
            index.hnsw.efSearch = self.config.ef_search
            return index
        return faiss.IndexFlatIP(self.dim)

    def __len__(self) -> int:
        return len(self._position)

    @property
    def tombstones(self) -> int:
        return len(self.rows) - len(self._position)

    def add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        rows, vectors = check_vectors(rows, vectors, self.dim)
        clash = [int(r) for r in rows if int(r) in self._position]
        if clash:
            raise ValueError(f"row ids already present: {clash[:5]}")
        start = len(self.rows)
        self.vectors = np.concatenate([self.vectors, vectors])
        self.rows = np.concatenate([self.rows, rows])
        self._position.update({int(r): start + i for i, r in enumerate(rows)})
        self._index.add(vectors)

    def delete(self, rows: np.ndarray) -> None:
        for row in np.asarray(rows, dtype=np.int64):
            position = self._position.pop(int(row), None)
            if position is not None:
                self.rows[position] = -1
        if self.config.kind == "flat" or self.tombstones > self.config.compact_ratio * max(
            len(self.rows), 1
        ):
            self.compact()

    def compact(self) -> None:
        """Drop tombstoned positions and rebuild the FAISS structure."""
        if not self.tombstones:
            return
        keep = self.rows >= 0
        self.vectors = np.ascontiguousarray(self.vectors[keep])
        self.rows = self.rows[keep]
        self._position = {int(r): i for i, r in enumerate(self.rows)}
        self._index = self._new_index()
        if len(self.rows):
            self._index.add(self.vectors)

    def _selector(self, allowed: np.ndarray | None) -> faiss.SearchParameters | None:
        if allowed is None and not self.tombstones:
            return None
        member = self.rows >= 0
        if allowed is not None:
            in_range = np.clip(self.rows, 0, len(allowed) - 1)
            member &= (self.rows < len(allowed)) & allowed[in_range]
        bitmap = np.packbits(member, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(member), faiss.swig_ptr(bitmap))
        if self.config.kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=self.config.ef_search)
        else:
            params = faiss.SearchParameters(sel=selector)
        params._keep_alive = (bitmap, selector)  # FAISS holds raw pointers to both
        return params

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if len(self.rows) == 0 or k <= 0:
            return empty_result(len(queries), k)
        k_search = min(k, len(self.rows))
        scores, positions = self._index.search(queries, k_search, params=self._selector(allowed))
        found = positions >= 0
        rows = np.where(found, self.rows[np.where(found, positions, 0)], -1)
        scores = np.where(found, scores, -np.inf).astype(np.float32)
        return pad_result(scores, rows, k)

    def vectors_for(self, rows: np.ndarray) -> np.ndarray:
        positions = [self._position[int(r)] for r in rows]
        return self.vectors[positions]

    def save(self, folder: Path, stem: str) -> list[str]:
        if self.config.kind == "flat":
            self.compact()
        names = [f"{stem}.npz"]
        with open(folder / names[0], "wb") as handle:
            np.savez(handle, vectors=self.vectors, rows=self.rows)
        if self.config.kind == "hnsw":
            names.append(f"{stem}.hnsw.faiss")
            faiss.write_index(self._index, str(folder / names[1]))
        return names

    def state(self) -> dict[str, Any]:
        return {"backend": "faiss", "kind": self.config.kind, "count": len(self)}

    def close(self) -> None:
        """Nothing to release: FAISS lives in this process's memory."""

    @classmethod
    def load(cls, folder: Path, files: list[str], dim: int, config: VectorIndexConfig,
             state: dict[str, Any]) -> FaissIndex:
        """Read the `.npz` (and `.hnsw.faiss`) files the manifest lists for this generation."""
        files = sorted(files, key=len)  # .npz before .hnsw.faiss
        index = cls(dim, config)
        with np.load(folder / files[0], allow_pickle=False) as arrays:
            index.vectors = np.ascontiguousarray(arrays["vectors"], dtype=np.float32)
            index.rows = arrays["rows"].astype(np.int64)
        if index.vectors.shape[1:] != (dim,):
            raise ValueError(f"stored vectors have shape {index.vectors.shape}, expected dim {dim}")
        index._position = {int(r): i for i, r in enumerate(index.rows) if r >= 0}
        if config.kind == "hnsw":
            index._index = faiss.read_index(str(folder / files[1]))
            index._index.hnsw.efSearch = config.ef_search
        elif len(index.rows):
            index._index.add(index.vectors)
        return index
