"""Cross-entropy over relevance grades for a graded head."""

from __future__ import annotations

import torch
from torch import nn


class GradedCrossEntropy(nn.Module):
    """Mean cross-entropy of grade logits (B, L, G) against grades (B, L) clipped to G-1,
    over real entries (mask True)."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        grades = labels.long().clamp(0, logits.shape[-1] - 1)
        return nn.functional.cross_entropy(logits[mask], grades[mask])
