"""The profile model as a recommender: trained by the Trainer on training users' profiles and
liked items, it ranks every item for a profile it has never seen (see models/profile.py).

Training, per batch of users: a softmax over all items of the user's liked items (the main
head), cross-entropy of the predicted category affinity against the categories of those items,
and the squared error of the predicted rating on the user's rated items; weighted by
`loss_weights`, plus an L2 penalty on the embeddings. Profiles are augmented each epoch
(numbers jittered, multi-valued and categorical fields dropped at random). A seeded share of
the training users is carved out to choose the epoch (NDCG@10 over all items, from the
profile alone: the cold-user protocol in miniature).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import BaseModel, ConfigDict, Field

from neurank.config import TrainerConfig
from neurank.data.interactions import HeldOut, Interactions
from neurank.encoders.resolve import DEFAULT_MODEL
from neurank.errors import NeurankError
from neurank.eval.protocols import full_ranking_metrics
from neurank.models.profile import FeatureTower, ProfileNet
from neurank.recommend.base import top_k_rows
from neurank.recommend.profile_base import ProfileRecommender
from neurank.recommend.profile_features import (
    EncodedFeatures,
    FeatureEncoder,
    Kind,
    segment_fields,
)
from neurank.recommend.registry import register
from neurank.training.trainer import Trainer

MAX_RATED_PER_USER = 64
ALPHA_PER_USER = 2 / 3
"""prior smoothing per training user: 500 pseudo-counts on ML-100K's 754, the best of a sweep"""


class AugmentConfig(BaseModel):
    """Training-time profile augmentation (the note: age +-5, budget +-25%, hobby dropout)."""

    model_config = ConfigDict(extra="forbid")
    numeric_jitter: float = Field(0.15, ge=0.0, description="relative noise on numeric fields")
    multi_dropout: float = Field(0.3, ge=0.0, lt=1.0,
                                 description="chance to drop each value of a list field")
    categorical_dropout: float = Field(0.1, ge=0.0, lt=1.0,
                                       description="chance to blank a categorical field")


class ProfileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dim: int = Field(32, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    alpha: float | None = Field(
        None, gt=0.0, description="segment prior smoothing in pseudo-counts (default: "
                                  "ALPHA_PER_USER x the training users with likes)")
    use_prior: bool = True
    use_text: bool = Field(True, description="embed text fields (item titles) with text_model")
    item_ids: bool = Field(True, description="id embedding for items with training history")
    text_model: str = DEFAULT_MODEL
    user_fields: list[str] | None = None
    item_fields: list[str] | None = None
    kinds: dict[str, Kind] = Field(default_factory=dict,
                                   description="field -> kind, where inference is not wanted")
    category_field: str | None = Field(
        None, description="item field of categories (default: the first list field, e.g. genres)")
    min_count: int = Field(3, ge=1)
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"score": 1.0, "category": 0.2, "rating": 0.2})
    embedding_l2: float = Field(1e-4, ge=0.0)
    augment: AugmentConfig | None = AugmentConfig()
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    trainer: TrainerConfig = TrainerConfig(
        epochs=40, batch_size=64, lr=2e-3, weight_decay=0.0, patience=6, monitor="ndcg@10",
        schedule="plateau", plateau_patience=2, module_lrs={"prior_weights": 1e-2})


