"""Metrics must equal trec_eval's (via pytrec_eval) on random runs with ties and unjudged docs."""

import numpy as np
import pytest
import pytrec_eval

from neurank.eval.metrics import evaluate_query, evaluate_run, parse_metric

K_VALUES = (1, 3, 5, 10, 20)


def random_case(seed: int):
    rng = np.random.default_rng(seed)
    docs = [f"d{i}" for i in range(40)]
    qrels, run = {}, {}
    for q in range(25):
        qid = f"q{q}"
        judged = rng.choice(docs, size=rng.integers(1, 12), replace=False)
        # graded, with explicit non-relevant (0) and negative (-1, as some TREC qrels have)
        # judgments: trec_eval counts a negative grade as no gain
        qrels[qid] = {d: int(rng.integers(-1, 4)) for d in judged}
        retrieved = rng.choice(docs, size=rng.integers(1, 35), replace=False)
        # few distinct values -> many ties
        run[qid] = {d: float(rng.integers(0, 5)) for d in retrieved}
    qrels["q-none"] = {"d0": 0, "d1": -1}  # judged, nothing relevant: every metric is 0
    run["q-none"] = {"d0": 2.0, "d1": 1.0, "d2": 0.5}
    return run, qrels


def reference(run, qrels, k):
    measures = {f"ndcg_cut.{k}", f"recall.{k}", f"P.{k}", f"map_cut.{k}", f"success.{k}"}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, measures)
    truncated = {}
    for qid, scores in run.items():
        order = sorted(scores.items(), key=lambda x: x[0], reverse=True)
        order.sort(key=lambda x: x[1], reverse=True)
        truncated[qid] = dict(order[:k])
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(truncated)
    out = evaluator.evaluate(run)
    for qid in out:
        out[qid]["recip_rank"] = rr[qid]["recip_rank"]
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", K_VALUES)
def test_metrics_equal_pytrec_eval(seed, k):
    run, qrels = random_case(seed)
    ref = reference(run, qrels, k)
    names = [f"ndcg@{k}", f"recall@{k}", f"precision@{k}", f"map@{k}", f"hit_rate@{k}",
             f"mrr@{k}", f"f1@{k}"]
    for qid, expected in ref.items():
        got = evaluate_query(run[qid], qrels[qid], names)
        assert got[f"ndcg@{k}"] == pytest.approx(expected[f"ndcg_cut_{k}"], abs=1e-4)
        assert got[f"recall@{k}"] == pytest.approx(expected[f"recall_{k}"], abs=1e-4)
        assert got[f"precision@{k}"] == pytest.approx(expected[f"P_{k}"], abs=1e-4)
        assert got[f"map@{k}"] == pytest.approx(expected[f"map_cut_{k}"], abs=1e-4)
        assert got[f"hit_rate@{k}"] == pytest.approx(expected[f"success_{k}"], abs=1e-4)
        assert got[f"mrr@{k}"] == pytest.approx(expected["recip_rank"], abs=1e-4)
        # F1 of the returned set: precision over the hits returned, at most k
        returned = min(k, len(run[qid]))
        p = expected[f"P_{k}"] * k / returned if returned else 0.0
        r = expected[f"recall_{k}"]
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        assert got[f"f1@{k}"] == pytest.approx(f1, abs=1e-4)


def test_an_empty_run_scores_zero_everywhere():
    names = ["ndcg@10", "recall@10", "precision@10", "map@10", "hit_rate@10", "mrr@10", "f1@10"]
    assert evaluate_query({}, {"a": 2, "b": 1}, names) == dict.fromkeys(names, 0.0)


def test_ties_follow_trec_eval_docid_descending():
    # equal scores: trec_eval ranks "b" before "a", so the relevant "a" sits at rank 2
    got = evaluate_query({"a": 1.0, "b": 1.0}, {"a": 1}, ["mrr@10", "ndcg@1"])
    assert got == {"mrr@10": 0.5, "ndcg@1": 0.0}


def test_aggregate_counts_judged_queries_missing_from_run_as_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    aggregate, per_query = evaluate_run({"q1": {"a": 3.0}}, qrels, ["ndcg@10"])
    assert per_query["q2"]["ndcg@10"] == 0.0
    assert aggregate["ndcg@10"] == pytest.approx(0.5)


def test_no_judged_queries_aggregate_to_zero():
    assert evaluate_run({"q1": {"a": 1.0}}, {}, ["ndcg@10", "recall@5"]) == (
        {"ndcg@10": 0.0, "recall@5": 0.0}, {})


def test_query_id_equal_to_doc_id_is_kept():
    # BEIR's evaluator drops such hits by default; classic collections would lose results
    _, per_query = evaluate_run({"7": {"7": 1.0}}, {"7": {"7": 1}}, ["ndcg@10"])
    assert per_query["7"]["ndcg@10"] == 1.0


@pytest.mark.parametrize("bad", ["ndcg", "ndcg@0", "foo@10", "ndcg@x"])
def test_unknown_metric_names_are_refused(bad):
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metric(bad)
