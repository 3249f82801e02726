"""Binary cross-entropy over labels, with optional per-label positive weights and a mask."""

from __future__ import annotations

import torch
from torch import nn


class MultiLabelBCE(nn.Module):
    """Mean BCE-with-logits; `pos_weight[j]` multiplies label j's positive term (rare labels);
    with a `mask`, the mean is over the entries where it is True (padded lists)."""

    def __init__(self, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            logits, targets = logits[mask], targets[mask]
        return nn.functional.binary_cross_entropy_with_logits(
            logits, targets, pos_weight=self.pos_weight)
