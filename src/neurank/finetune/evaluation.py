"""The evaluators of the baseline gate: scored pairs (Spearman, ROC-AUC, F1 at the best
threshold) and retrieval (NDCG@10, Recall@100 over a corpus)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata, spearmanr

from neurank.eval.metrics import evaluate_run
from neurank.finetune.data import PairSet

Embed = Callable[[list[str]], np.ndarray]


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)


def pair_similarities(embed: Embed, pairs: PairSet) -> np.ndarray:
    return np.sum(_normalised(embed(pairs.first)) * _normalised(embed(pairs.second)), axis=1)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def best_f1(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(F1, threshold) at the similarity threshold that maximises F1 (predict >= threshold)."""
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(labels[order])
    predicted = np.arange(1, len(order) + 1)
    # only cut between distinct scores: a threshold cannot split tied pairs
    last_of_tie = np.r_[scores[order][1:] != scores[order][:-1], True]
    f1 = np.where(last_of_tie, 2 * hits / (predicted + labels.sum()), -1.0)
    best = int(np.argmax(f1))
    return float(f1[best]), float(scores[order][best])


def pair_metrics(embed: Embed, pairs: PairSet) -> dict[str, float]:
    """Spearman of cosine vs score; ROC-AUC and best-threshold F1 with pairs above the score
    scale's midpoint as positives."""
    if pairs.scores is None:
        raise ValueError("pair metrics need scored pairs (a score column)")
    similarity = pair_similarities(embed, pairs)
    scores = np.asarray(pairs.scores)
    labels = scores > pairs.scale_midpoint()
    f1, threshold = best_f1(labels, similarity)
    return {"spearman": float(spearmanr(similarity, scores).statistic),
            "roc_auc": roc_auc(labels, similarity), "f1": f1, "f1_threshold": threshold}


def retrieval_metrics(embed: Embed, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                      corpus: dict[str, str], *, depth: int = 100) -> dict[str, float]:
    """NDCG@10 and Recall@100 of exact cosine retrieval over `corpus` (id -> text)."""
    ids = list(corpus)
    documents = _normalised(embed([corpus[i] for i in ids]))
    query_ids = [q for q in queries if q in qrels]
    vectors = _normalised(embed([queries[q] for q in query_ids]))
    run = {}
    for qid, row in zip(query_ids, vectors @ documents.T, strict=True):
        top = np.argsort(-row)[:depth]
        run[qid] = {ids[i]: float(row[i]) for i in top}
    means, _ = evaluate_run(run, {q: qrels[q] for q in query_ids}, ["ndcg@10", "recall@100"])
    return means
