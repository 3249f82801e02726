"""Recommendation evaluation protocols (pure numpy): sampled (NCF/DeepCF) and full ranking.

Sampled: the held-out item is ranked among its negatives; HR@k = rank < k, NDCG@k =
log(2) / log(rank + 2), as in the NCF/DeepCF `evaluate.py`. A negative equal to the positive
counts once (it is dropped). Exact score ties are resolved by `tiebreak` first (neurank passes
item popularity, so its figures do not depend on the tie rule), then by the tie rule: "random"
(uniform position among the tied items, fixed seed) or "pessimistic" (below all of them).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

TieRule = Literal["random", "pessimistic"]


def sampled_ranks(
    positive_scores: np.ndarray,
    negative_scores: np.ndarray,
    *,
    negative_is_positive: np.ndarray | None = None,
    positive_tiebreak: np.ndarray | None = None,
    negative_tiebreak: np.ndarray | None = None,
    ties: TieRule = "random",
    seed: int = 0,
) -> np.ndarray:
    """0-based rank of each positive among its negatives."""
    pos = np.asarray(positive_scores, dtype=np.float64)[:, None]
    neg = np.asarray(negative_scores, dtype=np.float64)
    valid = np.ones(neg.shape, dtype=bool) if negative_is_positive is None else ~negative_is_positive
    above = (neg > pos) & valid
    tied = (neg == pos) & valid
    if positive_tiebreak is not None and negative_tiebreak is not None:
        pos_key = np.asarray(positive_tiebreak, dtype=np.float64)[:, None]
        neg_key = np.asarray(negative_tiebreak, dtype=np.float64)
        above |= tied & (neg_key > pos_key)
        tied &= neg_key == pos_key
    n_tied = tied.sum(axis=1)
    if ties == "pessimistic":
        offset = n_tied
    else:
        rng = np.random.default_rng(seed)
        offset = np.floor(rng.random(len(n_tied)) * (n_tied + 1)).astype(np.int64)
    return above.sum(axis=1) + offset


def hit_rate_ndcg(ranks: np.ndarray, k: int) -> dict[str, float]:
    """HR@k and NDCG@k from 0-based ranks of single held-out items."""
    ranks = np.asarray(ranks)
    hit = ranks < k
    ndcg = np.where(hit, np.log(2.0) / np.log(ranks + 2.0), 0.0)
    return {f"hr@{k}": float(hit.mean()) if len(ranks) else 0.0,
            f"ndcg@{k}": float(ndcg.mean()) if len(ranks) else 0.0}


def full_ranking_metrics(top_items: np.ndarray, relevant: list[np.ndarray], k: int
                         ) -> dict[str, float]:
    """Recall@k and NDCG@k (binary gains) of top lists against each user's relevant items.

    `top_items` is (users, >=k) ranked item indices with seen items already excluded.
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    recalls, ndcgs = [], []
    for top, rel in zip(top_items, relevant, strict=True):
        if len(rel) == 0:
            continue
        hits = np.isin(top[:k], rel)
        recalls.append(hits.sum() / len(rel))
        ideal = discounts[: min(len(rel), k)].sum()
        ndcgs.append(float(hits @ discounts[: len(hits)]) / ideal)
    n = max(len(recalls), 1)
    return {f"recall@{k}": float(np.sum(recalls)) / n, f"ndcg@{k}": float(np.sum(ndcgs)) / n}
