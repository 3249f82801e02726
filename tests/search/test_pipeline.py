import itertools

import numpy as np
import pytest

from neurank.config import BoostConfig, FusionConfig
from neurank.data import read_beir
from neurank.errors import NeurankError
from neurank.search import SearchPipeline
from neurank.search.evaluation import evaluate_collection
from neurank.search.tune import default_grid, tune_fusion


def test_each_mode_reports_its_signals(sample_collection):
    pipeline = SearchPipeline(sample_collection)
    bm25 = pipeline.search("daily weather station temperature", k=3, mode="bm25")
    assert bm25[0].id == "ds02" and set(bm25[0].scores) == {"bm25"}
    assert [h.rank for h in bm25] == [1, 2, 3]
    assert all(a.score >= b.score for a, b in itertools.pairwise(bm25))
    dense = pipeline.search("daily weather station temperature", k=3, mode="dense")
    assert set(dense[0].scores) == {"dense"}  # dense mode runs no BM25 pass
    hybrid = pipeline.search("daily weather station temperature", k=5, mode="hybrid")
    assert set(hybrid[0].scores) == {"bm25", "dense", "fused"}
    assert hybrid[0].score == hybrid[0].scores["fused"]
    assert hybrid[0].title and hybrid[0].metadata["category"]


def test_bm25_returns_only_matching_documents(sample_collection):
    hits = SearchPipeline(sample_collection).search("bitcoin", k=10, mode="bm25")
    assert [h.id for h in hits] == ["ds18"]


def test_filters_apply_in_every_mode(sample_collection):
    pipeline = SearchPipeline(sample_collection)
    for mode in ("bm25", "dense", "hybrid"):
        hits = pipeline.search("patient records", k=40, mode=mode, filters={"category": "health"})
        assert hits and {h.metadata["category"] for h in hits} == {"health"}, mode
    hits = pipeline.search("prices", k=40, mode="hybrid",
                           filters={"category": ["finance", "retail"], "quality": {"gte": 0.8}})
    assert hits and all(h.metadata["quality"] >= 0.8 for h in hits)
    assert {h.metadata["category"] for h in hits} <= {"finance", "retail"}
    with pytest.raises(NeurankError, match="unknown operator"):
        pipeline.search("x", filters={"quality": {"above": 1}})


def test_boosts_reorder_hybrid_results(sample_collection):
    query = "records"
    plain = SearchPipeline(sample_collection).search(query, k=40, mode="hybrid")
    boosted = SearchPipeline(sample_collection, boosts=BoostConfig(quality=3.0)).search(
        query, k=40, mode="hybrid")
    assert [h.id for h in plain] != [h.id for h in boosted]
    top = boosted[0]
    assert top.metadata["quality"] > 0.85


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 0}, "k must be"), ({"mode": "fuzzy"}, "unknown mode"), ({"k": 10**6}, "k must be")])
def test_bad_requests_are_refused(sample_collection, kwargs, message):
    with pytest.raises(NeurankError, match=message):
        SearchPipeline(sample_collection).search("weather", **kwargs)
    with pytest.raises(NeurankError, match="empty"):
        SearchPipeline(sample_collection).search("   ")


def test_evaluation_report_is_tagged(sample_collection, sample_dir):
    data = read_beir(sample_dir, "test")
    report, run = evaluate_collection(SearchPipeline(sample_collection), data, mode="bm25")
    assert (report["dataset"], report["split"], report["mode"]) == ("datasets", "test", "bm25")
    assert set(report["metrics"]) >= {"ndcg@10", "recall@100", "mrr@10", "map@100"}
    assert set(report["per_query"]) == set(data.qrels)
    assert 0.3 < report["metrics"]["ndcg@10"] <= 1.0
    assert all(len(docs) <= 100 for docs in run.values())


