"""torch nn.Modules only: no training loops, no I/O."""

from neurank.models.ncf import GMF, MLP, NeuMF
from neurank.models.two_tower import TwoTower

__all__ = ["GMF", "MLP", "NeuMF", "TwoTower"]
