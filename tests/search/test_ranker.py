import json
import math

import numpy as np
import pytest

from neurank.artifacts import write_manifest
from neurank.config import RankerConfig, RankerFeatures
from neurank.data import read_beir
from neurank.errors import CheckpointError, CollectionError, NeurankError
from neurank.search import SearchPipeline, ranker_training
from neurank.search.evaluation import evaluate_collection
from neurank.search.features import FeatureExtractor, feature_names
from neurank.search.ranker import LearnedRanker, collection_ranker, store_ranker
from neurank.search.ranker_training import (
    cross_validate,
    ranking_lists,
    train_ranker,
    tune_threshold,
)

TINY = {"hidden": 16, "heads": 2}


def tiny_config(**update) -> RankerConfig:
    config = RankerConfig(**{**TINY, **update})
    config.trainer = config.trainer.model_copy(update={"epochs": 3, "show_progress": False})
    return config


@pytest.fixture
def trained(sample_collection, sample_dir):
    pipeline = SearchPipeline(sample_collection)
    data = read_beir(sample_dir, "train")
    result = train_ranker(pipeline, data, tiny_config(), show_progress=False)
    store_ranker(sample_collection, result.ranker)
    return pipeline, result


def featurized(collection, query: str, depth: int):
    """(candidates, their documents, feature matrix) of `query` with every feature group."""
    cands = SearchPipeline(collection).candidates([query], mode="learned", depth=depth)[0]
    docs = collection.documents(cands.rows)
    documents = [docs[int(r)] for r in cands.rows]
    extractor = FeatureExtractor(collection.bm25, RankerFeatures(), collection.documents)
    return cands, documents, extractor(cands, collection.vectors.vectors_for(cands.rows))


def test_features_match_a_loop_over_terms(sample_collection):
    query = "daily weather station temperature records"
    cands, documents, features = featurized(sample_collection, query, 10)
    names = feature_names(RankerFeatures())
    assert features.shape == (len(cands), len(names))
    col = {name: features[:, i] for i, name in enumerate(names)}
    analyzer, bm25 = sample_collection.bm25.analyzer, sample_collection.bm25
    query_terms = sorted(set(analyzer(query)))
    n = bm25.num_docs
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t in query_terms
           for df in [sum(t in analyzer(d.content) for d in sample_collection.documents(
               [sample_collection.row_of(i) for i in sample_collection.doc_ids()]).values())]}
    for i, doc in enumerate(documents):
        body = set(analyzer(doc.content))
        matched = [t for t in query_terms if t in body]
        assert col["coverage"][i] == pytest.approx(len(matched) / len(query_terms))
        assert col["idf_coverage"][i] == pytest.approx(
            sum(idf[t] for t in matched) / sum(idf.values()), rel=1e-5)
        title = set(analyzer(doc.title))
        assert col["title_coverage"][i] == pytest.approx(
            sum(idf[t] for t in query_terms if t in title) / sum(idf.values()), rel=1e-5)
        rank = cands.ranks["bm25"][i]
        assert col["bm25_rrank"][i] == pytest.approx(1 / rank if rank else 0.0)
        quality = doc.metadata.get("quality")
        assert col["quality"][i] == pytest.approx(quality if quality is not None else 0.0)
        assert col["quality_missing"][i] == float(quality is None)


def test_exact_title_and_category_features(sample_collection):
    query = "global surface temperature records climate"
    cands, documents, features = featurized(sample_collection, query, 40)
    names = feature_names(RankerFeatures())
    exact = features[:, names.index("title_exact")]
    category = features[:, names.index("category_match")]
    ids = sample_collection.ids_of(cands.rows)
    assert exact[ids.index("ds01")] == 1.0 and exact.sum() == 1.0
    assert all(category[i] == float(d.metadata.get("category") == "climate")
               for i, d in enumerate(documents))


