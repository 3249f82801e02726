"""RP3beta (Paudel et al., 2016): 3-step random walk user -> item -> user -> item, with the
landing item's popularity discounted by pop^beta; a strong baseline on sparse implicit data
(Dacrema et al., 2019)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from neurank.data.interactions import HeldOut, Interactions
from neurank.recommend.knn import SimilarityRecommender, keep_top
from neurank.recommend.registry import register


class RP3Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(1.0, gt=0.0, description="exponent on the transition probabilities")
    beta: float = Field(0.5, ge=0.0, description="popularity discount of the landing item")
    neighbors: int = Field(500, ge=1)


def _row_normalize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    return sp.diags(1.0 / np.maximum(sums, 1e-12)) @ matrix


@register
class RP3Beta(SimilarityRecommender[RP3Config]):
    family = "rp3beta"
    Config = RP3Config

    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        c = self.config
        x = self.seen.astype(np.float64).tocsr()
        user_to_item = _row_normalize(x).tocsr()
        item_to_user = _row_normalize(x.T.tocsr()).tocsr()
        user_to_item.data **= c.alpha
        item_to_user.data **= c.alpha
        walk = (item_to_user @ user_to_item).tocsr()  # item -> item
        discount = np.power(np.maximum(self.popularity, 1.0), -c.beta)
        walk = walk @ sp.diags(discount)
        walk.setdiag(0.0)
        walk.eliminate_zeros()
        self.similarity = keep_top(walk.tocsr(), c.neighbors)
