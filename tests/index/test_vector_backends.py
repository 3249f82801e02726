"""One contract, run against every vector backend (a seam is real when two pass it)."""

import numpy as np
import pytest

from neurank.config import VectorIndexConfig
from neurank.index.vectors import FaissIndex, create_vector_index, load_vector_index

BACKENDS = {
    "faiss-flat": VectorIndexConfig(),
    "milvus-flat": VectorIndexConfig(backend="milvus"),
}


def unit_vectors(n, dim=16, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact(vectors, rows, queries, k, allowed=None):
    scores = queries @ vectors.T
    if allowed is not None:
        scores[:, ~allowed[rows]] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return rows[top], np.take_along_axis(scores, top, axis=1)


@pytest.fixture(params=list(BACKENDS))
def backend(request, tmp_path):
    if request.param.startswith("milvus"):
        pytest.importorskip("pymilvus", reason="the Milvus backend is an extra: neurank[milvus]")
    config = BACKENDS[request.param]
    opened = []

    def make(dim=16):
        index = create_vector_index(dim, config, tmp_path)
        opened.append(index)
        return index

    committed = {"files": [], "deleted": set(), "segments": 0}

    def reload(index, added, deleted=()):
        """Commit as a Collection does (a segment of the rows added since the last commit,
        the rows deleted since), then load from the committed files alone."""
        committed["segments"] += 1
        committed["files"] += index.save(tmp_path, f"s{committed['segments']}",
                                         np.asarray(added, dtype=np.int64))
        committed["deleted"] |= set(np.asarray(deleted).tolist())
        state, dim = index.state(), index.dim
        index.close()
        loaded = load_vector_index(tmp_path, list(committed["files"]), dim, config, state,
                                   set(committed["deleted"]))
        opened.append(loaded)
        return loaded

    yield make, reload
    for index in opened:
        index.close()


def test_search_is_exact_with_deletes_and_filters(backend):
    make, reload = backend
    vectors, rows = unit_vectors(200), np.arange(200, dtype=np.int64) * 2
    index = make()
    index.add(rows, vectors)
    index.delete(rows[:10])
    queries = unit_vectors(5, seed=1)
    want_rows, want_scores = exact(vectors[10:], rows[10:], queries, 10)
    for stage in ("pending", "saved"):
        scores, found = index.search(queries, 10)
        np.testing.assert_array_equal(found, want_rows, err_msg=stage)
        np.testing.assert_allclose(scores, want_scores, atol=1e-5, err_msg=stage)
        allowed = np.zeros(400, dtype=bool)
        allowed[rows[50:90]] = True
        _, found = index.search(queries, 10, allowed)
        np.testing.assert_array_equal(
            found, exact(vectors[10:], rows[10:], queries, 10, allowed)[0], err_msg=stage)
        assert len(index) == 190
        if stage == "pending":
            index = reload(index, rows[10:])  # deleted before their first commit


def test_reload_keeps_results_and_later_writes(backend):
    make, reload = backend
    vectors, rows = unit_vectors(300), np.arange(300, dtype=np.int64)
    index = make()
    index.add(rows[:250], vectors[:250])
    queries = unit_vectors(4, seed=2)
    before = index.search(queries, 7)
    loaded = reload(index, rows[:250])
    after = loaded.search(queries, 7)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0], atol=1e-5)
    loaded.add(rows[250:], vectors[250:])
    loaded.delete(rows[:5])
    np.testing.assert_allclose(loaded.vectors_for(np.array([3 + 5, 260])),
                               vectors[[8, 260]], atol=1e-6)
    want = exact(vectors[5:], rows[5:], queries, 7)[0]
    np.testing.assert_array_equal(loaded.search(queries, 7)[1], want)  # writes seen before save
    again = reload(loaded, rows[250:], rows[:5])
    np.testing.assert_array_equal(again.search(queries, 7)[1], want)
    assert len(again) == 295 and again.state()["count"] == 295


def test_padding_and_validation(backend):
    make, _ = backend
    index = make()
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
    none_allowed = np.zeros(10, dtype=bool)
    assert index.search(unit_vectors(1), 2, none_allowed)[1].tolist() == [[-1, -1]]


def test_faiss_hnsw_recall_with_tombstones_and_reload(tmp_path):
    vectors, rows = unit_vectors(2000, dim=32), np.arange(2000, dtype=np.int64)
    config = VectorIndexConfig(kind="hnsw", compact_ratio=0.5)
    index = FaissIndex(32, config)
    index.add(rows, vectors)
    names = index.save(tmp_path, "s1", rows)
    assert "s1.graph.faiss" in names  # the graph is saved with the first segment
    index.delete(rows[::10])
    assert index.tombstones == 200  # below compact_ratio: kept as tombstones
    queries = unit_vectors(50, dim=32, seed=3)
    keep = np.ones(2000, dtype=bool)
    keep[::10] = False
    expected = exact(vectors[keep], rows[keep], queries, 10)[0]
    _, found = index.search(queries, 10)
    assert not np.isin(found, rows[::10]).any()
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, expected, strict=True)])
    assert recall > 0.9
    deleted = set(rows[::10].tolist())
    loaded = FaissIndex.load(tmp_path, names, 32, config, index.state(), deleted)
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], found)
    # vectors added after the graph was written are added to it at load
    extra = unit_vectors(100, dim=32, seed=9)
    loaded.add(np.arange(2000, 2100), extra)
    names += loaded.save(tmp_path, "s2", np.arange(2000, 2100))
    assert "s2.graph.faiss" not in names  # the graph still covers more than 3/4
    again = FaissIndex.load(tmp_path, names, 32, config, loaded.state(), deleted)
    assert len(again) == 1900
    assert again.state()["graph"] == ["s1.graph.faiss", "s1.graph.rows.npy"]
    np.testing.assert_array_equal(again.search(extra[:5], 1)[1].ravel(), np.arange(2000, 2005))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_a_bulk_add_leaves_headroom_and_search_stays_exact(kind):
    config = VectorIndexConfig(kind=kind, hnsw_m=8, ef_construction=16)
    vectors, rows = unit_vectors(12_000, dim=8), np.arange(12_000, dtype=np.int64)
    index = FaissIndex(8, config)
    index.add(rows, vectors)  # bulk: capacity grows by a quarter, size does not
    flat = __import__("faiss").downcast_index(index._index.storage if kind == "hnsw"
                                              else index._index)
    assert flat.codes.size() == 12_000 * 8 * 4 and flat.ntotal == 12_000
    index.add(np.array([20_000]), vectors[:1] * -1)
    np.testing.assert_allclose(index.vectors_for(np.array([20_000, 5])),
                               np.stack([-vectors[0], vectors[5]]), atol=1e-7)
    if kind == "flat":
        queries = unit_vectors(3, dim=8, seed=4)
        all_rows = np.append(rows, 20_000)
        all_vectors = np.vstack([vectors, -vectors[:1]])
        np.testing.assert_array_equal(index.search(queries, 5)[1],
                                      exact(all_vectors, all_rows, queries, 5)[0])
