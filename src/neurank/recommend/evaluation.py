"""Run a recommender through the sampled (NCF/DeepCF) or full-ranking protocol."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurank.data.interactions import HeldOut
from neurank.eval.protocols import CUTOFFS, TieRule, full_ranking_metrics, sampled_metrics
from neurank.recommend.base import Recommender


def evaluate_sampled(model: Recommender, held: HeldOut, *, ties: TieRule = "random",
                     seed: int = 0, cutoffs: tuple[int, ...] = CUTOFFS) -> dict[str, float]:
    """HR@k / NDCG@k of each held-out item ranked among its negatives (ties by popularity,
    then `ties`)."""
    return sampled_metrics(model.score_pairs, held, model.popularity, ties=ties, seed=seed,
                           cutoffs=cutoffs)


def evaluate_full(model: Recommender, held: HeldOut, *,
                  cutoffs: tuple[int, ...] = CUTOFFS) -> dict[str, float]:
    """Recall@k / NDCG@k over all items the user has not interacted with in training."""
    users = np.unique(held.users)
    relevant = [held.items[held.users == u] for u in users]
    depth = max(cutoffs)
    tops = []
    for start in range(0, len(users), 256):
        chunk = users[start:start + 256]
        scores = model.score_users(chunk).astype(np.float64)
        tops.append(model.top_items(scores, chunk, depth, exclude_seen=True))
    top = np.concatenate(tops) if tops else np.zeros((0, depth), dtype=np.int64)
    metrics: dict[str, float] = {}
    for k in cutoffs:
        metrics.update(full_ranking_metrics(top, relevant, k))
    return metrics


def describe_protocol(protocol: str, ties: str, negatives: int | None) -> str:
    if protocol == "sampled":
        return (f"sampled: held-out item ranked among its {negatives} negatives; ties by "
                f"popularity, then {ties}; NDCG = log 2 / log(rank + 2)")
    return "full ranking over all items unseen in training; ties by popularity"


def evaluation_report(model: Recommender, held: HeldOut, *, dataset: str, protocol: str,
                      ties: TieRule = "random", seed: int = 0) -> dict[str, Any]:
    metrics = (evaluate_sampled(model, held, ties=ties, seed=seed) if protocol == "sampled"
               else evaluate_full(model, held))
    negatives = None if held.negatives is None else held.negatives.shape[1]
    return {"dataset": dataset, "protocol": protocol, "model": model.family,
            "ties": ties if protocol == "sampled" else "popularity",
            "description": describe_protocol(protocol, ties, negatives),
            "num_test": len(held.users), "metrics": metrics}