def test_feedback_features_follow_rocchio_and_rm3(sample_collection):
    """Pseudo-relevance feedback features against a loop over analysed documents."""
    from collections import Counter

    collection, query = sample_collection, "daily weather station temperature records"
    cands = SearchPipeline(collection).candidates([query], mode="learned", depth=10)[0]
    vectors = collection.vectors.vectors_for(cands.rows).astype(np.float64)
    config = RankerFeatures(groups=["feedback"])
    got = FeatureExtractor(collection.bm25, config, collection.documents)(cands, vectors)
    assert feature_names(config) == ["feedback_dense", "feedback_bm25", "feedback_fused"]

    def minmax(x):
        return (x - x.min()) / (x.max() - x.min()) if x.max() > x.min() else 0 * x

    fused = 0.5 * minmax(cands.scores["bm25"]) + 0.5 * minmax(cands.scores["dense"])
    top = sorted(range(len(cands)), key=lambda i: (-fused[i], cands.rows[i]))[:5]
    moved = cands.query_vector + vectors[top[:3]].mean(axis=0)
    dense = vectors @ (moved / np.linalg.norm(moved))
    np.testing.assert_allclose(got[:, 0], dense, rtol=1e-5)

    bm25, analyzer = collection.bm25, collection.bm25.analyzer
    everything = collection.documents([collection.row_of(i) for i in collection.doc_ids()])
    tokens = {row: analyzer(doc.content) for row, doc in everything.items()}
    relevance: Counter = Counter()
    for i in top:
        counts = Counter(tokens[int(cands.rows[i])])
        for term, count in counts.items():
            relevance[term] += fused[i] / sum(fused[top]) * count / sum(counts.values())
    chosen = sorted(relevance, key=lambda t: (-relevance[t], bm25.vocab[t]))[:20]
    n, mean_length = len(tokens), np.mean([len(t) for t in tokens.values()])

    def contribution(term, row):
        df = sum(term in t for t in tokens.values())
        tf = tokens[row].count(term)
        norm = 1 - bm25.config.b + bm25.config.b * len(tokens[row]) / mean_length
        return math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf / (tf + bm25.config.k1 * norm)

    total = sum(relevance[t] for t in chosen)
    expansion = np.array([sum(relevance[t] / total * contribution(t, int(row)) for t in chosen)
                          for row in cands.rows])
    query_terms = [t for t in analyzer(query) if t in bm25.vocab]
    expanded = 0.5 * cands.scores["bm25"] / len(query_terms) + 0.5 * expansion
    np.testing.assert_allclose(got[:, 1], expanded, rtol=1e-4)
    np.testing.assert_allclose(got[:, 2], 0.5 * minmax(expanded) + 0.5 * minmax(dense),
                               rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="vectors"):
        FeatureExtractor(collection.bm25, config, collection.documents)(cands)


def test_features_of_a_query_with_no_indexed_term_are_finite(sample_collection):
    cands, _, features = featurized(sample_collection, "qqqxz wobblefrob", 10)
    names = feature_names(RankerFeatures())
    assert features.shape == (len(cands), len(names)) and len(cands) > 0
    assert np.isfinite(features).all()
    assert not features[:, names.index("coverage")].any()
    assert features[:, names.index("feedback_dense")].std() > 0  # the dense side still feeds back


def test_feature_groups_can_be_left_out():
    full = feature_names(RankerFeatures())
    scores = feature_names(RankerFeatures(groups=["scores"]))
    assert set(scores) < set(full) and all(n.startswith(("bm25", "dense", "fused"))
                                           for n in scores)
    assert "price" in feature_names(RankerFeatures(numeric_fields=["price"]))


def test_learned_mode_searches_with_the_stored_ranker(trained):
    pipeline, result = trained
    hits = pipeline.search("weather observations for climate research", k=5, mode="learned")
    assert len(hits) == 5
    assert {"bm25", "dense", "ranker", "learned"} <= set(hits[0].scores)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score == hits[0].scores["learned"]
    assert "learned" in pipeline.modes()
    report = result.ranker.report
    assert report["train_queries"] + len(report["validation_query_ids"]) == 10


def test_learned_mode_without_a_ranker_says_how_to_get_one(sample_collection):
    pipeline = SearchPipeline(sample_collection)
    assert "learned" not in pipeline.modes()
    with pytest.raises(NeurankError, match="ranker train"):
        pipeline.search("weather", mode="learned")


