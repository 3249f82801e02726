"""Fine-tuning: data readers, the gate's evaluators (against scikit-learn), training with a tiny
model (CoSENT, MNRL + Matryoshka + BM25 negatives, LoRA, curriculum) and the checkpoint."""

import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from neurank.errors import DataError
from neurank.finetune.data import beir_pairs, bm25_negatives, read_pairs
from neurank.finetune.evaluation import best_f1, roc_auc
from neurank.finetune.train import FULL_LR, LORA_LR, FinetuneConfig, finetune, save_finetuned


def test_roc_auc_and_best_f1_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.4
    scores = np.round(rng.normal(size=200) + labels, 1)  # rounding makes ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    f1, threshold = best_f1(labels, scores)
    reference = max(f1_score(labels, scores >= t) for t in np.unique(scores))
    assert f1 == pytest.approx(reference)
    assert f1_score(labels, scores >= threshold) == pytest.approx(f1)


def test_lora_defaults_to_a_larger_learning_rate_unless_given():
    assert FinetuneConfig().lr == FULL_LR
    assert FinetuneConfig(lora=True).lr == LORA_LR > FULL_LR
    assert FinetuneConfig(lora=True, lr=1e-5).lr == 1e-5


def test_read_pairs(tmp_path):
    sts = tmp_path / "sts.tsv"
    sts.write_text("genre\tscore\tsentence1\tsentence2\nnews\t4.5\tA cat.\tA kitten.\n"
                   "news\t0.5\tA car.\tThe sea.\n")
    pairs = read_pairs(sts)
    assert pairs.first == ["A cat.", "A car."] and pairs.scores == [4.5, 0.5]
    assert pairs.scale_midpoint() == 2.5
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence1\tsentence2\tscore\na\tb\t1\nc\td\thigh\n")
    with pytest.raises(DataError, match=r"bad.tsv:3 field 'score'"):
        read_pairs(bad)
    plain = tmp_path / "plain.csv"
    plain.write_text("sentence1,sentence2\nq,answer\n")
    assert read_pairs(plain).scores is None


def test_bm25_negatives_are_never_judged_relevant(sample_dir):
    queries = beir_pairs(sample_dir, "train")
    bm25_negatives(queries)
    judged = queries.dataset.qrels
    for qid, negative in zip(queries.query_ids, queries.pairs.negatives, strict=True):
        relevant = {queries.doc_texts[d] for d, g in judged[qid].items() if g > 0}
        assert negative not in relevant
    assert set(queries.pairs.phases) <= {"easy", "medium", "hard"}


def test_a_negative_margin_skips_candidates_too_close_to_the_positive(sample_dir):
    from neurank.index.bm25 import BM25Index

    plain, kept = beir_pairs(sample_dir, "train"), beir_pairs(sample_dir, "train")
    bm25_negatives(plain)
    bm25_negatives(kept, margin=0.3)
    doc_ids = list(kept.doc_texts)
    index = BM25Index()
    index.add(np.arange(len(doc_ids)), [kept.doc_texts[d] for d in doc_ids])
    by_text = {kept.doc_texts[d]: i for i, d in enumerate(doc_ids)}
    moved = 0
    for qid, query, negative, top in zip(kept.query_ids, kept.pairs.first, kept.pairs.negatives,
                                         plain.pairs.negatives, strict=True):
        scores = index.scores(query)
        best = max(scores[by_text[kept.doc_texts[d]]] for d, g in
                   kept.dataset.qrels[qid].items() if g > 0)
        assert scores[by_text[negative]] <= 0.7 * best + 1e-9
        assert scores[by_text[top]] >= scores[by_text[negative]]  # margin 0: the top one
        moved += negative != top
    assert moved  # the sample has candidates within 30% of a positive


def test_scored_pairs_train_and_save_a_loadable_encoder(tiny_model_dir, scored_pairs, tmp_path):
    from neurank.encoders import load_encoder

    config = FinetuneConfig(base=str(tiny_model_dir), epochs=1, batch_size=8, lr=1e-3,
                            matryoshka_dims=[32, 16], max_steps=3)
    model, result = finetune(config, read_pairs(scored_pairs), log=lambda *_: None)
    assert result.primary == "spearman"
    assert set(result.base_metrics) >= {"spearman", "roc_auc", "f1"}
    assert result.history[0]["phase"] == "all"
    assert result.history[0]["validation"] == result.tuned_metrics
    folder = save_finetuned(model, tmp_path / "ft", config, result, {"pairs": "x"})
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "encoder/finetuned"
    encoder = load_encoder(str(folder), "torch")
    text = " ".join(read_pairs(scored_pairs).first[:1])
    vectors = encoder.encode([text])
    direct = model.encode([text])[0]
    np.testing.assert_allclose(vectors[0], direct / np.linalg.norm(direct), atol=1e-5)


