"""Demographic-segment popularity: the most liked items among users of the same segment
(e.g. gender x age band x occupation), backing off to coarser segments (dropping the field
with the most values first) until the segment holds `min_users` training users."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from neurank.data.interactions import HeldOut, Interactions
from neurank.recommend.profile_base import ProfileRecommender
from neurank.recommend.profile_features import FeatureEncoder, segment_fields
from neurank.recommend.registry import register


class SegmentPopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: list[str] | None = Field(
        None, description="segment fields, dropped from the last when backing off (default: "
                          "the fields that form real segments, fewest values first)")
    min_users: int = Field(10, ge=1, description="back off while a segment has fewer users")
    min_count: int = Field(3, ge=1, description="rarer categorical values share one slot")


@register
class SegmentPopularity(ProfileRecommender[SegmentPopConfig]):
    family = "pop-segment"
    Config = SegmentPopConfig

    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        self.profiles = self._user_profiles()
        encoder = FeatureEncoder.fit(self.profiles, fields=self.config.fields,
                                     min_count=self.config.min_count)
        encoded = encoder.encode(self.profiles, text=np.zeros((len(self.profiles), 0)))
        slots = encoder.slot_fields()
        # coarse fields last to go: gender x age band x occupation backs off to gender x age
        # band, then gender (file order would keep whichever field came first)
        fields = self.config.fields or sorted(
            segment_fields(encoder, encoded),
            key=lambda f: len(np.unique(encoded.categorical[:, slots.index(f)])))
        self.info.update(profiles=self.profiles, encoder=encoder.to_json(), fields=fields)
        self._prepare()
        keys = self._keys(encoded.categorical)
        seen = self.seen.tocsr()
        index: dict[str, int] = {}
        rows: list[np.ndarray] = []
        sizes: list[int] = []
        for level_keys in keys:
            for key in sorted(set(level_keys)):
                members = np.flatnonzero(np.asarray(level_keys) == key)
                index[key] = len(rows)
                rows.append(np.asarray(seen[members].sum(axis=0), dtype=np.float32).ravel())
                sizes.append(len(members))
        self.info["segments"] = index
        self.segment_counts = np.vstack(rows)
        self.segment_sizes = np.asarray(sizes, dtype=np.int64)

    def _prepare(self) -> None:
        self.encoder = FeatureEncoder.from_json(self.info["encoder"])
        slots = self.encoder.slot_fields()
        self.columns = [slots.index(f) for f in self.info["fields"]]

    def _keys(self, categorical: np.ndarray) -> list[list[str]]:
        """Per level (finest first, global last), each row's segment key."""
        return [["/".join(str(v) for v in row[self.columns[:depth]]) + f"#{depth}"
                 for row in categorical] for depth in range(len(self.columns), -1, -1)]

    def score_profiles(self, profiles: list[dict[str, Any]]) -> np.ndarray:
        encoded = self.encoder.encode(profiles, text=np.zeros((len(profiles), 0)))
        segments, sizes = self.info["segments"], self.segment_sizes
        out = np.empty((len(profiles), len(self.item_ids)), dtype=np.float32)
        per_level = self._keys(encoded.categorical)
        for row in range(len(profiles)):
            for level_keys in per_level:  # finest first; the global segment always exists
                found = segments.get(level_keys[row])
                if found is not None and (sizes[found] >= self.config.min_users
                                          or level_keys is per_level[-1]):
                    out[row] = self.segment_counts[found]
                    break
        return out

    def _arrays(self) -> dict[str, Any]:
        return {"segment_counts": self.segment_counts, "segment_sizes": self.segment_sizes}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.segment_counts, self.segment_sizes = arrays["segment_counts"], arrays["segment_sizes"]
        self.profiles = self.info["profiles"]
        self._prepare()
