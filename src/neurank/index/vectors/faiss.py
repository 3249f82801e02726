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
        self._graph_files: list[str] = []
        self._graph_positions = 0

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

    def save(self, folder: Path, stem: str, rows: np.ndarray) -> list[str]:
        """Write the vectors of `rows` as a segment file; for HNSW, also the graph when it
        covers less than 3/4 of the vectors (it is read back and extended at load)."""
        rows = np.asarray(rows, dtype=np.int64)
        names = []
        if len(rows):
            names.append(f"{stem}.vectors.npz")
            with open(folder / names[0], "wb") as handle:
                np.savez(handle, rows=rows, vectors=self.vectors_for(rows))
        if self.config.kind == "hnsw" and self._graph_positions < 0.75 * len(self.rows):
            names += self.save_graph(folder, stem)
        return names

    def save_graph(self, folder: Path, stem: str) -> list[str]:
        """Write the HNSW graph and its position -> row map (-1 for tombstones)."""
        if self.config.kind != "hnsw":
            return []
        self.compact()
        names = [f"{stem}.graph.faiss", f"{stem}.graph.rows.npy"]
        faiss.write_index(self._index, str(folder / names[0]))
        with open(folder / names[1], "wb") as handle:
            np.save(handle, self.rows)
        self._graph_files, self._graph_positions = names, len(self.rows)
        return names

    def state(self) -> dict[str, Any]:
        return {"backend": "faiss", "kind": self.config.kind, "count": len(self),
                "graph": list(self._graph_files)}

    def close(self) -> None:
        """Nothing to release: FAISS lives in this process's memory."""

    @classmethod
    def load(cls, folder: Path, files: list[str], dim: int, config: VectorIndexConfig,
             state: dict[str, Any], deleted: set[int]) -> FaissIndex:
        """Rebuild from the segments' `.vectors.npz` files (and the HNSW graph the manifest
        names, extended by the vectors added after it was written)."""
        index = cls(dim, config)
        found_rows, found_vectors = [], []
        for name in files:
            if name.endswith(".vectors.npz"):
                with np.load(folder / name, allow_pickle=False) as arrays:
                    found_rows.append(arrays["rows"].astype(np.int64))
                    found_vectors.append(np.asarray(arrays["vectors"], dtype=np.float32))
        rows = np.concatenate(found_rows) if found_rows else np.zeros(0, dtype=np.int64)
        vectors = (np.concatenate(found_vectors) if found_vectors
                   else np.zeros((0, dim), dtype=np.float32))
        if vectors.shape[1:] != (dim,):
            raise ValueError(f"stored vectors have shape {vectors.shape}, expected dim {dim}")
        order = np.argsort(rows, kind="stable")
        rows, vectors = rows[order], vectors[order]
        if deleted:
            live = ~np.isin(rows, np.fromiter(deleted, dtype=np.int64))
            rows, vectors = rows[live], vectors[live]
        graph = [n for n in state.get("graph", []) if n in files]
        if config.kind == "hnsw" and len(graph) == 2:
            index._index = faiss.read_index(str(folder / graph[0]))
            index._index.hnsw.efSearch = config.ef_search
            graph_rows = np.load(folder / graph[1], allow_pickle=False).astype(np.int64)
            have = np.isin(graph_rows, rows) & (graph_rows >= 0)
            index.rows = np.where(have, graph_rows, -1)
            index.vectors = np.zeros((len(graph_rows), dim), dtype=np.float32)
            index.vectors[have] = vectors[np.searchsorted(rows, graph_rows[have])]
            index._position = {int(r): i for i, r in enumerate(index.rows) if r >= 0}
            index._graph_files, index._graph_positions = graph, len(graph_rows)
            newer = ~np.isin(rows, graph_rows)
            rows, vectors = rows[newer], vectors[newer]
        if len(rows):
            index.add(rows, vectors)
        return index
