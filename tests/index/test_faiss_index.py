import numpy as np
import pytest

from neurank.config import VectorIndexConfig
from neurank.index.faiss_index import FaissIndex


def unit_vectors(n, dim=16, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute_force(vectors, rows, queries, k, allowed=None):
    scores = queries @ vectors.T
    if allowed is not None:
        scores[:, ~allowed[rows]] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return rows[top]


def test_flat_search_is_exact_with_deletes_and_filters():
    vectors, rows = unit_vectors(200), np.arange(200, dtype=np.int64) * 2
    index = FaissIndex(16)
    index.add(rows, vectors)
    index.delete(rows[:10])
    queries = unit_vectors(5, seed=1)
    _, found = index.search(queries, 10)
    np.testing.assert_array_equal(found, brute_force(vectors[10:], rows[10:], queries, 10))
    allowed = np.zeros(400, dtype=bool)
    allowed[rows[50:90]] = True
    _, found = index.search(queries, 10, allowed)
    np.testing.assert_array_equal(
        found, brute_force(vectors[10:], rows[10:], queries, 10, allowed))
    assert len(index) == 190


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
    loaded = FaissIndex.load(tmp_path, names, 32, config)
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], found)


def test_padding_and_validation():
    index = FaissIndex(16)
    scores, found = index.search(unit_vectors(1), 3)
    assert found.tolist() == [[-1, -1, -1]] and np.isneginf(scores).all()
    index.add(np.array([5]), unit_vectors(1))
    assert index.search(unit_vectors(1), 3)[1].tolist() == [[5, -1, -1]]
    with pytest.raises(ValueError, match="already present"):
        index.add(np.array([5]), unit_vectors(1))
    with pytest.raises(ValueError, match="NaN"):
        index.add(np.array([6]), np.full((1, 16), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        index.add(np.array([7]), unit_vectors(1, dim=8))
