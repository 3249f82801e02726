"""Blend: a weighted sum of per-user z-normalised scores of several fitted recommenders.

Item-based models (ItemKNN, RP3beta, EASE) and factor models (iALS) make different mistakes; a
blend whose components and weights are chosen on the validation split beats each of them.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from neurank.data.interactions import HeldOut, Interactions
from neurank.eval.protocols import sampled_candidates, sampled_metrics_from_scores
from neurank.recommend.base import Recommender
from neurank.recommend.registry import MODELS, register
from neurank.search.fusion import zscore


class Component(BaseModel):
    model_config = ConfigDict(extra="forbid")
    family: str
    config: dict[str, Any]
    weight: float = Field(ge=0.0)


class BlendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    components: list[Component] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_weight(self) -> BlendConfig:
        if self.components and not any(c.weight > 0 for c in self.components):
            raise ValueError("at least one blend component needs a positive weight")
        return self


def simplex(k: int, step: float = 0.1) -> list[tuple[float, ...]]:
    """Weight vectors of length k on a grid, summing to one."""
    units = round(1 / step)
    return [tuple(c / units for c in combo) for combo in itertools.product(range(units + 1),
                                                                           repeat=k)
            if sum(combo) == units]


def choose_weights(models: list[Recommender], validation: HeldOut) -> tuple[tuple[float, ...],
                                                                            float]:
    """The simplex weights with the best validation NDCG@10 (scores blended per user)."""
    candidates = sampled_candidates(validation)
    gathered = []
    for model in models:
        rows = np.empty(candidates.shape)
        for start in range(0, len(candidates), 256):
            part = slice(start, start + 256)
            rows[part] = np.take_along_axis(zscore(model.score_users(validation.users[part])),
                                            candidates[part], axis=1)
        gathered.append(rows)
    best, best_score = None, -1.0
    for weights in simplex(len(models)):
        scores = sum(w * g for w, g in zip(weights, gathered, strict=True))
        score = sampled_metrics_from_scores(scores, candidates, models[0].popularity,
                                            cutoffs=(10,))["ndcg@10"]
        if score > best_score:
            best, best_score = weights, score
    assert best is not None
    return best, best_score


@register
class Blend(Recommender[BlendConfig]):
    family = "blend"
    Config = BlendConfig

    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        components: list[Component] = self.config.components
        if not components:
            raise ValueError("a blend needs components (choose them with select_model)")
        self.models = []
        for component in components:
            cls = MODELS[component.family]
            self.models.append(cls(cls.Config.model_validate(component.config)).fit(
                train, validation, show_progress=show_progress))

    def score_users(self, users: np.ndarray) -> np.ndarray:
        weights = [c.weight for c in self.config.components]
        return sum(w * zscore(m.score_users(users)) for w, m in zip(weights, self.models,
                                                                    strict=True)
                   if w > 0).astype(np.float32)

    def item_vectors(self) -> np.ndarray | sp.spmatrix:
        weights = [c.weight for c in self.config.components]
        return self.models[int(np.argmax(weights))].item_vectors()

    def _arrays(self) -> dict[str, Any]:
        return {f"{i}.{name}": value for i, model in enumerate(self.models)
                for name, value in model._arrays().items()}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.models = []
        for i, component in enumerate(self.config.components):
            cls = MODELS[component.family]
            model = cls(cls.Config.model_validate(component.config))
            model.user_ids, model.item_ids = self.user_ids, self.item_ids
            model.seen, model.popularity = self.seen, self.popularity
            model._index_maps()
            prefix = f"{i}."
            model._restore({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            self.models.append(model)


def blend_of_fitted(models: list[Recommender], config: BlendConfig) -> Blend:
    """A Blend over already-fitted models (same data), without refitting them."""
    blend = Blend(config)
    first = models[0]
    blend.user_ids, blend.item_ids = first.user_ids, first.item_ids
    blend.seen, blend.popularity = first.seen, first.popularity
    blend._index_maps()
    blend.models = list(models)
    return blend
