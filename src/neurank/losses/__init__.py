"""Losses, one class per file."""

from neurank.losses.bce import MultiLabelBCE
from neurank.losses.focal import FocalLoss

__all__ = ["FocalLoss", "MultiLabelBCE"]
