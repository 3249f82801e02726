"""ItemPop: every user gets the most interacted-with items."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from neurank.data.interactions import HeldOut, Interactions
from neurank.recommend.base import Recommender
from neurank.recommend.registry import register


class PopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


@register
class ItemPop(Recommender[PopConfig]):
    family = "pop"
    Config = PopConfig

    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        return None

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity.astype(np.float32), (len(users), len(self.item_ids))
                               ).copy()

    def _arrays(self) -> dict[str, Any]:
        return {}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        return None
