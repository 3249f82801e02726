"""Multi-label classifier modules: a head over sentence embeddings, and encoder + head."""

from __future__ import annotations

import torch
from torch import nn

from neurank.models.registry import register_module


@register_module
class LabelHead(nn.Module):
    """Logits per label from an embedding: linear (hidden=0) or one ReLU hidden layer."""

    def __init__(self, dim: int, labels: int, hidden: int = 0, dropout: float = 0.1) -> None:
        super().__init__()
        self.init_args = {"dim": dim, "labels": labels, "hidden": hidden, "dropout": dropout}
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden or dim, labels))
        self.layers = nn.Sequential(*layers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings)

    def linear_weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight, bias) of each Linear in order; ReLU sits between consecutive ones."""
        return [(m.weight.detach(), m.bias.detach()) for m in self.layers
                if isinstance(m, nn.Linear)]


class EncoderClassifier(nn.Module):
    """A sentence encoder (features -> {"sentence_embedding"}) fine-tuned under a LabelHead.

    The head sees L2-normalised embeddings, as every neurank Encoder returns them, so the
    saved encoder serves through any Encoder backend with the same head.
    """

    def __init__(self, encoder: nn.Module, head: LabelHead) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        embeddings = self.encoder(features)["sentence_embedding"]
        return self.head(nn.functional.normalize(embeddings, dim=-1))
