"""Profile-kNN: the items liked by the training users whose profiles are most similar
(cosine over one-hot categorical values and numeric bands, standardised numbers and
multi-valued fields), weighted by similarity."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from neurank.data.interactions import HeldOut, Interactions
from neurank.recommend.profile_base import ProfileRecommender
from neurank.recommend.profile_features import EncodedFeatures, FeatureEncoder
from neurank.recommend.registry import register
from neurank.topk import top_indices


class ProfileKNNConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    neighbors: int = Field(50, ge=1)
    fields: list[str] | None = Field(None, description="profile fields (default: all but text)")
    min_count: int = Field(3, ge=1)


@register
class ProfileKNN(ProfileRecommender[ProfileKNNConfig]):
    family = "profile-knn"
    Config = ProfileKNNConfig

    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        self.profiles = self._user_profiles()
        encoder = FeatureEncoder.fit(self.profiles, fields=self.config.fields,
                                     min_count=self.config.min_count)
        self.info.update(profiles=self.profiles, encoder=encoder.to_json())
        self.encoder = encoder
        self.user_vectors = self._vectors(self.profiles)

    def _vectors(self, profiles: list[dict[str, Any]]) -> np.ndarray:
        encoded: EncodedFeatures = self.encoder.encode(profiles,
                                                       text=np.zeros((len(profiles), 0)))
        onehot = np.zeros((len(profiles), self.encoder.categorical_size), dtype=np.float32)
        np.put_along_axis(onehot, encoded.categorical, 1.0, axis=1)
        vectors = np.hstack([onehot, encoded.numeric, encoded.multi])
        return vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)

    def score_profiles(self, profiles: list[dict[str, Any]]) -> np.ndarray:
        sims = self._vectors(profiles) @ self.user_vectors.T
        n = min(self.config.neighbors, sims.shape[1])
        # users with equal profiles tie exactly; rounded because BLAS kernels differ in the
        # last bit between CPUs
        nearest = np.stack([top_indices(row, n) for row in np.round(sims, 5)])
        weights = np.zeros_like(sims)
        np.put_along_axis(weights, nearest, np.take_along_axis(sims, nearest, axis=1), axis=1)
        return np.asarray(self.seen.T.dot(weights.T).T, dtype=np.float32)

    def _arrays(self) -> dict[str, Any]:
        return {}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.profiles = self.info["profiles"]
        self.encoder = FeatureEncoder.from_json(self.info["encoder"])
        self.user_vectors = self._vectors(self.profiles)
