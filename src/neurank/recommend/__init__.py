"""Recommenders behind one base: fit, recommend, score, similar_items, save/load.

Importing this package imports every family module, and each registers itself.
"""

from neurank.recommend import (  # noqa: F401
    blend,
    ease,
    factorization,
    graph,
    knn,
    ncf,
    pop,
    profile,
    profile_knn,
    segment,
)
from neurank.recommend.base import Recommendations, Recommender
from neurank.recommend.registry import MODELS, load_recommender

__all__ = ["MODELS", "Recommendations", "Recommender", "load_recommender"]
