"""The NCF family (He et al., 2017): GMF, MLP and NeuMF. Each returns one logit per pair."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from neurank.models.registry import register_module


def _embedding(count: int, dim: int) -> nn.Embedding:
    layer = nn.Embedding(count, dim)
    nn.init.normal_(layer.weight, std=0.01)
    return layer


@register_module
class GMF(nn.Module):
    """Generalized matrix factorisation: a learned weighting of the user*item product."""

    def __init__(self, num_users: int, num_items: int, factors: int = 32) -> None:
        super().__init__()
        self.init_args = {"num_users": num_users, "num_items": num_items, "factors": factors}
        self.user = _embedding(num_users, factors)
        self.item = _embedding(num_items, factors)
        self.predict = nn.Linear(factors, 1)

    def features(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.user(users) * self.item(items)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.predict(self.features(users, items)).squeeze(-1)


@register_module
class MLP(nn.Module):
    """An MLP tower over concatenated user and item embeddings."""

    def __init__(self, num_users: int, num_items: int, layers: tuple[int, ...] = (64, 32, 16, 8),
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.init_args = {"num_users": num_users, "num_items": num_items,
                          "layers": list(layers), "dropout": dropout}
        self.user = _embedding(num_users, layers[0] // 2)
        self.item = _embedding(num_items, layers[0] // 2)
        blocks: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(layers):
            blocks += [nn.Linear(width_in, width_out), nn.ReLU()]
            if dropout:
                blocks.append(nn.Dropout(dropout))
        self.tower = nn.Sequential(*blocks)
        self.predict = nn.Linear(layers[-1], 1)

    def features(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.tower(torch.cat([self.user(users), self.item(items)], dim=-1))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.predict(self.features(users, items)).squeeze(-1)


@register_module
class NeuMF(nn.Module):
    """GMF and MLP branches with separate embeddings, fused by one output layer."""

    def __init__(self, num_users: int, num_items: int, factors: int = 32,
                 layers: tuple[int, ...] = (64, 32, 16, 8), dropout: float = 0.0) -> None:
        super().__init__()
        self.init_args = {"num_users": num_users, "num_items": num_items, "factors": factors,
                          "layers": list(layers), "dropout": dropout}
        self.gmf = GMF(num_users, num_items, factors)
        self.mlp = MLP(num_users, num_items, layers, dropout)
        self.predict = nn.Linear(factors + layers[-1], 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        joint = torch.cat([self.gmf.features(users, items), self.mlp.features(users, items)], -1)
        return self.predict(joint).squeeze(-1)

    @torch.no_grad()
    def load_pretrained(self, gmf: GMF, mlp: MLP, alpha: float = 0.5) -> None:
        """Initialise from trained GMF and MLP, as in the NCF paper (output layer weighted by
        alpha and 1 - alpha)."""
        self.gmf.user.load_state_dict(gmf.user.state_dict())
        self.gmf.item.load_state_dict(gmf.item.state_dict())
        self.mlp.user.load_state_dict(mlp.user.state_dict())
        self.mlp.item.load_state_dict(mlp.item.state_dict())
        self.mlp.tower.load_state_dict(mlp.tower.state_dict())
        self.predict.weight.copy_(torch.cat([alpha * gmf.predict.weight,
                                             (1 - alpha) * mlp.predict.weight], dim=-1))
        self.predict.bias.copy_(alpha * gmf.predict.bias + (1 - alpha) * mlp.predict.bias)
