import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from neurank.config import CollectionConfig, VectorIndexConfig
from neurank.data import Document
from neurank.errors import CollectionError, DataError, NotFoundError
from neurank.index import Collection
from neurank.search import SearchPipeline

QUERIES = ["weather station temperature", "hospital patients", "music listening",
           "prices of houses", "images"]


def all_scores(collection, mode):
    """document id -> score for every document, per query (k = whole collection)."""
    pipeline = SearchPipeline(collection)
    rankings = pipeline.rank(QUERIES, k=len(collection) + 5, mode=mode)
    return [dict(zip(collection.ids_of(r.rows), np.round(r.score, 5).tolist(), strict=True))
            for r in rankings]


def assert_same_scores(got, want, mode):
    """Equal per query up to float noise (texts encoded in other batches differ by ~1e-7)."""
    for got_query, want_query in zip(got, want, strict=True):
        assert set(got_query) == set(want_query), mode
        for doc_id, score in want_query.items():
            assert got_query[doc_id] == pytest.approx(score, abs=1e-4), (mode, doc_id)


def test_build_and_load(sample_collection, tiny_encoder):
    folder = sample_collection.folder
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["doc_count"] == 40 and manifest["generation"] == 1
    assert manifest["model"]["dim"] == tiny_encoder.dim
    assert set(manifest["files"]) == {"s1.docs.sqlite", "s1.bm25.npz", "s1.vectors.npz"}
    assert {"faiss-cpu", "bm25s", "torch"} <= set(manifest["versions"])
    loaded = Collection.load(folder, encoder=tiny_encoder)
    assert len(loaded) == 40
    assert loaded.get("ds04").title == "Atmospheric CO2 at Mauna Loa"
    assert loaded.get("ds04").metadata == {"category": "climate", "quality": 0.97}
    with pytest.raises(NotFoundError, match="nope"):
        loaded.get("nope")


def test_tampered_or_missing_files_are_refused(sample_collection, tiny_encoder):
    folder = sample_collection.folder
    with open(folder / "s1.bm25.npz", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(CollectionError, match=r"s1\.bm25\.npz does not match its sha256"):
        Collection.load(folder, encoder=tiny_encoder)
    (folder / "s1.bm25.npz").unlink()
    with pytest.raises(CollectionError, match="missing"):
        Collection.load(folder, encoder=tiny_encoder)
    (folder / "manifest.json").unlink()
    with pytest.raises(CollectionError, match="not a neurank collection"):
        Collection.load(folder, encoder=tiny_encoder)


def test_refuses_to_write_into_a_foreign_folder(tmp_path, tiny_encoder, sample_documents):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CollectionError, match="not a neurank collection"):
        Collection.build(tmp_path, sample_documents, encoder=tiny_encoder, show_progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_empty_corpus_and_wrong_encoder(tmp_path, tiny_encoder, sample_collection):
    with pytest.raises(DataError, match="empty"):
        Collection.build(tmp_path / "x", [], encoder=tiny_encoder)

    class WideEncoder:
        name, dim = "wide", 999

    with pytest.raises(CollectionError, match="999-d"):
        Collection.load(sample_collection.folder, encoder=WideEncoder())


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_updates_equal_a_fresh_build(tmp_path, tiny_encoder, tiny_model_dir, sample_documents,
                                     kind):
    config = CollectionConfig(model=str(tiny_model_dir), vectors=VectorIndexConfig(kind=kind))
    docs = list(sample_documents)
    changed = replace(docs[5], text="hourly rainfall and temperature from weather radars")
    extra = Document(id="new1", title="Ocean Buoy Measurements",
                     text="sea surface temperature and wave height from moored buoys")
    updated = Collection.build(tmp_path / "updated", docs[:30], config, encoder=tiny_encoder,
                               show_progress=False)
    updated.add(docs[30:])
    updated.upsert([changed, extra])
    updated.delete(["ds12", "ds33"])
    updated.save()
    reloaded = Collection.load(tmp_path / "updated", encoder=tiny_encoder)
    final = [changed if d.id == changed.id else d for d in docs if d.id not in ("ds12", "ds33")]
    fresh = Collection.build(tmp_path / "fresh", [*final, extra], config, encoder=tiny_encoder,
                             show_progress=False)
    assert len(reloaded) == len(fresh) == 39
    for mode in ("bm25", "dense", "hybrid"):
        assert all_scores(reloaded, mode) == all_scores(fresh, mode), mode
    assert reloaded.get("ds06").text.startswith("hourly rainfall")
    manifest = json.loads((tmp_path / "updated" / "manifest.json").read_text())
    assert manifest["generation"] == 2
    leftovers = {p.name for p in (tmp_path / "updated").iterdir()} - set(manifest["files"])
    assert leftovers <= {"manifest.json", ".lock"}


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_many_commits_merges_and_optimize_equal_a_fresh_build(tmp_path, tiny_encoder,
                                                              tiny_model_dir, sample_documents,
                                                              kind):
    config = CollectionConfig(model=str(tiny_model_dir), vectors=VectorIndexConfig(kind=kind))
    docs = list(sample_documents)
    current = {d.id: d for d in docs[:10]}
    updated = Collection.build(tmp_path / "u", docs[:10], config, encoder=tiny_encoder,
                               show_progress=False)
    for step, start in enumerate(range(10, 40, 2)):  # 15 commits: more segments than the cap
        batch = docs[start:start + 2]
        updated.add(batch)
        current.update({d.id: d for d in batch})
        victim = sorted(current)[step % len(current)]
        updated.delete([victim])
        del current[victim]
        rewritten = replace(current[sorted(current)[0]], text=f"revised text number {step}")
        updated.upsert([rewritten])
        current[rewritten.id] = rewritten
        updated.save()
    manifest = json.loads((tmp_path / "u" / "manifest.json").read_text())
    assert 1 < len(manifest["segments"]) <= 10 and manifest["deletes"]
    assert any(s["name"].startswith("m") for s in manifest["segments"])  # merged on the way
    fresh = Collection.build(tmp_path / "f", list(current.values()), config,
                             encoder=tiny_encoder, show_progress=False)
    reloaded = Collection.load(tmp_path / "u", encoder=tiny_encoder)
    for mode in ("bm25", "dense", "hybrid"):
        assert_same_scores(all_scores(reloaded, mode), all_scores(fresh, mode), mode)
    reloaded.optimize()
    manifest = json.loads((tmp_path / "u" / "manifest.json").read_text())
    assert len(manifest["segments"]) == 1 and manifest["deletes"] is None
    optimized = Collection.load(tmp_path / "u", encoder=tiny_encoder)
    for mode in ("bm25", "dense", "hybrid"):
        assert_same_scores(all_scores(optimized, mode), all_scores(fresh, mode), mode)
    leftovers = {p.name for p in (tmp_path / "u").iterdir()} - set(manifest["files"])
    assert leftovers <= {"manifest.json", ".lock"}


def test_a_one_document_commit_writes_only_what_changed(sample_collection, tiny_encoder):
    folder = sample_collection.folder
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("s1.*")}
    sample_collection.upsert([Document(id="ds03", title="Replaced", text="a new text")])
    sample_collection.save()
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("s1.*")}
    assert after == before  # the first segment was not rewritten
    manifest = json.loads((folder / "manifest.json").read_text())
    written = set(manifest["files"]) - set(before)
    assert written == {"s2.docs.sqlite", "s2.bm25.npz", "s2.vectors.npz", "deletes.g2.npy"}
    assert np.load(folder / "deletes.g2.npy").tolist() == [2]  # ds03's old row
    assert Collection.load(folder, encoder=tiny_encoder).get("ds03").title == "Replaced"