def test_ranker_reloads_to_the_same_scores(trained, sample_collection):
    from neurank.index import Collection

    pipeline, _ = trained
    before = pipeline.search("hospital patient records", k=10, mode="learned")
    reloaded = SearchPipeline(Collection.load(sample_collection.folder))
    after = reloaded.search("hospital patient records", k=10, mode="learned")
    assert [(h.id, round(h.score, 6)) for h in before] == [(h.id, round(h.score, 6))
                                                           for h in after]


def test_tampered_ranker_is_refused(trained, sample_collection):
    from neurank.index import Collection

    folder = sample_collection.ranker_folder
    weights = folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises((CheckpointError, CollectionError)):
        LearnedRanker.load(folder)
    (folder / "manifest.json").write_text((folder / "manifest.json").read_text() + " ")
    with pytest.raises(CollectionError, match="modified"):
        Collection.load(sample_collection.folder).ranker_folder  # noqa: B018


def test_a_new_ranker_replaces_the_old_folder(trained, sample_collection):
    _, result = trained
    old = sample_collection.ranker_folder
    store_ranker(sample_collection, result.ranker)
    assert sample_collection.ranker_folder != old and not old.exists()
    manifest = json.loads((sample_collection.folder / "manifest.json").read_text())
    assert manifest["ranker"]["folder"] == sample_collection.ranker_folder.name


def test_lambdamart_trains_and_serves(sample_collection, sample_dir):
    pipeline = SearchPipeline(sample_collection)
    data = read_beir(sample_dir, "train")
    config = tiny_config(kind="lambdamart", bags=1)
    result = train_ranker(pipeline, data, config, show_progress=False)
    store_ranker(sample_collection, result.ranker)
    report, _ = evaluate_collection(pipeline, read_beir(sample_dir, "test"), mode="learned")
    assert report["mode"] == "learned" and 0.0 <= report["metrics"]["ndcg@10"] <= 1.0
    assert len(collection_ranker(sample_collection).boosters) == 1
    assert result.ranker.report["train_queries"] == 9  # one of the 10 carved out


def test_bagged_lambdamart_never_validates_a_booster_on_its_own_training_queries(
        sample_collection, sample_dir, monkeypatch):
    pipeline = SearchPipeline(sample_collection)
    data = read_beir(sample_dir, "train")
    calls = []
    original = ranker_training._train_lambdamart

    def recording(config, encoder, train, validation):
        calls.append(({x.query_id for x in train}, {x.query_id for x in validation}))
        return original(config, encoder, train, validation)

    monkeypatch.setattr(ranker_training, "_train_lambdamart", recording)
    ranker = train_ranker(pipeline, data, tiny_config(kind="lambdamart", bags=3),
                          show_progress=False).ranker
    report = ranker.report
    query_ids, held_out_by = report["validation_query_ids"], report["validation_held_out_by"]
    assert len(ranker.boosters) == len(calls) == 3 and len(query_ids) == 10
    for bag, (trained_on, stopped_on) in enumerate(calls):
        assert stopped_on == {q for q, b in zip(query_ids, held_out_by, strict=True) if b == bag}
        assert trained_on == set(query_ids) - stopped_on

    lists = ranking_lists(pipeline, ranker.config, data, query_ids)
    out_of_fold = ranker.raw_scores(lists, held_out_by)
    mean = ranker.raw_scores(lists)
    for lst, bag, oof, averaged in zip(lists, held_out_by, out_of_fold, mean, strict=True):
        np.testing.assert_allclose(oof, ranker.boosters[bag].predict(lst.features))
        np.testing.assert_allclose(averaged, np.mean([b.predict(lst.features)
                                                      for b in ranker.boosters], axis=0))
    store_ranker(sample_collection, ranker)
    reloaded = LearnedRanker.load(sample_collection.ranker_folder)
    for before, after in zip(mean, reloaded.raw_scores(lists), strict=True):
        np.testing.assert_allclose(before, after)
    _, tuned_on, _, _ = tune_threshold(pipeline, data)
    assert tuned_on == query_ids  # every training query, each scored out-of-fold