def test_tune_picks_the_best_setting_of_its_grid(sample_collection, sample_dir):
    pipeline = SearchPipeline(sample_collection)
    data = read_beir(sample_dir, "train")
    grid = [FusionConfig(dense_weight=w) for w in (0.0, 0.5, 1.0)]
    result = tune_fusion(pipeline, data, grid=grid, show_progress=False)
    scores = []
    for config in grid:
        report, _ = evaluate_collection(SearchPipeline(sample_collection, fusion=config), data,
                                        mode="hybrid", metrics=("ndcg@10",))
        scores.append(report["metrics"]["ndcg@10"])
    assert result.score == pytest.approx(max(scores))
    assert result.best == grid[int(np.argmax(scores))]
    assert len(default_grid(FusionConfig())) == 78


def test_tuned_score_is_what_evaluate_reports_with_boosts_on(sample_collection, sample_dir):
    boosts = BoostConfig(quality=1.6, category_match=1.3)
    pipeline = SearchPipeline(sample_collection, boosts=boosts)
    data = read_beir(sample_dir, "train")
    grid = [FusionConfig(dense_weight=w) for w in (0.2, 0.7)] + [
        FusionConfig(method="rrf", rrf_k=10, dense_weight=0.3)]
    result = tune_fusion(pipeline, data, grid=grid, show_progress=False)
    for config, score in result.trials:
        report, _ = evaluate_collection(SearchPipeline(sample_collection, fusion=config,
                                                       boosts=boosts),
                                        data, mode="hybrid", metrics=("ndcg@10",))
        assert report["metrics"]["ndcg@10"] == pytest.approx(score, abs=1e-12), config
    unboosted = tune_fusion(SearchPipeline(sample_collection), data, grid=grid,
                            show_progress=False)
    assert [s for _, s in unboosted.trials] != [s for _, s in result.trials]


def test_boosts_apply_in_single_retriever_modes(sample_collection):
    plain = SearchPipeline(sample_collection).search("records data", k=10, mode="bm25")
    boosted = SearchPipeline(sample_collection, boosts=BoostConfig(quality=5.0)).search(
        "records data", k=10, mode="bm25")
    assert "boost" in boosted[0].scores and boosted[0].metadata["quality"] > 0.85
    assert [h.id for h in plain] != [h.id for h in boosted]


def test_min_score_drops_hits_below_it(sample_collection):
    hits = SearchPipeline(sample_collection).search("weather station", k=20, mode="bm25")
    cut = (hits[0].score + hits[-1].score) / 2
    kept = SearchPipeline(sample_collection, min_score=cut).search("weather station", k=20,
                                                                   mode="bm25")
    assert [h.id for h in kept] == [h.id for h in hits if h.score >= cut]
    assert len(kept) < len(hits)


def test_filters_match_inside_list_fields(tmp_path, tiny_encoder, tiny_model_dir):
    from neurank.config import CollectionConfig
    from neurank.data import Document
    from neurank.index import Collection

    docs = [Document(id="a", title="river flow", text="", metadata={"tags": ["water", "flow"]}),
            Document(id="b", title="river map", text="", metadata={"tags": ["maps"], "year": 2020}),
            Document(id="c", title="river", text="", metadata={"tags": "water", "year": "new"})]
    coll = Collection.build(tmp_path / "c", docs, CollectionConfig(model=str(tiny_model_dir)),
                            encoder=tiny_encoder, show_progress=False)
    pipeline = SearchPipeline(coll)
    ids = lambda f: sorted(h.id for h in pipeline.search("river", k=5, mode="bm25", filters=f))  # noqa: E731
    assert ids({"tags": "water"}) == ["a", "c"]
    assert ids({"tags": ["maps", "flow"]}) == ["a", "b"]
    assert ids({"year": {"gte": 2000}}) == ["b"]  # the string "new" is not in a numeric range
    with pytest.raises(NeurankError, match=r"'tags'.*NaN"):
        pipeline.search("river", filters={"tags": float("nan")})
    assert ids({"tags": "nothing like it"}) == []  # a known field: no hits is an answer
    for mode in ("bm25", "dense", "hybrid"):  # a misspelt one is an error naming it
        with pytest.raises(NeurankError, match=r"no document has a metadata field 'tgas' "
                                               r"\(fields: tags, year\)"):
            pipeline.search("river", mode=mode, filters={"tgas": "water"})
