"""In-batch InfoNCE (contrastive loss with temperature), both directions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InfoNCE(nn.Module):
    """Row i of `queries` should match row i of `documents` against every other row of the
    batch, and vice versa. `same_document[i, j]` marks off-diagonal pairs that are not
    negatives (the same document twice in a batch)."""

    def __init__(self, temperature: float = 0.05) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, queries: torch.Tensor, documents: torch.Tensor,
                same_document: torch.Tensor | None = None) -> torch.Tensor:
        logits = queries @ documents.T / self.temperature
        if same_document is not None:
            off_diagonal = same_document & ~torch.eye(len(logits), dtype=torch.bool,
                                                      device=logits.device)
            logits = logits.masked_fill(off_diagonal, float("-inf"))
        target = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
