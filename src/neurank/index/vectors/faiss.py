"""FAISS backend, in process, files in the collection folder: exact inner product
(IndexFlatIP) or HNSW, both with deletes and filters.

FAISS holds the only copy of the vectors (read back through a view of its storage); position
p holds row id `rows[p]` (-1 once deleted). Adds append; deletes are tombstones excluded with
a bitmap selector at search time, so neither costs more than what it changes; the index is
rebuilt without them when they pass `compact_ratio` of the positions. On disk each commit's
vectors are a segment file; an HNSW graph is written with a segment when the saved graph
covers less than 3/4 of the vectors, and extended at load by the vectors added after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np

from neurank.config import VectorIndexConfig
from neurank.index.vectors.protocol import check_vectors, empty_result, pad_result

_BULK = 10_000
"""adds at least this large leave headroom in FAISS's storage (see _reserve_headroom)"""


class FaissIndex:
    """A `VectorIndex` over FAISS."""

    def __init__(self, dim: int, config: VectorIndexConfig | None = None) -> None:
        self.dim = dim
        self.config = config or VectorIndexConfig()
        self._rows = np.zeros(0, dtype=np.int64)
        self._count = 0
        self._position: dict[int, int] = {}
        self._index = self._new_index()
        self._member_bits: np.ndarray | None = None
        self._graph_files: list[str] = []
        self._graph_positions = 0

    def _new_index(self) -> faiss.Index:
        if self.config.kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.config.ef_construction
            index.hnsw.efSearch = self.config.ef_search
            return index
        return faiss.IndexFlatIP(self.dim)

    @property
    def rows(self) -> np.ndarray:
        """Row id of each position (-1 for tombstones)."""
        return self._rows[: self._count]

    @property
    def vectors(self) -> np.ndarray:
        """A view of FAISS's own storage, (positions, dim); valid until the next add."""
        if self._count == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        flat = self._index.storage if self.config.kind == "hnsw" else self._index
        flat = faiss.downcast_index(flat)
        return faiss.rev_swig_ptr(flat.get_xb(), self._count * self.dim).reshape(
            self._count, self.dim)

    def __len__(self) -> int:
        return len(self._position)

    @property
    def tombstones(self) -> int:
        return self._count - len(self._position)

    def add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        rows, vectors = check_vectors(rows, vectors, self.dim)
        clash = [int(r) for r in rows if int(r) in self._position]
        if clash:
            raise ValueError(f"row ids already present: {clash[:5]}")
        start = self._count
        if start + len(rows) > len(self._rows):
            grown = np.full(max(start + len(rows), 2 * len(self._rows)), -1, dtype=np.int64)
            grown[:start] = self._rows[:start]
            self._rows = grown
        self._rows[start:start + len(rows)] = rows
        self._count += len(rows)
        self._position.update(zip(rows.tolist(), range(start, start + len(rows)), strict=True))
        self._index.add(vectors)
        self._member_bits = None
        if len(rows) >= _BULK:
            self._reserve_headroom()

    def _reserve_headroom(self) -> None:
        """Give FAISS's vector storage (a growing array) a quarter more capacity after a bulk
        add, so the next one-document add does not copy every stored vector (0.85 s at 1M
        vectors, measured); costs that copy now, at build or load, and 25% more memory."""
        flat = faiss.downcast_index(self._index.storage if self.config.kind == "hnsw"
                                    else self._index)
        size = flat.codes.size()
        flat.codes.resize(size + size // 4)
        flat.codes.resize(size)

    def delete(self, rows: np.ndarray) -> None:
        for row in np.asarray(rows, dtype=np.int64).tolist():
            position = self._position.pop(row, None)
            if position is not None:
                self._rows[position] = -1
                self._member_bits = None
        if self.tombstones > self.config.compact_ratio * max(self._count, 1):
            self.compact()

    def compact(self) -> None:
        """Drop tombstoned positions and rebuild the FAISS structure."""
        if not self.tombstones:
            return
        keep = self.rows >= 0
        vectors = np.ascontiguousarray(self.vectors[keep])
        rows = self.rows[keep].copy()
        self._index = self._new_index()
        self._rows, self._count, self._position = np.zeros(0, dtype=np.int64), 0, {}
        if len(rows):
            self.add(rows, vectors)
        self._member_bits = None

    def _selector(self, allowed: np.ndarray | None) -> faiss.SearchParameters | None:
        if allowed is None and not self.tombstones:
            return None
        if allowed is None:
            if self._member_bits is None:
                self._member_bits = np.packbits(self.rows >= 0, bitorder="little")
            bitmap = self._member_bits
        else:
            rows = self.rows
            member = (rows >= 0) & (rows < len(allowed))
            member &= allowed[np.clip(rows, 0, len(allowed) - 1)]
            bitmap = np.packbits(member, bitorder="little")
        selector = faiss.IDSelectorBitmap(self._count, faiss.swig_ptr(bitmap))
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
        if self._count == 0 or k <= 0:
            return empty_result(len(queries), k)
        k_search = min(k, self._count)
        scores, positions = self._index.search(queries, k_search, params=self._selector(allowed))
        found = positions >= 0
        rows = np.where(found, self.rows[np.where(found, positions, 0)], -1)
        scores = np.where(found, scores, -np.inf).astype(np.float32)
        return pad_result(scores, rows, k)

    def vectors_for(self, rows: np.ndarray) -> np.ndarray:
        positions = [self._position[int(r)] for r in rows]
        return self.vectors[positions].copy()

    def save(self, folder: Path, stem: str, rows: np.ndarray) -> list[str]:
        """Write the vectors of `rows` as a segment file; for HNSW, also the graph when it
        covers less than 3/4 of the vectors (it is read back and extended at load)."""
        rows = np.asarray(rows, dtype=np.int64)
        names = []
        if len(rows):
            names.append(f"{stem}.vectors.npz")
            with open(folder / names[0], "wb") as handle:
                np.savez(handle, rows=rows, vectors=self.vectors_for(rows))
        if self.config.kind == "hnsw" and self._graph_positions < 0.75 * self._count:
            names += self.save_graph(folder, stem)
        return names

    def save_graph(self, folder: Path, stem: str) -> list[str]:
        """Write the HNSW graph (without tombstones) and its position -> row map."""
        if self.config.kind != "hnsw":
            return []
        self.compact()
        names = [f"{stem}.graph.faiss", f"{stem}.graph.rows.npy"]
        faiss.write_index(self._index, str(folder / names[0]))
        with open(folder / names[1], "wb") as handle:
            np.save(handle, self.rows)
        self._graph_files, self._graph_positions = names, self._count
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
            index._rows = np.where(np.isin(graph_rows, rows), graph_rows, -1)
            index._count = len(graph_rows)
            index._position = {int(r): i for i, r in enumerate(index._rows) if r >= 0}
            index._graph_files, index._graph_positions = graph, len(graph_rows)
            newer = ~np.isin(rows, graph_rows)
            rows, vectors = rows[newer], vectors[newer]
        if len(rows):
            index.add(rows, vectors)
        return index