def test_a_booster_missing_from_the_manifest_is_never_read(sample_collection, sample_dir):
    pipeline = SearchPipeline(sample_collection)
    data = read_beir(sample_dir, "train")
    ranker = train_ranker(pipeline, data, tiny_config(kind="lambdamart", bags=2),
                          show_progress=False).ranker
    folder = ranker.save(sample_collection.folder / "bagged")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"].pop("lambdamart.1.txt")
    manifest.pop("manifest_sha256")
    write_manifest(folder, manifest)
    with pytest.raises(CheckpointError, match=r"does not list lambdamart\.1\.txt"):
        LearnedRanker.load(folder)


def test_threshold_drops_low_scores_and_can_empty_a_search(trained, sample_dir):
    pipeline, _ = trained
    data = read_beir(sample_dir, "test")
    ranker, query_ids, with_threshold, without = tune_threshold(pipeline, data, "f1@3")
    assert len(query_ids) == len(data.qrels) and with_threshold >= without
    ranker.threshold = 1e9  # above every score: nothing is relevant enough
    store_ranker(pipeline.collection, ranker)
    assert pipeline.search("weather", k=5, mode="learned") == []
    ranker.threshold = None
    store_ranker(pipeline.collection, ranker)
    assert len(pipeline.search("weather", k=5, mode="learned")) == 5


def test_training_lists_hold_missed_positives_and_random_negatives(sample_collection, sample_dir):
    pipeline = SearchPipeline(sample_collection)
    data = read_beir(sample_dir, "train")
    qid = next(iter(data.qrels))
    config = RankerConfig(depth=2)
    plain = ranking_lists(pipeline, config, data, [qid])[0]
    pooled = ranking_lists(pipeline, config, data, [qid], pool_random=5)[0]
    assert plain.listed.all() and len(plain) <= 4
    positives = {d for d, g in data.qrels[qid].items() if g > 0}
    assert positives <= set(pooled.ids)
    assert (~pooled.listed).sum() >= 1
    assert all((label > 0) == (doc in positives)
               for doc, label in zip(pooled.ids, pooled.labels, strict=True))


def test_cross_validation_never_scores_a_query_with_a_ranker_trained_on_it(
        sample_collection, sample_dir, monkeypatch):
    import neurank.search.ranker_training as training

    seen: list[list[str]] = []
    real = training.train_ranker

    def recording(pipeline, dataset, config, *, query_ids=None, **kwargs):
        seen.append(list(query_ids))
        return real(pipeline, dataset, config, query_ids=query_ids, **kwargs)

    monkeypatch.setattr(training, "train_ranker", recording)
    data = read_beir(sample_dir, "train")
    run, folds = cross_validate(SearchPipeline(sample_collection), data,
                                tiny_config(kind="lambdamart"), 2, show_progress=False)
    judged = {q for q, j in data.qrels.items() if any(g > 0 for g in j.values())}
    assert set(run) == judged and len(folds) == len(seen) == 2
    scored = [judged - set(ids) for ids in seen]
    assert scored[0] | scored[1] == judged and not scored[0] & scored[1]


def test_encoder_mismatch_is_refused(trained, tmp_path, sample_documents):
    from neurank.config import CollectionConfig
    from neurank.index import Collection

    _, result = trained

    class Wider:
        name, dim, backend = "other-model", 48, "test"

        def encode(self, texts, *, batch_size=None, show_progress=False):
            return np.ones((len(texts), 48), dtype=np.float32) / np.sqrt(48)

        def encode_queries(self, queries):
            return self.encode(queries)

    other = Collection.build(tmp_path / "other", sample_documents[:5],
                             CollectionConfig(model="other-model"), encoder=Wider(),
                             show_progress=False)
    with pytest.raises(CollectionError, match="train a ranker on this collection"):
        result.ranker.check_compatible(other)


