"""Focal loss (Lin et al. 2017) for multi-label logits: down-weights easy examples."""

from __future__ import annotations

import torch
from torch import nn


class FocalLoss(nn.Module):
    """mean(alpha_t * (1 - p_t)^gamma * BCE); gamma=0, alpha=None is plain BCE."""

    def __init__(self, gamma: float = 2.0, alpha: float | None = None) -> None:
        super().__init__()
        self.gamma, self.alpha = gamma, alpha

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        bce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p_t = torch.exp(-bce)  # the probability given to the true class
        loss = (1 - p_t) ** self.gamma * bce
        if self.alpha is not None:
            loss = loss * (self.alpha * targets + (1 - self.alpha) * (1 - targets))
        return loss.mean()