def test_unknown_ids_change_nothing(sample_collection):
    with pytest.raises(NotFoundError, match="missing"):
        sample_collection.delete(["ds01", "missing"])
    assert "ds01" in sample_collection and len(sample_collection) == 40
    with pytest.raises(DataError, match="use upsert"):
        sample_collection.add([Document(id="ds01", text="dup")])
    with pytest.raises(DataError, match="no title and no text"):
        sample_collection.add([Document(id="blank", text="  ")])


def test_unsaved_changes_do_not_touch_the_stored_generation(sample_collection, tiny_encoder):
    sample_collection.delete(["ds01"])
    sample_collection.add([Document(id="zz", text="something new")])
    reopened = Collection.load(sample_collection.folder, encoder=tiny_encoder)
    assert "ds01" in reopened and "zz" not in reopened


@pytest.mark.slow
def test_killed_index_run_leaves_previous_collection_intact(tmp_path, tiny_model_dir,
                                                            sample_collection, tiny_encoder):
    folder = sample_collection.folder
    before = all_scores(Collection.load(folder, encoder=tiny_encoder), "hybrid")
    words = np.random.default_rng(0).choice(
        ["alpha", "beta", "gamma", "delta", "sensor", "river", "price", "image"], size=(30000, 40))
    corpus = tmp_path / "big.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"b{i}", "text": " ".join(row)}) + "\n"
                              for i, row in enumerate(words)))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "neurank.cli", "index", str(corpus), "--out", str(folder),
         "--model", str(tiny_model_dir), "--force"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (folder / "s2.docs.sqlite").exists():
        assert process.poll() is None, "indexing ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # now inside BM25 / encoding of the new generation
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["generation"] == 1
    after = Collection.load(folder, encoder=tiny_encoder)
    assert len(after) == 40
    assert all_scores(after, "hybrid") == before


def test_from_texts_in_three_lines_and_save_as(tmp_path, tiny_encoder):
    from neurank.search import SearchPipeline

    collection = Collection.from_texts(["solar power output", "hospital admissions by month",
                                        "wind turbine energy"], encoder=tiny_encoder)
    hits = SearchPipeline(collection).search("solar energy", k=2, mode="bm25")
    assert hits[0].id == "0" and len(collection) == 3
    scratch = collection.folder.parent
    kept = collection.save_as(tmp_path / "kept")
    assert [h.id for h in SearchPipeline(kept).search("solar energy", k=2, mode="bm25")] == [
        h.id for h in hits]
    with pytest.raises(CollectionError, match="already exists"):
        collection.save_as(tmp_path / "kept")
    collection.close()
    del collection, hits
    import gc

    gc.collect()
    assert not scratch.exists()  # the temporary folder went with the object
    assert len(Collection.load(tmp_path / "kept", encoder=tiny_encoder)) == 3


def test_build_reuses_given_vectors_by_content(tmp_path, tiny_encoder, sample_documents):
    from neurank.config import CollectionConfig

    marker = np.zeros(tiny_encoder.dim, dtype=np.float32)
    marker[0] = 1.0  # no encoder output looks like this
    reused = sample_documents[3]
    collection = Collection.build(tmp_path / "c", sample_documents, CollectionConfig(),
                                  encoder=tiny_encoder, show_progress=False,
                                  reuse={reused.content: marker})
    by_content = collection.vectors_by_content()
    np.testing.assert_array_equal(by_content[reused.content], marker)
    other = sample_documents[4]
    np.testing.assert_allclose(by_content[other.content],
                               tiny_encoder.encode([other.content])[0], atol=1e-6)
