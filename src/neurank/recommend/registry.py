"""The recommender registry: a leaf module that model families register into."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from neurank.errors import CheckpointError
from neurank.training.checkpoint import load_checkpoint

if TYPE_CHECKING:
    from neurank.recommend.base import Recommender

MODELS: dict[str, type[Recommender]] = {}
"""family name -> class, filled by `@register` as each family module is imported"""

R = TypeVar("R", bound="type[Recommender]")


def register(cls: R) -> R:
    """Class decorator: make a recommender family loadable by name."""
    if cls.family in MODELS and MODELS[cls.family] is not cls:
        raise ValueError(f"two recommenders claim the family {cls.family!r}")
    MODELS[cls.family] = cls
    return cls


def load_recommender(folder: str | Path) -> Recommender:
    """Load any saved recommender (verified checkpoint); its family says which class rebuilds it."""
    checkpoint = load_checkpoint(folder)
    family = checkpoint.meta.get("family")
    if not checkpoint.kind.startswith("recommender/") or family not in MODELS:
        raise CheckpointError(f"{folder} holds a {checkpoint.kind!r} checkpoint, not a "
                              f"recommender ({sorted(MODELS)})")
    arrays = {name: tensor.numpy() for name, tensor in checkpoint.tensors.items()}
    return MODELS[family].from_checkpoint(checkpoint.meta, checkpoint.ids, arrays)