def augment_profiles(profiles: list[dict[str, Any]], kinds: dict[str, Kind],
                     config: AugmentConfig, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Copies of `profiles` with jittered numbers and randomly dropped values."""
    out = []
    for profile in profiles:
        record = dict(profile)
        for field, value in profile.items():
            kind = kinds.get(field)
            if kind == "numeric" and isinstance(value, int | float) and config.numeric_jitter:
                record[field] = value * (1 + rng.uniform(-config.numeric_jitter,
                                                         config.numeric_jitter))
            elif kind == "multi" and isinstance(value, list) and config.multi_dropout:
                kept = [v for v in value if rng.random() >= config.multi_dropout]
                record[field] = kept or value[:1]
            elif kind == "categorical" and rng.random() < config.categorical_dropout:
                del record[field]
        out.append(record)
    return out


@functools.lru_cache(maxsize=2)
def _sentence_encoder(model: str):
    from neurank.encoders.resolve import load_encoder

    return load_encoder(model)


def segment_counts(categorical: np.ndarray, liked: sp.csr_matrix, *, slots: list[int],
                   size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(categorical slot x items) counts of liked items over the users' segment values, and
    per-item counts, from a sparse users x items matrix."""
    users = np.arange(len(categorical))
    counts = np.zeros((size, liked.shape[1]), dtype=np.float32)
    for slot in slots:
        membership = sp.csr_matrix((np.ones(len(users), dtype=np.float32),
                                    (categorical[:, slot], users)), shape=(size, len(users)))
        counts += np.asarray((membership @ liked).todense(), dtype=np.float32)
    return (torch.from_numpy(counts),
            torch.from_numpy(np.asarray(liked.sum(axis=0), dtype=np.float32).ravel()))


def profile_loss(model: ProfileNet, batch: tuple[torch.Tensor, ...], *, config: ProfileConfig,
                 scale: float) -> torch.Tensor:
    """Weighted sum of the three heads' losses and the embedding penalty (module docstring)."""
    categorical, multi, numeric, text, liked, category_mass, rated, rating, rated_mask = batch
    weights = config.loss_weights
    users = model.user_vectors(categorical, multi, numeric, text)
    items = model.item_vectors()
    scores = model.scores(users, items, categorical, exclude=liked)
    total = weights.get("score", 1.0) * -(torch.log_softmax(scores, 1) * liked).sum(1).mean()
    total = total / scale
    if weights.get("category") and model.category_head is not None:
        has = (category_mass.sum(1) > 0).float()
        mass = category_mass / category_mass.sum(1, keepdim=True).clamp(min=1e-9)
        entropy = -(torch.log_softmax(model.category_logits(users), 1) * mass).sum(1)
        total = total + weights["category"] * (entropy * has).sum() / has.sum().clamp(min=1)
    if weights.get("rating") and rated_mask.any():
        error = (model.rating(users, items[rated]) - rating) ** 2 * rated_mask
        total = total + weights["rating"] * error.sum() / rated_mask.sum()
    if config.embedding_l2:
        total = total + config.embedding_l2 * (users.pow(2).sum(1).mean()
                                               + items.pow(2).sum(1).mean())
    return total


@torch.no_grad()
def _validation_metrics(model: ProfileNet, encoded: EncodedFeatures, liked: sp.csr_matrix,
                        scale: float, popularity: np.ndarray, chunk: int = 256
                        ) -> dict[str, float]:
    """NDCG@10 / Recall@10 over all items from the profiles alone, and the softmax loss."""
    model.eval()
    device = model.item_bias.device
    tops, nll = [], 0.0
    for start in range(0, len(encoded), chunk):
        part = np.arange(start, min(start + chunk, len(encoded)))
        scores = model(*(t.to(device) for t in _tensors(encoded.take(part)))).float().cpu()
        rows = torch.from_numpy(liked[part].toarray())
        nll += float(-(torch.log_softmax(scores, 1) * rows).sum())
        tops.append(top_k_rows(scores.double().numpy(), 10, popularity))
    model.train()
    relevant = [liked[u].indices for u in range(liked.shape[0])]
    return {**full_ranking_metrics(np.concatenate(tops), relevant, 10),
            "nll": nll / max(liked.shape[0], 1) / scale}


def _tensors(encoded: EncodedFeatures) -> tuple[torch.Tensor, ...]:
    return (torch.from_numpy(encoded.categorical), torch.from_numpy(encoded.multi),
            torch.from_numpy(encoded.numeric), torch.from_numpy(encoded.text))


@register
class ProfileModel(ProfileRecommender[ProfileConfig]):
    family = "profile"
    Config = ProfileConfig

    # ------------------------------------------------------------------ features
    def _text_embedder(self):
        encoder = _sentence_encoder(self.config.text_model)
        return lambda texts: encoder.encode(texts)

    def _fit_encoders(self) -> None:
        c = self.config
        items = self.catalog
        item_records = [items.records[items.index[i]] if items is not None and i in items.index
                        else {} for i in self.item_ids]
        self.item_records = item_records
        self.user_encoder, self.item_encoder = (
            FeatureEncoder.fit(records, kinds=c.kinds, fields=fields, min_count=c.min_count,
                               skip_text=not c.use_text)
            for records, fields in ((self.profiles, c.user_fields), (item_records, c.item_fields)))
        encoders = (self.user_encoder, self.item_encoder)
        embed = self._text_embedder() if any(e.fields_of("text") for e in encoders) else None
        if embed is not None:
            dim = int(np.asarray(embed(["dimension probe"])).shape[1])
            for encoder in encoders:
                encoder.text_dim = dim if encoder.fields_of("text") else 0
        self.item_inputs = self.item_encoder.encode(item_records, embed)
        self._embed = embed

    def _category_matrix(self) -> np.ndarray:
        """(items, categories) normalised membership in the category field's values."""
        field = self.config.category_field or next(iter(self.item_encoder.fields_of("multi")),
                                                   None)
        self.info["category_field"] = field
        if field is None:
            return np.zeros((len(self.item_ids), 0), dtype=np.float32)
        if field not in self.item_encoder.vocab:
            raise NeurankError(f"category_field {field!r} is not a categorical or list field of "
                               f"the items ({sorted(self.item_encoder.vocab)})")
        values = self.item_encoder.vocab[field]
        lookup = {v: i for i, v in enumerate(values)}
        matrix = np.zeros((len(self.item_ids), len(values)), dtype=np.float32)
        for row, record in enumerate(self.item_records):
            value = record.get(field)
            for v in value if isinstance(value, list) else ([value] if value is not None else []):
                matrix[row, lookup.get(str(v), 0)] = 1.0
        return matrix

    def _build(self, num_categories: int, segment_slots: list[int]) -> ProfileNet:
        has_history = self.popularity > 0
        ids = np.where(has_history, np.arange(1, len(self.item_ids) + 1), 0)
        item_inputs = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in
                       zip(("categorical", "multi", "numeric", "text"),
                           _tensors(self.item_inputs), strict=True)}
        item_inputs["ids"] = torch.from_numpy(ids.astype(np.int64) if self.config.item_ids
                                              else np.zeros(len(ids), dtype=np.int64))
        return self._network(item_inputs, segment_slots, num_categories)

    def _network(self, item_inputs: dict[str, torch.Tensor], segment_slots: list[int],
                 num_categories: int) -> ProfileNet:
        c, users, items = self.config, self.user_encoder, self.item_encoder

        def tower(encoder: FeatureEncoder, id_count: int = 0) -> FeatureTower:
            return FeatureTower(encoder.categorical_size, encoder.multi_size,
                                2 * len(encoder.fields_of("numeric")), encoder.text_dim, c.dim,
                                c.dropout, id_count=id_count)
        return ProfileNet(tower(users), tower(items, len(self.item_ids) + 1 if c.item_ids else 0),
                          item_inputs=item_inputs, segment_slots=segment_slots,
                          categorical_size=users.categorical_size,
                          num_categories=num_categories, alpha=self.info["alpha"],
                          use_prior=c.use_prior)

    def _encode_users(self, profiles: list[dict[str, Any]]) -> EncodedFeatures:
        return self.user_encoder.encode(profiles, self._embed)

    # ------------------------------------------------------------------ training
    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        c = self.config
        self.profiles = self._user_profiles()
        self._fit_encoders()
        liked = self.seen.tocsr().astype(np.float32)
        categories = self._category_matrix()
        encoded = self._encode_users(self.profiles)
        fields = segment_fields(self.user_encoder, encoded)
        slots = [self.user_encoder.slot_fields().index(f) for f in fields]
        active = np.flatnonzero(np.diff(liked.indptr) > 0)
        self.info.update(profiles=self.profiles, segment_fields=fields,
                         user_encoder=self.user_encoder.to_json(),
                         item_encoder=self.item_encoder.to_json(),
                         alpha=c.alpha or ALPHA_PER_USER * max(len(active), 1))
        torch.manual_seed(c.trainer.seed)
        self.module = self._build(categories.shape[1], slots)
        order = np.random.default_rng(c.trainer.seed).permutation(active)
        n_val = max(1, round(c.validation_fraction * len(order))) if len(order) > 1 else 0
        val_users, fit_users = np.sort(order[:n_val]), np.sort(order[n_val:])
        if len(fit_users) == 0:
            raise NeurankError("the profile model needs at least two users with liked items")
        counts = functools.partial(segment_counts, encoded.categorical, slots=slots,
                                   size=self.user_encoder.categorical_size)
        only_fit = sp.diags(np.isin(np.arange(len(self.user_ids)), fit_users).astype(np.float32))
        self.module.set_counts(*counts(only_fit @ liked))
        trainer_config = c.trainer.model_copy(update={"show_progress": show_progress})
        steps = -(-len(fit_users) // trainer_config.batch_size)
        scale = float(max(liked[fit_users].sum(axis=1).mean(), 1.0))
        rated = self._rated_pairs(self.ratings or train)

        def batches(epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
            rng = np.random.default_rng([trainer_config.seed, epoch])
            profiles = self.profiles if c.augment is None else augment_profiles(
                self.profiles, self.user_encoder.kinds, c.augment, rng)
            epoch_encoded = self.user_encoder.encode(profiles, text=encoded.text)
            for chunk in np.array_split(rng.permutation(fit_users), steps):
                rows = liked[chunk]
                yield (*_tensors(epoch_encoded.take(chunk)), torch.from_numpy(rows.toarray()),
                       torch.from_numpy(np.asarray(rows @ categories, dtype=np.float32)),
                       *rated(chunk))

        def validate(model: torch.nn.Module) -> dict[str, float]:
            return _validation_metrics(model, encoded.take(val_users), liked[val_users], scale,
                                       self.popularity)

        trainer = Trainer(self.module, trainer_config)
        result = trainer.fit(batches, functools.partial(profile_loss, config=c, scale=scale),
                             validate=validate if n_val else None, steps_per_epoch=steps)
        self.history = result.history
        self.module = trainer.model.cpu().eval()
        self.module.set_counts(*counts(liked))  # serve with every training user's counts

    def _rated_pairs(self, source: Interactions):
        """Per batch of users: up to MAX_RATED_PER_USER rated items, their standardised
        ratings, and a mask (the rating head's targets)."""
        users = np.array([self.user_index.get(u, -1) for u in source.user_ids])[source.users]
        items = np.array([self.item_index.get(i, -1) for i in source.item_ids])[source.items]
        keep = (users >= 0) & (items >= 0)
        matrix = sp.csr_matrix((source.weights[keep], (users[keep], items[keep])),
                               shape=(len(self.user_ids), len(self.item_ids)))
        values = matrix.data
        mean, std = (float(values.mean()), float(values.std() or 1.0)) if len(values) else (0, 1)

        def take(chunk: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            items = np.zeros((len(chunk), MAX_RATED_PER_USER), dtype=np.int64)
            ratings = np.zeros(items.shape, dtype=np.float32)
            mask = np.zeros(items.shape, dtype=np.float32)
            for row, user in enumerate(chunk):
                start, end = matrix.indptr[user], matrix.indptr[user + 1]
                n = min(end - start, MAX_RATED_PER_USER)
                items[row, :n] = matrix.indices[start:start + n]
                ratings[row, :n] = (matrix.data[start:start + n] - mean) / std
                mask[row, :n] = 1.0
            return torch.from_numpy(items), torch.from_numpy(ratings), torch.from_numpy(mask)
        return take

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def score_profiles(self, profiles: list[dict[str, Any]]) -> np.ndarray:
        encoded = self._encode_users(profiles)
        return self.module(*_tensors(encoded)).numpy()

    def explain(self, profile: dict[str, Any], items: list[str], top: int = 3
                ) -> list[list[tuple[str, float]]]:
        """Per item, the profile values whose removal lowers its score most (occlusion; each
        value of a list field such as hobbies on its own)."""
        columns = self._items(items)
        variants: list[tuple[str, dict[str, Any]]] = []
        for name, value in profile.items():
            if name not in self.user_encoder.kinds:
                continue
            if isinstance(value, list):
                variants += [(f"{name}={v}", {**profile, name: [x for x in value if x != v]})
                             for v in value]
            else:
                variants.append((f"{name}={value}",
                                 {k: v for k, v in profile.items() if k != name}))
        if not variants:
            return [[] for _ in items]
        scores = self.score_profiles([profile] + [v for _, v in variants])[:, columns]
        out = []
        for col in range(len(columns)):
            effects = sorted(((label, float(scores[0, col] - scores[row, col]))
                              for row, (label, _) in enumerate(variants, start=1)),
                             key=lambda x: -x[1])
            out.append([e for e in effects[:top] if e[1] > 0])
        return out

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, Any]:
        return dict(self.module.state_dict())

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.profiles = self.info["profiles"]
        self.user_encoder = FeatureEncoder.from_json(self.info["user_encoder"])
        self.item_encoder = FeatureEncoder.from_json(self.info["item_encoder"])
        text_fields = self.user_encoder.fields_of("text")
        self._embed = self._text_embedder() if text_fields else None
        state = {k: torch.as_tensor(v) for k, v in arrays.items()}
        head = state.get("category_head.weight")
        self.module = self._network(
            {name: state[f"item_{name}"] for name in ("categorical", "multi", "numeric", "text",
                                                      "ids")},
            state["segment_slots"].tolist(), 0 if head is None else head.shape[0])
        self.module.load_state_dict(state)
        self.module.eval()
