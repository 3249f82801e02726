"""One recommendation request, answered along the cold-start chain, under constraints.

The chain, each step named in the answer's `source`:
  a user the model trained on          -> the model (collaborative, or its profile)
  a few known items, no retraining     -> fold-in (least squares for iALS, item similarity else)
  a profile only                       -> a model that reads profiles
  nothing                              -> popularity
Constraints: catalog filters (the search filter grammar: `price={"lte": 50}`,
`category=["a","b"]`) and at most N items per category.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurank.errors import NeurankError
from neurank.index.filters import check_known_fields, matches_filters, validate_filters
from neurank.recommend.base import Recommendations, Recommender
from neurank.recommend.profile_base import ProfileRecommender

DIVERSITY_POOL = 20
"""with a per-category cap, the greedy walk reads up to k x this many ranked items"""


@dataclass
class RecommendRequest:
    user: str | None = None
    profile: dict[str, Any] | None = None
    known_items: list[str] = field(default_factory=list)
    k: int = 10
    filters: dict[str, Any] = field(default_factory=dict)
    max_per_category: int | None = None
    category_field: str | None = None
    explain: bool = False
    exclude_seen: bool = True


def candidate_items(model: Recommender, filters: dict[str, Any]) -> np.ndarray | None:
    """Indices of the catalog items that pass `filters` (None: no filter, every item)."""
    if not filters:
        return None
    checked = validate_filters(filters)
    if model.catalog is None:
        raise NeurankError("filters need an item catalog: train with --items FILE (or MovieLens "
                           "u.item beside the data)")
    catalog = model.catalog
    check_known_fields(checked, {field for record in catalog.records for field in record},
                       "no catalog item has a field")
    return np.array([model.item_index[i] for i, record in zip(catalog.ids, catalog.records,
                                                              strict=True)
                     if i in model.item_index and matches_filters(record, checked)],
                    dtype=np.int64)


def _categories(model: Recommender, field_name: str | None) -> list[list[str]] | None:
    if model.catalog is None or field_name is None:
        return None
    out = []
    for item in model.item_ids:
        value = model.catalog.records[model.catalog.index[item]].get(field_name) \
            if item in model.catalog.index else None
        out.append([str(v) for v in value] if isinstance(value, list) else
                   [] if value is None else [str(value)])
    return out


def diversify(ranked: np.ndarray, categories: list[list[str]], cap: int, k: int) -> np.ndarray:
    """The first k of `ranked` such that no category holds more than `cap` of them (an item
    in several categories counts in each)."""
    taken: dict[str, int] = {}
    out = []
    for item in ranked:
        cats = categories[item]
        if all(taken.get(c, 0) < cap for c in cats):
            out.append(item)
            for c in cats:
                taken[c] = taken.get(c, 0) + 1
            if len(out) == k:
                break
    return np.asarray(out, dtype=np.int64)


def chain_scores(model: Recommender, request: RecommendRequest
                 ) -> tuple[np.ndarray, str, np.ndarray, bool]:
    """(scores over items, chain step, item indices to exclude, whether the user is new)."""
    none = np.zeros(0, dtype=np.int64)
    user = model.user_index.get(str(request.user)) if request.user is not None else None
    if user is not None:
        seen = model.seen[user].indices if request.exclude_seen else none
        return model.score_users(np.array([user]))[0].astype(np.float64), model.source, seen, False
    if request.known_items:
        known = model._items(request.known_items)
        scores = model.fold_in(known)
        if request.profile is not None and isinstance(model, ProfileRecommender):
            scores = _standardise(scores) + _standardise(model.score_profiles([request.profile])[0])
        return scores, "fold-in", known if request.exclude_seen else none, True
    if request.profile is not None:
        if not isinstance(model, ProfileRecommender):
            raise NeurankError(f"a {model.family} model reads no profiles: train --model profile "
                               "(or pop-segment, profile-knn) to recommend from a profile")
        scores = model.score_profiles([request.profile])[0].astype(np.float64)
        return scores, "profile", none, True
    return model.popularity.astype(np.float64), "popularity", none, True


def _standardise(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean()) / (scores.std() + 1e-12)


def answer(model: Recommender, request: RecommendRequest) -> Recommendations:
    """Top-k items for the request; see the module docstring."""
    if request.k < 1:
        raise NeurankError(f"k must be at least 1, got {request.k}")
    scores, source, exclude, new_user = chain_scores(model, request)
    candidates = candidate_items(model, request.filters)
    field_name = request.category_field or _default_category_field(model)
    categories = _categories(model, field_name) if request.max_per_category else None
    if request.max_per_category and categories is None:
        raise NeurankError("--max-per-category needs an item catalog with a category field "
                           "(--category-field)")
    k = min(request.k, len(model.item_ids))
    depth = min(k * DIVERSITY_POOL, len(model.item_ids)) if categories else k
    scores = scores.copy()
    scores[exclude] = -np.inf
    top = model.top_items(scores[None, :], None, depth, False, candidates)[0]
    top = top[top >= 0]
    if categories is not None:
        top = diversify(top, categories, request.max_per_category, k)  # type: ignore[arg-type]
    items = [model.item_ids[i] for i in top]
    result = Recommendations(str(request.user or "profile"), items, scores[top].tolist(),
                             cold_start=new_user,
                             source=source, details=describe_items(model, items))
    if request.explain and request.profile is not None and hasattr(model, "explain"):
        for detail, reasons in zip(result.details, model.explain(request.profile, items),
                                   strict=True):
            detail["because"] = [f"{name} ({effect:+.2f})" for name, effect in reasons]
    return result


CATEGORY_FIELDS = ("category", "categories", "genres", "genre")


def _default_category_field(model: Recommender) -> str | None:
    """A catalog field named like a category, else its first list-valued field (tags)."""
    if model.catalog is None:
        return None
    fields = model.catalog.fields()
    named = next((f for f in CATEGORY_FIELDS if f in fields), None)
    return named or next((f for f in fields if any(isinstance(r.get(f), list)
                                                    for r in model.catalog.records[:100])), None)


def describe_items(model: Recommender, items: list[str]) -> list[dict[str, Any]]:
    """Catalog fields of each item, and `cold_item: true` for an item nobody interacted with
    in training (scored from its features, or not at all)."""
    catalog = model.catalog
    out = []
    for item in items:
        detail = dict(catalog.records[catalog.index[item]]) if catalog is not None and \
            item in catalog.index else {}
        if model.popularity[model.item_index[item]] == 0:
            detail["cold_item"] = True
        out.append(detail)
    return out
