"""Retrieval, fusion, boosts and the SearchPipeline."""

from neurank.search.fusion import Candidates, fuse
from neurank.search.pipeline import MODES, Hit, Ranking, SearchPipeline

__all__ = ["MODES", "Candidates", "Hit", "Ranking", "SearchPipeline", "fuse"]