@pytest.mark.parametrize("runtime", ["torch-int8", "onnx", "onnx-int8"])
def test_runtimes_score_like_torch_fp32_and_save_fp32_weights(trained, sample_dir, tmp_path,
                                                              runtime):
    pipeline, result = trained
    fp32 = result.ranker
    test = read_beir(sample_dir, "test")
    lists = ranking_lists(pipeline, fp32.config, test, list(test.qrels))
    other = LearnedRanker(fp32.config.model_copy(update={"runtime": runtime}),
                          encoder=fp32.encoder, model=fp32.model)
    for a, b in zip(fp32.raw_scores(lists), other.raw_scores(lists), strict=True):
        if runtime == "onnx":
            np.testing.assert_allclose(a, b, atol=1e-4)
        else:
            assert np.corrcoef(a, b)[0, 1] > 0.98
    reloaded = LearnedRanker.load(other.save(tmp_path / runtime))
    assert reloaded.config.runtime == runtime
    np.testing.assert_allclose(np.concatenate(reloaded.raw_scores(lists)),
                               np.concatenate(other.raw_scores(lists)), rtol=1e-5, atol=1e-5)


def test_a_ranker_without_attention_runs_on_onnx(sample_collection, sample_dir):
    """Its graph does not read the candidate mask, so the ONNX export has no such input."""

    pipeline, data = SearchPipeline(sample_collection), read_beir(sample_dir, "train")
    trained = train_ranker(pipeline, data, tiny_config(attention=False, runtime="onnx"),
                           show_progress=False).ranker
    lists = ranking_lists(pipeline, trained.config, data, list(data.qrels))
    torch_ranker = LearnedRanker(trained.config.model_copy(update={"runtime": "torch"}),
                                 encoder=trained.encoder, model=trained.model)
    np.testing.assert_allclose(np.concatenate(trained.raw_scores(lists)),
                               np.concatenate(torch_ranker.raw_scores(lists)), atol=1e-4)


def test_features_read_each_document_once(sample_collection):
    reads: list[int] = []

    def fetch(rows):
        reads.extend(rows)
        return sample_collection.documents(rows)

    extractor = FeatureExtractor(sample_collection.bm25, RankerFeatures(groups=["title"]), fetch)
    cands = SearchPipeline(sample_collection).candidates(["weather", "weather records"],
                                                         mode="learned", depth=40)
    first = extractor(cands[0])
    extractor(cands[1])
    assert sorted(reads) == sorted(set(reads)) == sorted(set(cands[0].rows) | set(cands[1].rows))
    np.testing.assert_array_equal(extractor(cands[0]), first)  # from the cache, same values


def test_epoch_selection_breaks_saturated_ndcg_ties_by_validation_loss(sample_collection,
                                                                       sample_dir):
    from neurank.search.ranker_training import SELECTION, VALIDATION_METRIC

    config = tiny_config()
    config.trainer = config.trainer.model_copy(update={"epochs": 8, "patience": 8})
    result = train_ranker(SearchPipeline(sample_collection), read_beir(sample_dir, "train"),
                          config, show_progress=False)
    history = result.history
    best = max(range(len(history)), key=lambda i: history[i][SELECTION])
    top = max(h[VALIDATION_METRIC] for h in history)
    tied = [h["validation_loss"] for h in history if h[VALIDATION_METRIC] == top]
    assert history[best][VALIDATION_METRIC] == top
    assert history[best]["validation_loss"] == min(tied)
    assert result.best_epoch == best + 1  # the weights kept are that epoch's


def test_interrupted_training_resumes_where_it_stopped(sample_collection, sample_dir, tmp_path):
    config = tiny_config()
    config.trainer = config.trainer.model_copy(update={"epochs": 3, "patience": None,
                                                       "max_time_s": 1e-6})
    pipeline, data = SearchPipeline(sample_collection), read_beir(sample_dir, "train")
    first = train_ranker(pipeline, data, config, checkpoint_dir=tmp_path / "state",
                         show_progress=False)
    assert len(first.history) == 1  # stopped by the time limit after one epoch
    config.trainer = config.trainer.model_copy(update={"max_time_s": None})
    resumed = train_ranker(pipeline, data, config, checkpoint_dir=tmp_path / "state",
                           resume=True, show_progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.history[0] == first.history[0]  # restored from the checkpoint, not re-run
