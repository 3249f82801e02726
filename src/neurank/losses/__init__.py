"""Losses, one class per file."""

from neurank.losses.approx_ndcg import ApproxNDCG
from neurank.losses.bce import MultiLabelBCE
from neurank.losses.focal import FocalLoss
from neurank.losses.graded_ce import GradedCrossEntropy
from neurank.losses.info_nce import InfoNCE
from neurank.losses.listmle import ListMLE
from neurank.losses.margin import HardestNegativeMargin
from neurank.losses.ranking_mix import RankingLossMix

__all__ = ["ApproxNDCG", "FocalLoss", "GradedCrossEntropy", "HardestNegativeMargin", "InfoNCE",
           "ListMLE", "MultiLabelBCE", "RankingLossMix"]
