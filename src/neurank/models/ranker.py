"""The graded ranker: scores a query's candidate list from embeddings and features."""

from __future__ import annotations

import math

import torch
from torch import nn

from neurank.models.registry import register_module


class ListAttention(nn.Module):
    """Multi-head attention of each candidate over a context (the query and the list), written
    out so that it exports to ONNX with the list length dynamic (torch's MultiheadAttention
    traces it as a constant)."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key_value = nn.Linear(hidden, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, context: torch.Tensor,
                padding: torch.Tensor) -> torch.Tensor:
        """tokens (B, L, H) attend over context (B, C, H); padding (B, C) True = ignore."""
        batch, hidden = tokens.shape[0], tokens.shape[2]
        size = hidden // self.heads

        def split(x: torch.Tensor) -> torch.Tensor:  # (B, N, H) -> (B, heads, N, size)
            return x.reshape(batch, -1, self.heads, size).transpose(1, 2)

        key, value = self.key_value(context).chunk(2, dim=-1)
        weights = (split(self.query(tokens)) @ split(key).transpose(-1, -2)) / math.sqrt(size)
        weights = weights.masked_fill(padding[:, None, None, :], float("-inf")).softmax(dim=-1)
        attended = self.dropout(weights) @ split(value)
        return self.out(attended.transpose(1, 2).reshape(batch, -1, hidden))


@register_module
class GradedRanker(nn.Module):
    """Candidate tokens from features (+ query/document embedding interactions), attention of
    every candidate over the query and the whole candidate list (listwise context), and two
    heads: 4 relevance grades and relevant-or-not.

    The score is a learned mix of the binary logit and the expected grade (two scalars, both
    starting at 1), so ranking losses shape both heads. Features are standardised inside the
    module by buffers set from the training data (`set_feature_scaling`), so a saved ranker
    needs nothing else to score.
    """

    def __init__(self, dim: int, num_features: int, hidden: int = 128, heads: int = 4,
                 dropout: float = 0.1, grades: int = 4, embeddings: bool = True,
                 attention: bool = True) -> None:
        super().__init__()
        self.init_args = {"dim": dim, "num_features": num_features, "hidden": hidden,
                          "heads": heads, "dropout": dropout, "grades": grades,
                          "embeddings": embeddings, "attention": attention}
        self.register_buffer("feature_mean", torch.zeros(num_features))
        self.register_buffer("feature_std", torch.ones(num_features))
        self.features = nn.Sequential(nn.Linear(num_features, hidden), nn.GELU(),
                                      nn.Dropout(dropout))
        self.embeddings = embeddings
        if embeddings:
            self.query_proj = nn.Linear(dim, hidden)
            self.doc_proj = nn.Linear(dim, hidden)
            self.interaction = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(),
                                             nn.Dropout(dropout))
        self.token_norm = nn.LayerNorm(hidden)
        self.attention = ListAttention(hidden, heads, dropout) if attention else None
        self.attention_norm = nn.LayerNorm(hidden)
        self.context = nn.Linear(dim, hidden)
        self.grade_head = nn.Linear(hidden, grades)
        self.binary_head = nn.Linear(hidden, 1)
        self.mix = nn.Parameter(torch.ones(2))
        self.register_buffer("grade_values", torch.arange(grades, dtype=torch.float32))

    def set_feature_scaling(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise features with these statistics (std of 0 is taken as 1)."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, query: torch.Tensor, docs: torch.Tensor, features: torch.Tensor,
                mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """query (B, dim), docs (B, L, dim), features (B, L, F), mask (B, L) True where real.

        Returns score (B, L), grade_logits (B, L, grades), binary_logit (B, L).
        """
        tokens = self.features((features - self.feature_mean) / self.feature_std)
        if self.embeddings:
            q = self.query_proj(query).unsqueeze(1).expand(-1, docs.shape[1], -1)
            d = self.doc_proj(docs)
            tokens = tokens + self.interaction(torch.cat([q * d, (q - d).abs()], dim=-1))
        tokens = self.token_norm(tokens)
        if self.attention is not None:
            context = torch.cat([self.context(query).unsqueeze(1), tokens], dim=1)
            padding = torch.cat([torch.zeros_like(mask[:, :1]), ~mask], dim=1)
            tokens = self.attention_norm(tokens + self.attention(tokens, context, padding))
        grade_logits = self.grade_head(tokens)
        binary_logit = self.binary_head(tokens).squeeze(-1)
        expected = grade_logits.softmax(dim=-1) @ self.grade_values
        score = self.mix[0] * binary_logit + self.mix[1] * expected
        return {"score": score, "grade_logits": grade_logits, "binary_logit": binary_logit}