def test_beir_lora_curriculum(tiny_model_dir, sample_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    queries = beir_pairs(sample_dir, "train")
    bm25_negatives(queries)
    config = FinetuneConfig(base=str(tiny_model_dir), epochs=1, batch_size=4, lr=1e-3,
                            matryoshka_dims=[32, 16], lora=True, lora_rank=4,
                            curriculum="auto", max_steps=1)
    model, result = finetune(config, queries.pairs, queries=queries, log=lambda *_: None)
    assert result.primary == "ndcg@10"
    phases = [h["phase"] for h in result.history]
    assert phases == [p for p in ("easy", "medium", "hard") if p in phases] and phases
    model.save(str(tmp_path / "merged"))
    reloaded = SentenceTransformer(str(tmp_path / "merged"), device="cpu")
    assert not any("lora" in name for name, _ in reloaded.named_parameters())
    np.testing.assert_allclose(reloaded.encode(["weather"]), model.encode(["weather"]),
                               atol=1e-5)
    val_queries = {queries.query_ids[i] for i in range(len(queries.query_ids))}
    assert val_queries  # the carve holds whole queries: checked in finetune by construction


def test_cli_gate_and_evaluate(neurank, tiny_model_dir, scored_pairs, tmp_path):
    args = ("--pairs", scored_pairs, "--epochs", "3", "--batch-size", "8")
    neurank("finetune", *args, "--base", tiny_model_dir, "--lr", "1e-3", "--out",
            tmp_path / "good", "--force")
    good = json.loads((tmp_path / "good" / "manifest.json").read_text())["validation"]
    assert np.isfinite(good["finetuned"]["spearman"]), good
    # a learning rate this large wrecks it: the gate must refuse to save the result
    refused = neurank("finetune", *args, "--base", tmp_path / "good", "--lr", "5", "--out",
                      tmp_path / "bad", check=False)
    assert refused.returncode != 0 and "worse than" in refused.stderr
    assert not (tmp_path / "bad").exists()
    neurank("finetune", *args, "--base", tmp_path / "good", "--lr", "5", "--out",
            tmp_path / "kept", "--force")
    manifest = json.loads((tmp_path / "kept" / "manifest.json").read_text())
    assert manifest["promoted"] is False
    gate = manifest["validation"]
    assert gate["base"]["spearman"] == pytest.approx(good["finetuned"]["spearman"], abs=1e-6)
    assert not gate["finetuned"]["spearman"] > gate["base"]["spearman"]
    neurank("finetune", "evaluate", tmp_path / "kept", "--pairs", scored_pairs, "--json",
            tmp_path / "eval.json")
    report = json.loads((tmp_path / "eval.json").read_text())
    assert set(report["metrics"]) == {"spearman", "roc_auc", "f1"}
    assert report["model"] == str(tmp_path / "kept")
    usage = neurank("finetune", "--out", tmp_path / "x", check=False)
    assert usage.returncode != 0 and "--pairs FILE or --dataset" in usage.stderr


def test_tune_held_out_of_a_finetuned_model_uses_its_gate_queries(neurank, tiny_model_dir,
                                                                  sample_dir, tmp_path):
    """Recorded by new checkpoints, recomputed (data checked by sha256) for older ones."""
    from sentence_transformers import SentenceTransformer

    from neurank.finetune.data import fingerprint
    from neurank.finetune.train import FinetuneResult, held_out_queries

    queries = beir_pairs(sample_dir, "train")
    expected = sorted(held_out_queries(queries.query_ids, 0.1, 0))
    assert expected and set(expected) < set(queries.query_ids)
    neurank("finetune", "--dataset", sample_dir, "--base", tiny_model_dir, "--max-steps", 1,
            "--epochs", 1, "--batch-size", 4, "--matryoshka-dims", "none", "--out",
            tmp_path / "new", "--force")
    manifest = json.loads((tmp_path / "new" / "manifest.json").read_text())
    assert manifest["data"]["validation_queries"] == expected
    assert manifest["config"]["matryoshka_dims"] == []
    old = tmp_path / "old"  # as saved before the ids were recorded
    save_finetuned(SentenceTransformer(str(tiny_model_dir), device="cpu"), old,
                   FinetuneConfig(base=str(tiny_model_dir)),
                   FinetuneResult({"ndcg@10": 0.1}, {"ndcg@10": 0.2}, "ndcg@10", True, 1.0),
                   {"dataset": str(sample_dir), "split": "train",
                    "sha256": fingerprint(sample_dir)})
    neurank("index", sample_dir, "--out", tmp_path / "coll", "--model", tiny_model_dir)
    for checkpoint in (tmp_path / "new", old):
        tuned = neurank("tune", tmp_path / "coll", "--dataset", sample_dir, "--split", "train",
                        "--held-out-of", checkpoint)
        assert f"tuning on the {len(expected)} queries" in tuned.stderr
        record = json.loads((tmp_path / "coll" / "manifest.json").read_text())
        assert record["config"]["tuned_on"]["query_ids"] == expected
    other = tmp_path / "other"
    shutil.copytree(sample_dir, other)
    (other / "corpus.jsonl").write_text((sample_dir / "corpus.jsonl").read_text() + "\n")
    refused = neurank("tune", tmp_path / "coll", "--dataset", other, "--split", "train",
                      "--held-out-of", old, check=False)
    assert refused.returncode == 2 and "sha256 differs" in refused.stderr
