"""Matryoshka truncation (`index --dim`) and `reindex`: the new vectors are exactly the model's
cut and renormalised, documents survive, a failed reindex leaves the old collection serving."""

from __future__ import annotations

import numpy as np
import pytest

from neurank.config import CollectionConfig, TuningRecord
from neurank.encoders.truncated import TruncatedEncoder
from neurank.errors import ModelError
from neurank.index import Collection


def test_truncated_vectors_are_the_head_renormalised(tiny_encoder):
    texts = ["daily weather observations", "share prices"]
    full = tiny_encoder.encode(texts)
    cut = TruncatedEncoder(tiny_encoder, 8)
    head = full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True)
    assert cut.dim == 8
    assert np.allclose(cut.encode(texts), head, atol=1e-6)
    assert np.allclose(cut.encode_queries(texts[:1]), head[:1], atol=1e-6)
    with pytest.raises(ModelError, match="from 1 to 32"):
        TruncatedEncoder(tiny_encoder, 33)


def test_collection_with_dim_searches_truncated_vectors_after_reload(tmp_path, tiny_model_dir,
                                                                     sample_documents):
    config = CollectionConfig(model=str(tiny_model_dir), encoder="torch", dim=8)
    built = Collection.build(tmp_path / "c", sample_documents, config, show_progress=False)
    assert built.vectors.dim == 8
    built.close()
    loaded = Collection.load(tmp_path / "c")
    assert (loaded.config.dim, loaded.encoder.dim) == (8, 8)
    query = loaded.encode_queries(["weather stations"])[0]
    rows = np.asarray(sorted(loaded.row_of(d) for d in loaded.doc_ids()))
    exact = loaded.vectors.vectors_for(rows) @ query
    [hits] = loaded.retriever("dense").retrieve(["weather stations"], query[None, :], 3, None)
    assert loaded.ids_of(hits.rows[:3]) == loaded.ids_of(rows[np.argsort(-exact)[:3]])


def test_reindex_keeps_documents_drops_tuning_and_fails_atomically(tmp_path, tiny_model_dir,
                                                                   sample_documents):
    config = CollectionConfig(model=str(tiny_model_dir), encoder="torch")
    built = Collection.build(tmp_path / "c", sample_documents, config, show_progress=False)
    built.update_config(built.config.model_copy(update={
        "tuned_on": TuningRecord(dataset="x", split="train", queries=3, metric="ndcg@10",
                                 score=0.5)}))
    before = {d: built.get(d).content for d in built.doc_ids()}
    generation = built.generation
    with pytest.raises(ModelError):
        Collection.load(tmp_path / "c").reindex(str(tiny_model_dir), encoder="torch", dim=64)
    intact = Collection.load(tmp_path / "c")
    assert (intact.generation, intact.vectors.dim) == (generation, 32)
    rebuilt = intact.reindex(str(tiny_model_dir), encoder="torch", dim=16, show_progress=False)
    assert rebuilt.generation > generation and rebuilt.vectors.dim == 16
    assert rebuilt.config.tuned_on is None
    assert {d: rebuilt.get(d).content for d in rebuilt.doc_ids()} == before
    assert Collection.load(tmp_path / "c").config.dim == 16
