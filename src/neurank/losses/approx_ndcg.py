"""ApproxNDCG (Qin et al. 2010): NDCG with ranks made differentiable by sigmoids."""

from __future__ import annotations

import torch
from torch import nn


class ApproxNDCG(nn.Module):
    """Mean over lists with a relevant entry of 1 - approximate NDCG (linear gains, as
    trec_eval); rank_i = 1 + sum_j sigmoid((s_j - s_i) / temperature)."""

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, scores: torch.Tensor, labels: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        gains = torch.where(mask, labels.float().clamp(min=0), torch.zeros_like(scores))
        differences = (scores.unsqueeze(1) - scores.unsqueeze(2)) / self.temperature
        pair = mask.unsqueeze(1) & mask.unsqueeze(2)  # [i, j]: both real
        pair = pair & ~torch.eye(scores.shape[1], dtype=torch.bool, device=scores.device)
        ranks = 1.0 + (torch.sigmoid(differences) * pair).sum(dim=2)
        dcg = (gains / torch.log2(1.0 + ranks)).sum(dim=1)
        ideal_gains = gains.sort(dim=1, descending=True).values
        positions = torch.arange(2, scores.shape[1] + 2, device=scores.device, dtype=torch.float32)
        ideal = (ideal_gains / torch.log2(positions)).sum(dim=1)
        judged = ideal > 0
        if not judged.any():
            return scores.sum() * 0.0
        return (1.0 - dcg[judged] / ideal[judged]).mean()
