"""A weighted mix of ranking losses over a ranker's outputs (the note's 0.4/0.3/0.3)."""

from __future__ import annotations

import torch
from torch import nn

from neurank.losses.approx_ndcg import ApproxNDCG
from neurank.losses.bce import MultiLabelBCE
from neurank.losses.graded_ce import GradedCrossEntropy
from neurank.losses.listmle import ListMLE


class RankingLossMix(nn.Module):
    """sum_k weight_k * loss_k: approx_ndcg and listmle on the score, bce on the binary logit
    (relevant = label > 0), graded on the grade logits. Zero-weight losses are not computed."""

    NAMES = ("approx_ndcg", "listmle", "bce", "graded")

    def __init__(self, weights: dict[str, float]) -> None:
        super().__init__()
        unknown = set(weights) - set(self.NAMES)
        if unknown:
            raise ValueError(f"unknown ranking losses {sorted(unknown)}; known: {self.NAMES}")
        self.weights = {name: w for name, w in weights.items() if w}
        self.approx_ndcg, self.listmle = ApproxNDCG(), ListMLE()
        self.bce, self.graded = MultiLabelBCE(), GradedCrossEntropy()

    def forward(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        parts = {
            "approx_ndcg": lambda: self.approx_ndcg(outputs["score"], labels, mask),
            "listmle": lambda: self.listmle(outputs["score"], labels, mask),
            "bce": lambda: self.bce(outputs["binary_logit"], (labels > 0).float(), mask),
            "graded": lambda: self.graded(outputs["grade_logits"], labels, mask),
        }
        return sum(weight * parts[name]() for name, weight in self.weights.items())
