"""The profile model: scores every item for a user described by features alone.

score(u, i) = segment prior + s * user tower(u) . item tower(i) + item bias

The segment prior is a smoothed, naive-Bayes combination of how often items are liked within
each of the user's segments (age band, gender, occupation, ...): log count(i) +
sum_s w_s log(P(i | segment s) / P(i)), with each segment's estimate shrunk toward the item's
overall rate by `alpha` pseudo-counts and a learned weight w_s per segment field. The towers
learn what the prior cannot: item features (genres, year, text), multi-valued and numeric
profile fields, and their interplay. Two more heads share the user tower: category affinity
(which categories of items the user likes) and rating ("reward") of a (user, item) pair.
"""

from __future__ import annotations

import torch
from torch import nn


class FeatureTower(nn.Module):
    """Sum of per-kind projections (categorical slots, multi-hot, numeric, text, optional id),
    then a residual MLP."""

    def __init__(self, categorical_size: int, multi_size: int, numeric_size: int, text_dim: int,
                 dim: int, dropout: float = 0.1, id_count: int = 0) -> None:
        super().__init__()
        self.categorical = nn.Embedding(categorical_size, dim)
        self.multi = nn.Linear(multi_size, dim, bias=False) if multi_size else None
        self.numeric = nn.Linear(numeric_size, dim, bias=False) if numeric_size else None
        self.text = nn.Linear(text_dim, dim, bias=False) if text_dim else None
        self.ids = nn.Embedding(id_count, dim) if id_count else None
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(2 * dim, dim))
        for table in (self.categorical, self.ids):
            if table is not None:
                nn.init.normal_(table.weight, std=0.05)

    def forward(self, categorical: torch.Tensor, multi: torch.Tensor, numeric: torch.Tensor,
                text: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        h = self.categorical(categorical).sum(dim=1)
        for layer, value in ((self.multi, multi), (self.numeric, numeric), (self.text, text)):
            if layer is not None:
                h = h + layer(value)
        if self.ids is not None and ids is not None:
            h = h + self.ids(ids)
        return h + self.mlp(h)


class ProfileNet(nn.Module):
    """Segment prior + two towers + category and rating heads; the item inputs and the
    segment counts are buffers, so the state dict is the whole model."""

    def __init__(self, user_tower: FeatureTower, item_tower: FeatureTower, *,
                 item_inputs: dict[str, torch.Tensor], segment_slots: list[int],
                 categorical_size: int, num_categories: int, alpha: float,
                 use_prior: bool = True) -> None:
        super().__init__()
        num_items = item_inputs["categorical"].shape[0]
        dim = user_tower.mlp[-1].out_features
        self.user_tower, self.item_tower = user_tower, item_tower
        self.item_bias = nn.Parameter(torch.zeros(num_items))
        # starts at 0 so training starts from the prior and the towers add only what helps
        self.interaction_scale = nn.Parameter(torch.zeros(()))
        self.category_head = nn.Linear(dim, num_categories) if num_categories else None
        self.rating_head = nn.Sequential(nn.Linear(3 * dim, dim), nn.GELU(), nn.Linear(dim, 1))
        self.alpha, self.use_prior = alpha, use_prior
        self.register_buffer("segment_slots", torch.tensor(segment_slots, dtype=torch.long))
        self.prior_weights = nn.Parameter(torch.ones(len(segment_slots) + 1))
        self.register_buffer("segment_counts", torch.zeros(categorical_size, num_items))
        self.register_buffer("item_counts", torch.zeros(num_items))
        for name, value in item_inputs.items():
            self.register_buffer(f"item_{name}", value)

    @torch.no_grad()
    def set_counts(self, segment_counts: torch.Tensor, item_counts: torch.Tensor) -> None:
        """Liked-item counts per segment value (categorical slot x items) and per item."""
        self.segment_counts.copy_(segment_counts)
        self.item_counts.copy_(item_counts)

    def prior(self, user_categorical: torch.Tensor,
              exclude: torch.Tensor | None = None) -> torch.Tensor:
        """(users, items) log-space prior; `exclude` removes each training user's own
        positives from the counts (leave-one-user-out, so training sees honest priors)."""
        pop = self.item_counts.unsqueeze(0)
        if exclude is not None:
            pop = pop - exclude
        weights = self.prior_weights
        out = weights[0] * torch.log1p(pop.clamp(min=0))
        total = self.item_counts.sum().expand(len(user_categorical), 1)
        if exclude is not None:
            total = total - exclude.sum(dim=1, keepdim=True)
        total = total.clamp(min=1)
        for position, slot in enumerate(self.segment_slots.tolist()):
            values = user_categorical[:, slot]
            counts = self.segment_counts[values]
            if exclude is not None:
                counts = counts - exclude
            share = (counts.sum(dim=1, keepdim=True) / total).clamp(min=1e-6)
            conditional = (counts.clamp(min=0) + self.alpha * share) / (pop.clamp(min=0)
                                                                        + self.alpha)
            out = out + weights[position + 1] * torch.log(conditional / share)
        return out

    def item_vectors(self) -> torch.Tensor:
        return self.item_tower(self.item_categorical, self.item_multi, self.item_numeric,
                               self.item_text, self.item_ids)

    def user_vectors(self, categorical: torch.Tensor, multi: torch.Tensor, numeric: torch.Tensor,
                     text: torch.Tensor) -> torch.Tensor:
        return self.user_tower(categorical, multi, numeric, text)

    def forward(self, categorical: torch.Tensor, multi: torch.Tensor, numeric: torch.Tensor,
                text: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """(users, items) scores of every item."""
        return self.scores(self.user_vectors(categorical, multi, numeric, text),
                           self.item_vectors(), categorical, exclude)

    def scores(self, users: torch.Tensor, items: torch.Tensor, categorical: torch.Tensor,
               exclude: torch.Tensor | None = None) -> torch.Tensor:
        """Scores from already computed user and item vectors."""
        scores = self.interaction_scale * (users @ items.T) + self.item_bias
        if self.use_prior:
            scores = scores + self.prior(categorical, exclude)
        return scores

    def category_logits(self, users: torch.Tensor) -> torch.Tensor:
        assert self.category_head is not None
        return self.category_head(users)

    def rating(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Predicted (standardised) rating of item vectors `items` (users, n, dim)."""
        users = users.unsqueeze(1).expand_as(items)
        return self.rating_head(torch.cat([users, items, users * items], dim=-1)).squeeze(-1)
