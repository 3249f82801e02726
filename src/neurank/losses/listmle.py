"""ListMLE (Xia et al. 2008): negative Plackett-Luce likelihood of the ideal order."""

from __future__ import annotations

import torch
from torch import nn


class ListMLE(nn.Module):
    """Mean over lists of -log P(ideal permutation | scores) / list length (so it sits on the
    scale of the other losses in a mix whatever the list length); ties in the labels are broken
    at random each call, padded entries (mask False) are left out."""

    def forward(self, scores: torch.Tensor, labels: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        noise = torch.rand_like(labels, dtype=torch.float32)
        # real entries first, by label (random among equals), padding last
        key = torch.where(mask, labels.float() * 2 + noise, torch.full_like(noise, -1.0))
        order = key.argsort(dim=1, descending=True)
        ordered = scores.gather(1, order)
        valid = mask.gather(1, order)
        ordered = ordered.masked_fill(~valid, float("-inf"))
        top = ordered.max(dim=1, keepdim=True).values.detach()
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        shifted = ordered - top
        # log of the sum of exp over each position and everything ranked below it
        tail = torch.logcumsumexp(shifted.flip(1), dim=1).flip(1)
        terms = torch.where(valid, tail - shifted, torch.zeros_like(shifted))
        return (terms.sum(dim=1) / mask.sum(dim=1).clamp(min=1)).mean()
