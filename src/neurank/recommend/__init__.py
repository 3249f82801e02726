"""Recommenders behind one base: fit, recommend, score, similar_items, save/load."""

from __future__ import annotations

from pathlib import Path

from neurank.errors import CheckpointError
from neurank.recommend.base import Recommendations, Recommender
from neurank.recommend.blend import Blend
from neurank.recommend.ease import EASE
from neurank.recommend.factorization import ALS, BPR
from neurank.recommend.graph import RP3Beta
from neurank.recommend.knn import ItemKNN
from neurank.recommend.ncf import GMFRecommender, MLPRecommender, NeuMFRecommender
from neurank.recommend.pop import ItemPop
from neurank.training.checkpoint import load_checkpoint

MODELS: dict[str, type[Recommender]] = {
    cls.family: cls
    for cls in (ItemPop, ItemKNN, RP3Beta, EASE, ALS, BPR, GMFRecommender, MLPRecommender,
                NeuMFRecommender, Blend)
}


def load_recommender(folder: str | Path) -> Recommender:
    """Load any saved recommender (verified checkpoint)."""
    checkpoint = load_checkpoint(folder)
    family = checkpoint.meta.get("family")
    if not checkpoint.kind.startswith("recommender/") or family not in MODELS:
        raise CheckpointError(f"{folder} holds a {checkpoint.kind!r} checkpoint, not a "
                              f"recommender ({sorted(MODELS)})")
    arrays = {name: tensor.numpy() for name, tensor in checkpoint.tensors.items()}
    return MODELS[family].from_checkpoint(checkpoint.meta, checkpoint.ids, arrays)


__all__ = ["MODELS", "Recommendations", "Recommender", "load_recommender"]
