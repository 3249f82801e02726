"""`tune --cv K`: each query is scored by settings chosen without it, checked against a plain
loop, against the pipeline's own per-query figures, and through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurank.config import FusionConfig
from neurank.data.beir import read_beir
from neurank.search import SearchPipeline
from neurank.search.evaluation import evaluate_collection
from neurank.search.tune import TuneResult, cross_validate, tune_fusion


def _result(per_query: np.ndarray) -> TuneResult:
    grid = [FusionConfig(dense_weight=w) for w in np.linspace(0, 1, len(per_query))]
    return TuneResult(best=grid[0], score=0.0, metric="ndcg@10",
                      trials=[(g, float(r.mean())) for g, r in zip(grid, per_query, strict=True)],
                      per_query=per_query, query_ids=[f"q{i}" for i in range(per_query.shape[1])])


def test_cross_validation_matches_a_loop_reference():
    per_query = np.random.default_rng(3).random((6, 23))
    result = _result(per_query)
    got = cross_validate(result, folds=4, seed=7)
    fold_of = np.empty(23, dtype=int)
    fold_of[np.random.default_rng(7).permutation(23)] = np.arange(23) % 4
    held = []
    for fold in range(4):
        train = [q for q in range(23) if fold_of[q] != fold]
        best = max(range(6), key=lambda c: (sum(per_query[c, q] for q in train), -c))
        held += [per_query[best, q] for q in range(23) if fold_of[q] == fold]
    assert got.score == pytest.approx(np.mean(held))
    assert len(got.fold_scores) == 4 and len(got.fold_choices) == 4


def test_cross_validation_exposes_settings_that_only_fit_their_own_queries():
    # setting i is perfect on query i only: in-sample the best scores 1/4, unseen it scores 0
    result = _result(np.eye(4))
    assert max(s for _, s in result.trials) == 0.25
    assert cross_validate(result, folds=4).score == 0.0
    with pytest.raises(ValueError, match="2 to 4 folds"):
        cross_validate(result, folds=5)


def test_per_query_figures_are_the_evaluation_of_each_setting(sample_collection, sample_dir):
    data = read_beir(sample_dir, "train")
    grid = [FusionConfig(dense_weight=w) for w in (0.1, 0.9)]
    result = tune_fusion(SearchPipeline(sample_collection), data, grid=grid,
                         show_progress=False)
    for row, config in enumerate(grid):
        report, _ = evaluate_collection(SearchPipeline(sample_collection, fusion=config), data,
                                        mode="hybrid", metrics=("ndcg@10",))
        per_query = [report["per_query"][q]["ndcg@10"] for q in result.query_ids]
        assert np.allclose(result.per_query[row], per_query)


def test_cli_records_the_cross_validated_score_and_evaluate_quotes_it(neurank, sample_dir,
                                                                      tiny_model_dir, tmp_path):
    coll = tmp_path / "coll"
    neurank("index", sample_dir, "--out", coll, "--model", tiny_model_dir)
    tuned = neurank("tune", coll, "--dataset", sample_dir, "--split", "test", "--cv", 3)
    assert "3-fold cross-validated ndcg@10" in tuned.stdout
    record = json.loads((coll / "manifest.json").read_text())["config"]["tuned_on"]
    assert record["cv_folds"] == 3 and 0.0 <= record["cv_score"] <= 1.0
    evaluated = neurank("evaluate", coll, "--dataset", sample_dir, "--split", "test",
                        "--mode", "hybrid")
    assert f"{record['cv_score']:.4f}" in evaluated.stderr
    refused = neurank("tune", coll, "--dataset", sample_dir, "--cv", 999, check=False)
    assert refused.returncode == 2 and "folds" in refused.stderr
