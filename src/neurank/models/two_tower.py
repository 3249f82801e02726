"""A two-tower retrieval model trained from scratch on word embeddings.

Both towers read word ids of one shared vocabulary (and one shared embedding table, initialised
from GloVe or at random); each has its own pooling and MLP, so queries and documents may be
mapped differently. Pooling: `mean`, `weighted` (a learned weight per word, initialised from its
IDF: an IDF-weighted average to start from) or `gru`. Outputs are L2-normalised, so a dot
product is the cosine the vector index searches by.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from neurank.models.registry import register_module

Pooling = Literal["mean", "weighted", "gru"]
POOLINGS: tuple[str, ...] = ("mean", "weighted", "gru")
PAD, UNKNOWN = 0, 1


class Tower(nn.Module):
    """Pooled word embeddings -> MLP with a linear skip -> unit vector."""

    def __init__(self, embedding_dim: int, hidden_dim: int, output_dim: int,
                 pooling: Pooling, vocab_size: int) -> None:
        super().__init__()
        self.pooling = pooling
        if pooling == "weighted":
            self.word_weight = nn.Embedding(vocab_size, 1, padding_idx=PAD)
            nn.init.zeros_(self.word_weight.weight)
        if pooling == "gru":
            self.gru = nn.GRU(embedding_dim, embedding_dim, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(embedding_dim, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, output_dim))
        self.skip = nn.Linear(embedding_dim, output_dim, bias=False)

    def forward(self, ids: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        mask = (ids != PAD).unsqueeze(-1).to(embedded.dtype)
        if self.pooling == "gru":
            embedded, _ = self.gru(embedded)
        weights = torch.exp(self.word_weight(ids)) * mask if self.pooling == "weighted" else mask
        pooled = (embedded * weights).sum(1) / weights.sum(1).clamp(min=1e-6)
        return F.normalize(self.skip(pooled) + self.mlp(pooled), dim=-1)


@register_module
class TwoTower(nn.Module):
    """Query and document towers over one vocabulary; see the module docstring."""

    def __init__(self, vocab_size: int, embedding_dim: int = 50, hidden_dim: int = 256,
                 output_dim: int = 128, pooling: Pooling = "weighted") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.init_args = {"vocab_size": vocab_size, "embedding_dim": embedding_dim,
                          "hidden_dim": hidden_dim, "output_dim": output_dim,
                          "pooling": pooling}
        self.output_dim = output_dim
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.query_tower = Tower(embedding_dim, hidden_dim, output_dim, pooling, vocab_size)
        self.document_tower = Tower(embedding_dim, hidden_dim, output_dim, pooling, vocab_size)

    def init_words(self, vectors: torch.Tensor | None, idf: torch.Tensor | None) -> None:
        """Start from pretrained word vectors (rows of the vocabulary; NaN rows stay random)
        and, for weighted pooling, from IDF word weights."""
        with torch.no_grad():
            if vectors is not None:
                known = ~torch.isnan(vectors).any(dim=1)
                self.embedding.weight[known] = vectors[known].to(self.embedding.weight.dtype)
                scale = vectors[known].std() if known.any() else 1.0
                self.embedding.weight[~known] = torch.randn(
                    int((~known).sum()), vectors.shape[1]) * scale
                self.embedding.weight[PAD] = 0.0
            if idf is not None:
                for tower in (self.query_tower, self.document_tower):
                    if tower.pooling == "weighted":
                        tower.word_weight.weight[:, 0] = torch.log(idf.clamp(min=1e-3))
                        tower.word_weight.weight[PAD] = 0.0

    def encode_queries(self, ids: torch.Tensor) -> torch.Tensor:
        return self.query_tower(ids, self.embedding(ids))

    def encode_documents(self, ids: torch.Tensor) -> torch.Tensor:
        return self.document_tower(ids, self.embedding(ids))

    def forward(self, query_ids: torch.Tensor, document_ids: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_queries(query_ids), self.encode_documents(document_ids)

