"""Recommenders that score a user from profile features alone (no history needed).

They keep the training users' profiles, so a known user is scored from its stored profile and
an unseen one from the profile given with the request (`recommend.request.answer`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from neurank.data.interactions import Interactions
from neurank.data.profiles import FeatureTable
from neurank.errors import NeurankError
from neurank.recommend.base import ConfigT, Recommender


class ProfileRecommender(Recommender[ConfigT]):
    """Base of pop-segment, profile-knn and the profile model; see the module docstring."""

    source = "profile"

    def __init__(self, config: ConfigT | None = None) -> None:
        super().__init__(config)
        self.profiles: list[dict[str, Any]] = []
        """the training users' profile records, aligned with `user_ids`"""
        self.user_table: FeatureTable | None = None
        self.ratings: Interactions | None = None

    def with_features(self, users: FeatureTable, items: FeatureTable | None = None,
                      ratings: Interactions | None = None) -> ProfileRecommender:
        """The user profiles (and item features, and all ratings when positives were
        thresholded) to train from; call before `fit`."""
        self.user_table = users
        if items is not None:
            self.catalog = items
        self.ratings = ratings
        return self

    def _user_profiles(self) -> list[dict[str, Any]]:
        if self.user_table is None:
            raise NeurankError(f"the {self.family} recommender needs user features: "
                               "call with_features(users) before fit (CLI: --users FILE)")
        table = self.user_table
        return [table.records[table.index[u]] if u in table.index else {}
                for u in self.user_ids]

    @abstractmethod
    def score_profiles(self, profiles: list[dict[str, Any]]) -> np.ndarray:
        """(len(profiles), num_items) scores from profile records alone."""

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.score_profiles([self.profiles[u] for u in np.asarray(users)])
