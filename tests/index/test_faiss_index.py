"""FAISS-specific behaviour; what every backend must do is in test_vector_backends.py."""

import numpy as np

from neurank.config import VectorIndexConfig
from neurank.index.vectors import FaissIndex


def unit_vectors(n, dim=16, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute_force(vectors, rows, queries, k, allowed=None):
    scores = queries @ vectors.T
    if allowed is not None:
        scores[:, ~allowed[rows]] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return rows[top]


def test_hnsw_recall_with_tombstones_and_reload(tmp_path):
    vectors, rows = unit_vectors(2000, dim=32), np.arange(2000, dtype=np.int64)
    config = VectorIndexConfig(kind="hnsw", compact_ratio=0.5)
    index = FaissIndex(32, config)
    index.add(rows, vectors)
    index.delete(rows[::10])
    assert index.tombstones == 200  # below compact_ratio: kept as tombstones
    queries = unit_vectors(50, dim=32, seed=3)
    keep = np.ones(2000, dtype=bool)
    keep[::10] = False
    expected = brute_force(vectors[keep], rows[keep], queries, 10)
    _, found = index.search(queries, 10)
    assert not np.isin(found, rows[::10]).any()
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, expected, strict=True)])
    assert recall > 0.9
    names = index.save(tmp_path, "vectors.g1")
    loaded = FaissIndex.load(tmp_path, names, 32, config, index.state())
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], found)
