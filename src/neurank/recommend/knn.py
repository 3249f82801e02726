"""ItemKNN: cosine item-item similarity (with shrinkage), top neighbours kept per item."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from neurank.data.interactions import HeldOut, Interactions
from neurank.recommend.base import ConfigT, Recommender
from neurank.recommend.registry import register
from neurank.topk import top_indices


class KNNConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    neighbors: int = Field(200, ge=1)
    shrink: float = Field(10.0, ge=0.0)


def keep_top(similarity: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row (ties at the cut: the lower column index)."""
    similarity = similarity.tocsr()
    similarity.sort_indices()
    rows, cols, vals = [], [], []
    for r in range(similarity.shape[0]):
        start, end = similarity.indptr[r], similarity.indptr[r + 1]
        data, idx = similarity.data[start:end], similarity.indices[start:end]
        if len(data) > k:
            keep = top_indices(data, k)
            data, idx = data[keep], idx[keep]
        rows.append(np.full(len(idx), r))
        cols.append(idx)
        vals.append(data)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=similarity.shape, dtype=np.float32)


class SimilarityRecommender(Recommender[ConfigT]):
    """Scores are seen-item rows times an item x item matrix `similarity` (S[i, j]: i -> j)."""

    similarity: sp.csr_matrix

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self.seen[users] @ self.similarity).todense(), dtype=np.float32)

    def item_vectors(self) -> sp.spmatrix:
        return self.similarity

    def _arrays(self) -> dict[str, Any]:
        s = self.similarity.tocsr()
        return {"indptr": s.indptr.astype(np.int64), "indices": s.indices.astype(np.int64),
                "data": s.data.astype(np.float32)}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        n = len(self.item_ids)
        self.similarity = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                                        shape=(n, n))


@register
class ItemKNN(SimilarityRecommender[KNNConfig]):
    family = "itemknn"
    Config = KNNConfig

    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        cfg = self.config
        x = self.seen.tocsc()
        counts = np.asarray(x.sum(axis=0)).ravel()
        co = (x.T @ x).tocsr().astype(np.float32)
        co.setdiag(0.0)
        co.eliminate_zeros()
        norms = np.sqrt(counts)
        coo = co.tocoo()
        values = coo.data / (norms[coo.row] * norms[coo.col] + cfg.shrink + 1e-9)
        similarity = sp.csr_matrix((values, (coo.row, coo.col)), shape=co.shape)
        # keep each item's top neighbours j of i, then S[j, i]: a seen neighbour votes for i
        self.similarity = keep_top(similarity, cfg.neighbors).T.tocsr()
