"""Recommenders behind one base: fit, recommend, score, similar_items, save/load.

Importing this package imports every family module, and each registers itself.
"""

from neurank.recommend import blend, ease, factorization, graph, knn, ncf, pop  # noqa: F401
from neurank.recommend.base import Recommendations, Recommender
from neurank.recommend.registry import MODELS, load_recommender

__all__ = ["MODELS", "Recommendations", "Recommender", "load_recommender"]
