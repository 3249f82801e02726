"""Vector backends behind one protocol: FAISS (in process, default) and Milvus (scale-out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurank.config import VectorIndexConfig
from neurank.index.vectors.faiss import FaissIndex
from neurank.index.vectors.protocol import VectorIndex

BACKENDS = ("faiss", "milvus")


def create_vector_index(dim: int, config: VectorIndexConfig, folder: Path) -> VectorIndex:
    """A new, empty index of the configured backend for a collection in `folder`."""
    if config.backend == "milvus":
        from neurank.index.vectors.milvus import MilvusIndex

        return MilvusIndex(dim, config, folder)
    return FaissIndex(dim, config)


def load_vector_index(folder: Path, files: list[str], dim: int, config: VectorIndexConfig,
                      state: dict[str, Any], deleted: set[int]) -> VectorIndex:
    """The committed index: `files` are the segments' verified vector files, `state` the
    manifest's entry, `deleted` the rows deleted since those segments were written."""
    if config.backend == "milvus":
        from neurank.index.vectors.milvus import MilvusIndex

        return MilvusIndex.load(folder, files, dim, config, state, deleted)
    return FaissIndex.load(folder, files, dim, config, state, deleted)


__all__ = ["BACKENDS", "FaissIndex", "VectorIndex", "create_vector_index", "load_vector_index"]
