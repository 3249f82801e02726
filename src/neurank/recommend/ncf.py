"""GMF, MLP and NeuMF recommenders, trained pointwise (BCE, sampled negatives) by the Trainer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from neurank.config import TrainerConfig
from neurank.data.interactions import HeldOut, Interactions, sample_negatives
from neurank.eval.protocols import sampled_metrics
from neurank.models.ncf import GMF, MLP, NeuMF
from neurank.recommend.base import Recommender
from neurank.recommend.registry import register
from neurank.training.trainer import Trainer


class NCFConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factors: int = Field(32, ge=1, description="GMF embedding size")
    layers: tuple[int, ...] = (64, 32, 16, 8)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    negatives: int = Field(4, ge=1, description="sampled negatives per positive each epoch")
    pretrain: bool = Field(True, description="NeuMF only: initialise from trained GMF and MLP")
    stage_epochs: dict[str, int] | None = Field(
        None, description="epochs per stage (GMF, MLP, NeuMF) when training without validation")
    trainer: TrainerConfig = TrainerConfig(epochs=20, batch_size=256, lr=1e-3, patience=3,
                                           monitor="ndcg@10")


def _epoch_batches(train_users: np.ndarray, train_items: np.ndarray, seen, negatives: int,
                   batch_size: int, seed: int, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """Every positive once plus `negatives` fresh unseen items per positive, shuffled."""
    rng = np.random.default_rng([seed, epoch])
    neg = sample_negatives(seen, train_users, negatives, rng)
    users = np.concatenate([train_users, np.repeat(train_users, negatives)])
    items = np.concatenate([train_items, neg.ravel()])
    labels = np.concatenate([np.ones(len(train_users)), np.zeros(neg.size)]).astype(np.float32)
    order = rng.permutation(len(users))
    users_t = torch.from_numpy(users[order])
    items_t = torch.from_numpy(items[order])
    labels_t = torch.from_numpy(labels[order])
    for start in range(0, len(order), batch_size):
        part = slice(start, start + batch_size)
        yield users_t[part], items_t[part], labels_t[part]


def _bce(model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    users, items, labels = batch
    return torch.nn.functional.binary_cross_entropy_with_logits(model(users, items), labels)


class NCFRecommender(Recommender[NCFConfig]):
    """Shared fit/score logic; subclasses name the module."""

    Config = NCFConfig
    module_class: ClassVar[type[torch.nn.Module]]

    def _build(self) -> torch.nn.Module:
        c = self.config
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        if self.module_class is GMF:
            return GMF(n_users, n_items, c.factors)
        if self.module_class is MLP:
            return MLP(n_users, n_items, c.layers, c.dropout)
        return NeuMF(n_users, n_items, c.factors, c.layers, c.dropout)

    def _validator(self, validation: HeldOut | None):
        if validation is None or validation.negatives is None:
            return None

        def validate(model: torch.nn.Module) -> dict[str, float]:
            device = next(model.parameters()).device

            def score_pairs(users: np.ndarray, items: np.ndarray) -> np.ndarray:
                users_t = torch.from_numpy(users)[:, None].expand(items.shape)
                return model(users_t.to(device), torch.from_numpy(items).to(device)
                             ).float().cpu().numpy()

            return sampled_metrics(score_pairs, validation, self.popularity, cutoffs=(10,))
        return validate

    def _train(self, module: torch.nn.Module, train: Interactions, validation: HeldOut | None,
               trainer_config: TrainerConfig) -> torch.nn.Module:
        c = self.config
        pairs = self.seen.tocoo()
        users, items = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
        steps = -(-len(users) * (1 + c.negatives) // trainer_config.batch_size)
        stage = type(module).__name__
        if validation is None and c.stage_epochs and stage in c.stage_epochs:
            trainer_config = trainer_config.model_copy(
                update={"epochs": c.stage_epochs[stage], "patience": None})
        trainer = Trainer(module, trainer_config)
        validate = self._validator(validation)
        result = trainer.fit(
            lambda epoch: _epoch_batches(users, items, self.seen, c.negatives,
                                         trainer_config.batch_size, trainer_config.seed, epoch),
            _bce, validate=validate, steps_per_epoch=steps)
        self.history += [{"stage": stage, **r} for r in result.history]
        return trainer.model.cpu().eval()

    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        c = self.config
        trainer_config = c.trainer.model_copy(update={"show_progress": show_progress})
        torch.manual_seed(trainer_config.seed)
        module = self._build()
        if isinstance(module, NeuMF) and c.pretrain:
            n_users, n_items = len(self.user_ids), len(self.item_ids)
            gmf = self._train(GMF(n_users, n_items, c.factors), train, validation, trainer_config)
            mlp = self._train(MLP(n_users, n_items, c.layers, c.dropout), train, validation,
                              trainer_config)
            module.load_pretrained(gmf, mlp)
            # fine-tuning a pretrained NeuMF wants a smaller step (the paper switches to SGD)
            trainer_config = trainer_config.model_copy(update={"lr": trainer_config.lr / 10})
        self.module = self._train(module, train, validation, trainer_config)

    @torch.no_grad()
    def score_users(self, users: np.ndarray) -> np.ndarray:
        n_items = len(self.item_ids)
        items = torch.arange(n_items)
        out = np.empty((len(users), n_items), dtype=np.float32)
        for row, user in enumerate(np.asarray(users)):
            out[row] = self.module(torch.full((n_items,), int(user)), items).numpy()
        return out

    @torch.no_grad()
    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users_t = torch.as_tensor(np.asarray(users)).reshape(-1, *([1] * (items.ndim - 1)))
        items_t = torch.as_tensor(np.asarray(items))
        return self.module(users_t.expand_as(items_t), items_t).double().numpy()

    def item_vectors(self) -> np.ndarray:
        embedding = self.module.item if hasattr(self.module, "item") else self.module.gmf.item
        return embedding.weight.detach().numpy()

    def _arrays(self) -> dict[str, Any]:
        return dict(self.module.state_dict())

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.module = self._build()
        self.module.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()})
        self.module.eval()


@register
class GMFRecommender(NCFRecommender):
    family = "gmf"
    module_class = GMF


@register
class MLPRecommender(NCFRecommender):
    family = "mlp"
    module_class = MLP


@register
class NeuMFRecommender(NCFRecommender):
    family = "neumf"
    module_class = NeuMF
