"""Recommendation evaluation protocols (pure numpy): sampled (NCF/DeepCF) and full ranking.

Sampled: the held-out item is ranked among its negatives; HR@k = rank < k, NDCG@k =
log(2) / log(rank + 2), as in the NCF/DeepCF `evaluate.py`. A negative equal to the positive
counts once (it is dropped). Exact score ties are resolved by `tiebreak` first (neurank passes
item popularity, so its figures do not depend on the tie rule), then by the tie rule: "random"
(uniform position among the tied items, fixed seed) or "pessimistic" (below all of them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from neurank.data.interactions import HeldOut
from neurank.eval.metrics import discounts, rank_discounts

TieRule = Literal["random", "pessimistic"]
TIE_RULES: tuple[str, ...] = ("random", "pessimistic")
CUTOFFS = (5, 10, 20)
ScorePairs = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(user indices (n,), item indices (n, m)) -> scores (n, m)"""


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
    """0-based rank of each positive among its negatives; the popularity tie-break applies
    when both `positive_tiebreak` and `negative_tiebreak` are given."""
    if ties not in TIE_RULES:
        raise ValueError(f"unknown tie rule {ties!r}; expected one of {TIE_RULES}")
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
    ndcg = np.where(hit, rank_discounts(ranks), 0.0)
    return {f"hr@{k}": float(hit.mean()) if len(ranks) else 0.0,
            f"ndcg@{k}": float(ndcg.mean()) if len(ranks) else 0.0}


def full_ranking_metrics(top_items: np.ndarray, relevant: list[np.ndarray], k: int
                         ) -> dict[str, float]:
    """Recall@k and NDCG@k (binary gains) of top lists against each user's relevant items.

    `top_items` is (users, >=k) ranked item indices with seen items already excluded.
    """
    position_discounts = discounts(k)
    recalls, ndcgs = [], []
    for top, rel in zip(top_items, relevant, strict=True):
        if len(rel) == 0:
            continue
        hits = np.isin(top[:k], rel)
        recalls.append(hits.sum() / len(rel))
        ideal = position_discounts[: min(len(rel), k)].sum()
        ndcgs.append(float(hits @ position_discounts[: len(hits)]) / ideal)
    n = max(len(recalls), 1)
    return {f"recall@{k}": float(np.sum(recalls)) / n, f"ndcg@{k}": float(np.sum(ndcgs)) / n}


def sampled_candidates(held: HeldOut) -> np.ndarray:
    """(n, 1 + negatives) item indices: the held-out item first, then its negatives."""
    if held.negatives is None:
        raise ValueError("the sampled protocol needs negatives for every held-out item")
    return np.concatenate([held.items[:, None], held.negatives], axis=1)


def sampled_metrics_from_scores(scores: np.ndarray, candidates: np.ndarray,
                                popularity: np.ndarray, *, ties: TieRule = "random",
                                seed: int = 0, cutoffs: tuple[int, ...] = CUTOFFS
                                ) -> dict[str, float]:
    """HR@k / NDCG@k when `scores[:, 0]` is each held-out item's score among its negatives.

    Exact score ties go to the more popular item first (`popularity`, indexed by item), then
    `ties`; a negative equal to the held-out item counts once.
    """
    tiebreak = np.asarray(popularity, dtype=np.float64)[candidates]
    ranks = sampled_ranks(scores[:, 0], scores[:, 1:],
                          negative_is_positive=candidates[:, 1:] == candidates[:, :1],
                          positive_tiebreak=tiebreak[:, 0], negative_tiebreak=tiebreak[:, 1:],
                          ties=ties, seed=seed)
    metrics: dict[str, float] = {}
    for k in cutoffs:
        metrics.update(hit_rate_ndcg(ranks, k))
    return metrics


def sampled_metrics(score_pairs: ScorePairs, held: HeldOut, popularity: np.ndarray, *,
                    ties: TieRule = "random", seed: int = 0,
                    cutoffs: tuple[int, ...] = CUTOFFS) -> dict[str, float]:
    """The sampled protocol for any scorer: neurank models, NCF validation and peers alike."""
    candidates = sampled_candidates(held)
    scores = np.asarray(score_pairs(held.users, candidates), dtype=np.float64)
    return sampled_metrics_from_scores(scores, candidates, popularity, ties=ties, seed=seed,
                                       cutoffs=cutoffs)
