"""EASE (Steck, 2019): closed-form item-item model, B = I - P / diag(P), P = (X'X + lambda I)^-1.

With more items than users the items x items inverse is too large for a laptop (AToy: 33k
items), so the same B is applied through the Woodbury identity with a users x users inverse:
P = (I - X' K^-1 X) / lambda with K = X X' + lambda I. Both forms give identical scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from neurank.data.interactions import HeldOut, Interactions
from neurank.recommend.base import Recommender
from neurank.recommend.registry import register


class EASEConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    l2: float = Field(500.0, gt=0.0, description="lambda, the L2 penalty")


@register
class EASE(Recommender[EASEConfig]):
    family = "ease"
    Config = EASEConfig

    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        lam = self.config.l2
        x = self.seen.astype(np.float64)
        n_users, n_items = x.shape
        if n_items <= n_users:
            gram = (x.T @ x).toarray()
            gram[np.diag_indices(n_items)] += lam
            p = np.linalg.inv(gram)
            b = -p / np.diag(p)
            b[np.diag_indices(n_items)] = 0.0
            self.weights, self.kernel_inverse = b.astype(np.float32), None
        else:
            k = (x @ x.T).toarray()
            k[np.diag_indices(n_users)] += lam
            k_inv = np.linalg.inv(k)
            # diag(P) = (1 - diag(X' K^-1 X)) / lambda
            kx = x.T @ k_inv  # (items, users) dense
            diag = (1.0 - np.asarray((x.T.multiply(kx)).sum(axis=1)).ravel()) / lam
            self.weights, self.kernel_inverse = None, k_inv.astype(np.float32)
            self.p_diag = diag.astype(np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        xu = self.seen[users]
        if self.weights is not None:
            return np.asarray(xu @ self.weights, dtype=np.float32)
        lam = self.config.l2
        # X_u P = (X_u - (X_u X') K^-1 X) / lambda ;  scores = X_u - X_u P / diag(P)
        xu_dense = xu.toarray()
        xux = (xu @ self.seen.T).toarray()
        xup = (xu_dense - (self.seen.T @ (self.kernel_inverse @ xux.T)).T) / lam
        return (xu_dense - xup / self.p_diag).astype(np.float32)

    def item_vectors(self) -> np.ndarray | sp.spmatrix:
        if self.weights is not None:
            return self.weights.T
        return super().item_vectors()

    def _arrays(self) -> dict[str, Any]:
        if self.weights is not None:
            return {"weights": self.weights}
        return {"kernel_inverse": self.kernel_inverse, "p_diag": self.p_diag}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights = arrays.get("weights")
        self.kernel_inverse = arrays.get("kernel_inverse")
        if "p_diag" in arrays:
            self.p_diag = arrays["p_diag"]
