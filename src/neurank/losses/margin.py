"""Triplet margin loss against the hardest in-batch negative."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HardestNegativeMargin(nn.Module):
    """mean(relu(margin - sim(q, d+) + max_j sim(q, d_j))) over the batch's other documents
    (cells marked in `same_document` excluded); unit vectors in, so sims are cosines."""

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, queries: torch.Tensor, documents: torch.Tensor,
                same_document: torch.Tensor | None = None) -> torch.Tensor:
        sims = queries @ documents.T
        positive = sims.diagonal()
        blocked = torch.eye(len(sims), dtype=torch.bool, device=sims.device)
        if same_document is not None:
            blocked = blocked | same_document
        hardest = sims.masked_fill(blocked, float("-inf")).max(dim=1).values
        hardest = torch.where(torch.isfinite(hardest), hardest, positive - self.margin)
        return F.relu(self.margin - positive + hardest).mean()
