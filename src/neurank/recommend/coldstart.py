"""The cold-user protocol: a seeded share of users is held out entirely; each is ranked every
item from its profile alone and judged on the items it liked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurank.data.interactions import Interactions
from neurank.data.profiles import FeatureTable
from neurank.eval.protocols import full_ranking_metrics
from neurank.recommend.base import Recommender
from neurank.recommend.profile_base import ProfileRecommender

CUTOFF = 10


@dataclass
class ColdUserSplit:
    """Training interactions of the kept users (over every item) and the held-out users."""

    train: Interactions
    held_out: list[str]
    relevant: dict[str, list[str]]
    """held-out user -> the items it liked (rating >= min_rating)"""
    description: str


def positives(data: Interactions, min_rating: float | None) -> Interactions:
    """The interactions that count as liked: rating >= `min_rating` (all when None)."""
    return data if min_rating is None else data.subset(data.weights >= min_rating)


def holdout_users(data: Interactions, fraction: float, seed: int, *,
                  min_rating: float | None = None,
                  items: list[str] | None = None) -> ColdUserSplit:
    """Hold out round(`fraction` x users) users (seeded), with all their interactions.

    The training vocabulary has only the kept users and every item of `data` (and of `items`,
    a catalog), so a held-out user is unknown to every model, as a new user would be.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError("the held-out fraction must be in (0, 1)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(data.num_users)
    held = np.zeros(data.num_users, dtype=bool)
    held[order[:round(fraction * data.num_users)]] = True
    item_ids = list(data.item_ids) + [i for i in items or [] if i not in data.item_index]
    train = Interactions(data.user_ids, item_ids, data.users, data.items, data.weights,
                         data.order).of_users(~held)
    liked = positives(data, min_rating)
    relevant: dict[str, list[str]] = {data.user_ids[u]: [] for u in np.flatnonzero(held)}
    for u, i in zip(liked.users, liked.items, strict=True):
        if held[u]:
            relevant[data.user_ids[u]].append(data.item_ids[i])
    liked_rule = "every interaction" if min_rating is None else f"ratings >= {min_rating:g}"
    return ColdUserSplit(train, [data.user_ids[u] for u in np.flatnonzero(held)], relevant,
                         f"cold users: {held.sum()} of {data.num_users} users held out entirely "
                         f"(seed {seed}); positives = {liked_rule}; every item ranked for each "
                         "held-out user from its profile alone")


def cold_scores(model: Recommender, profiles: list[dict[str, Any]]) -> np.ndarray:
    """What `model` scores for users it has never seen: their profiles when it reads
    profiles, else its cold-start answer (popularity)."""
    if isinstance(model, ProfileRecommender):
        return model.score_profiles(profiles).astype(np.float64)
    return np.broadcast_to(model.popularity.astype(np.float64),
                           (len(profiles), len(model.item_ids))).copy()


def evaluate_cold_users(model: Recommender, split: ColdUserSplit, users: FeatureTable,
                        k: int = CUTOFF) -> dict[str, float]:
    """HR@k, NDCG@k, Recall@k over held-out users with at least one liked item."""
    judged = [u for u in split.held_out if split.relevant[u]]
    profiles = [users.get(u) if u in users.index else {} for u in judged]
    relevant = [np.array([model.item_index[i] for i in split.relevant[u]]) for u in judged]
    tops = []
    for start in range(0, len(judged), 256):
        scores = cold_scores(model, profiles[start:start + 256])
        tops.append(model.top_items(scores, None, k, exclude_seen=False))
    top = np.concatenate(tops) if tops else np.zeros((0, k), dtype=np.int64)
    hits = [bool(np.isin(t[:k], r).any()) for t, r in zip(top, relevant, strict=True)]
    return {f"hr@{k}": float(np.mean(hits)) if hits else 0.0,
            **full_ranking_metrics(top, relevant, k), "users": float(len(judged))}
