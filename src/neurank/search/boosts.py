"""Multiplicative boosts on the scorer's score: exact title match, category match, quality prior."""

from __future__ import annotations

import re

import numpy as np

from neurank.config import BoostConfig
from neurank.data.corpus import Document
from neurank.search.fusion import minmax


def category_in_query(category: object, query: str) -> bool:
    values = category if isinstance(category, list) else [category]
    for value in values:
        if isinstance(value, str) and value.strip() and re.search(
            rf"\b{re.escape(value.strip().lower())}\b", query
        ):
            return True
    return False


def numeric_value(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def boost_factors(query: str, documents: list[Document], config: BoostConfig) -> np.ndarray:
    """One factor per document: the product of the boosts that apply to it."""
    query = query.strip().lower()
    factors = np.ones(len(documents), dtype=np.float64)
    for i, doc in enumerate(documents):
        if config.title_match != 1.0 and query and query in doc.title.lower():
            factors[i] *= config.title_match
        if config.category_match != 1.0 and category_in_query(
            doc.metadata.get(config.category_field), query
        ):
            factors[i] *= config.category_match
        quality = numeric_value(doc.metadata.get(config.quality_field))
        if config.quality != 1.0 and quality is not None and quality > config.quality_threshold:
            factors[i] *= config.quality
    return factors


def apply_boosts(scores: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Multiply factors into scores mapped onto [1, 2], so a boost moves any candidate.

    Mapping onto [0, 1] instead would leave the lowest-scored candidate at 0, where no factor
    can lift it; on [1, 2] a factor of 2 lifts the lowest candidate level with the best one.
    """
    if len(scores) == 0:
        return scores.astype(np.float64)
    return (1.0 + minmax(scores)) * factors
