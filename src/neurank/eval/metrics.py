"""Ranking metrics in numpy, following trec_eval's conventions.

- A run is ordered by score descending; ties are broken by document id descending, as trec_eval
  does, so the figures equal pytrec_eval's on the same run.
- Gains are the graded relevance values (linear, not 2^rel - 1); grades <= 0 are not relevant.
- The ideal DCG is computed from every judged document of the query, retrieved or not.
- Unjudged documents count as not relevant.
- Aggregates are means over the queries of the qrels; a judged query missing from the run
  scores 0 (trec_eval -c).
- f1@k is the F1 of the returned set: its precision is over the hits returned (at most k), not
  over k as trec_eval's P@k, so a search that abstains (a score threshold) is not charged for
  the hits it withheld. Equal to the harmonic mean of P@k and recall@k when k hits are returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

METRIC_NAMES = ("ndcg", "recall", "precision", "map", "mrr", "hit_rate", "f1")


def parse_metric(name: str) -> tuple[str, int]:
    """'ndcg@10' -> ('ndcg', 10)."""
    base, sep, cut = name.lower().partition("@")
    if base not in METRIC_NAMES or not sep or not cut.isdigit() or int(cut) < 1:
        raise ValueError(f"unknown metric {name!r}: use one of {METRIC_NAMES} with @k, e.g. ndcg@10")
    return base, int(cut)


def _ranked_grades(scores: Mapping[str, float], judged: Mapping[str, int]) -> np.ndarray:
    """Relevance grades of the run's documents in trec_eval order."""
    ordered = sorted(scores.items(), key=lambda item: item[0], reverse=True)
    ordered.sort(key=lambda item: item[1], reverse=True)  # stable: id-descending within ties
    return np.array([judged.get(docid, 0) for docid, _ in ordered], dtype=np.float64)


def rank_discounts(ranks: np.ndarray) -> np.ndarray:
    """DCG's discount 1 / log2(rank + 2) of 0-based ranks."""
    return 1.0 / np.log2(np.asarray(ranks) + 2.0)


def discounts(n: int) -> np.ndarray:
    """DCG's discounts of the first `n` positions."""
    return rank_discounts(np.arange(n))


def _ndcg(grades: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    gains = np.clip(grades[:k], 0.0, None)
    ideal_gains = ideal[:k]
    idcg = float(ideal_gains @ discounts(len(ideal_gains)))
    return float(gains @ discounts(len(gains))) / idcg if idcg > 0 else 0.0


def _recall(grades: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    return float((grades[:k] > 0).sum()) / n_rel if n_rel else 0.0


def _precision(grades: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    return float((grades[:k] > 0).sum()) / k


def _map(grades: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    if not n_rel:
        return 0.0
    hits = grades[:k] > 0
    precision_at_hits = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1.0)
    return float(precision_at_hits.sum()) / n_rel


def _mrr(grades: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    hits = np.flatnonzero(grades[:k] > 0)
    return 1.0 / (hits[0] + 1.0) if len(hits) else 0.0


def _hit_rate(grades: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    return float(bool((grades[:k] > 0).any()))


def _f1(grades: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    returned = min(k, len(grades))
    p = float((grades[:k] > 0).sum()) / returned if returned else 0.0
    r = _recall(grades, ideal, k, n_rel)
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, int, int], float]] = {
    "ndcg": _ndcg,
    "recall": _recall,
    "precision": _precision,
    "map": _map,
    "mrr": _mrr,
    "hit_rate": _hit_rate,
    "f1": _f1,
}


def evaluate_query(
    scores: Mapping[str, float], judged: Mapping[str, int], metrics: Iterable[str]
) -> dict[str, float]:
    """Every metric for one query."""
    grades = _ranked_grades(scores, judged)
    ideal = np.sort(np.clip(np.fromiter(judged.values(), dtype=np.float64), 0.0, None))[::-1]
    n_rel = int((ideal > 0).sum())
    out: dict[str, float] = {}
    for name in metrics:
        base, k = parse_metric(name)
        out[name] = _METRICS[base](grades, ideal, k, n_rel)
    return out


def evaluate_run(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Iterable[str],
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean over qrels queries, per-query values) for each metric name like 'ndcg@10'."""
    metrics = list(metrics)
    for name in metrics:
        parse_metric(name)
    per_query = {qid: evaluate_query(run.get(qid, {}), judged, metrics)
                 for qid, judged in qrels.items()}
    aggregate = {
        name: (math.fsum(values[name] for values in per_query.values()) / len(per_query)
               if per_query else 0.0)
        for name in metrics
    }
    return aggregate, per_query
