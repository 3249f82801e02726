"""torch nn.Modules only: no training loops, no I/O."""

from neurank.models.ncf import GMF, MLP, NeuMF

__all__ = ["GMF", "MLP", "NeuMF"]
