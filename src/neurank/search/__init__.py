"""Staged search: retrievers -> candidates -> scorer -> boosts -> threshold -> top-k."""

from neurank.search.candidates import Candidates
from neurank.search.fusion import FusionScorer, fuse
from neurank.search.modes import MODES, Mode
from neurank.search.pipeline import Hit, Ranking, SearchPipeline

__all__ = ["MODES", "Candidates", "FusionScorer", "Hit", "Mode", "Ranking", "SearchPipeline",
           "fuse"]
