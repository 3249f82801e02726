"""The small base every recommender implements (fit, recommend, score, similar_items, save/load).

Subclasses provide `_fit`, `score_users` (scores of all items for user indices) and their saved
arrays; this class owns id maps, seen-item exclusion, popularity tie-breaking, cold start and the
checkpoint format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel

from neurank.data.interactions import HeldOut, Interactions
from neurank.data.profiles import FeatureTable
from neurank.errors import NeurankError, NotFoundError
from neurank.topk import top_indices
from neurank.training.checkpoint import save_checkpoint

_USER_CHUNK = 256
ConfigT = TypeVar("ConfigT", bound=BaseModel)


@dataclass
class Recommendations:
    """Top items for one user; `cold_start` marks answers for users the model has not trained
    on, and `source` says which step of the cold-start chain answered (collaborative, fold-in,
    profile, popularity)."""

    user: str
    items: list[str]
    scores: list[float]
    cold_start: bool = False
    source: str = "collaborative"
    details: list[dict[str, Any]] = field(default_factory=list)
    """per item, catalog fields (title, ...) and an explanation when asked for"""

    def to_dict(self) -> dict[str, Any]:
        rows = [{"item": i, "score": s} for i, s in zip(self.items, self.scores, strict=True)]
        for row, extra in zip(rows, self.details, strict=False):
            row.update(extra)
        return {"user": self.user, "cold_start": self.cold_start, "source": self.source,
                "items": rows}


def top_k_rows(scores: np.ndarray, k: int, tiebreak: np.ndarray) -> np.ndarray:
    """Per row, the indices of the k best finite scores; exact ties go to the higher tiebreak."""
    out = np.full((len(scores), k), -1, dtype=np.int64)
    for r, row in enumerate(scores):
        top = top_indices(row, k, tiebreak)
        out[r, :len(top)] = top
    return out


class Recommender(ABC, Generic[ConfigT]):
    """Base class, generic over its config; see the module docstring."""

    family: ClassVar[str]
    Config: ClassVar[type[BaseModel]]
    source: ClassVar[str] = "collaborative"
    """what answers a known user (the cold-start chain's name for this model)"""

    def __init__(self, config: ConfigT | None = None) -> None:
        self.config: ConfigT = config if config is not None else self.Config()  # type: ignore[assignment]
        self.user_ids: list[str] = []
        self.item_ids: list[str] = []
        self.seen = sp.csr_matrix((0, 0), dtype=np.float32)
        self.popularity = np.zeros(0)
        self.history: list[dict[str, float]] = []
        self.info: dict[str, Any] = {}
        self.catalog: FeatureTable | None = None
        """item records (title, genres, price, ...) shown with recommendations and filtered on"""

    # ------------------------------------------------------------------ fitting
    def fit(self, train: Interactions, validation: HeldOut | None = None, *,
            show_progress: bool = False) -> Recommender:
        """Learn from `train`; `validation` (held-out items + negatives) drives early stopping."""
        if len(train) == 0:
            raise NeurankError("no training interactions")
        self.user_ids, self.item_ids = list(train.user_ids), list(train.item_ids)
        self.seen = train.matrix()
        self.popularity = train.item_counts()
        self._index_maps()
        self._fit(train, validation, show_progress)
        return self

    def _index_maps(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {t: i for i, t in enumerate(self.item_ids)}

    @abstractmethod
    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        """Model-specific training."""

    # ------------------------------------------------------------------ scoring
    @abstractmethod
    def score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), num_items) scores for user indices."""

    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores of items (rows of item indices) for users; same shape as `items`."""
        users, items = np.asarray(users), np.asarray(items)
        out = np.empty(items.shape, dtype=np.float64)
        for start in range(0, len(users), _USER_CHUNK):
            chunk = slice(start, start + _USER_CHUNK)
            scores = self.score_users(users[chunk])
            out[chunk] = np.take_along_axis(scores, items[chunk].reshape(len(scores), -1),
                                            axis=1).reshape(out[chunk].shape)
        return out

    def score(self, user: str, items: list[str]) -> list[float]:
        """Scores of named items for a known user."""
        u = self._user(user)
        if u is None:
            raise NotFoundError(f"unknown user {user!r}")
        return self.score_pairs(np.array([u]), np.array([self._items(items)]))[0].tolist()

    def _user(self, user: str) -> int | None:
        return self.user_index.get(str(user))

    def _items(self, items: list[str]) -> np.ndarray:
        unknown = [i for i in items if str(i) not in self.item_index]
        if unknown:
            raise NotFoundError(f"unknown item id(s) {unknown[:5]}")
        return np.asarray([self.item_index[str(i)] for i in items], dtype=np.int64)

    # ------------------------------------------------------------------ recommending
    def recommend(self, users: list[str], k: int = 10, *, exclude_seen: bool = True,
                  items: list[str] | None = None) -> list[Recommendations]:
        """Top-k items per user; unknown users get the most popular items, flagged cold_start."""
        if k < 1:
            raise NeurankError(f"k must be at least 1, got {k}")
        k = min(k, len(self.item_ids))  # a huge k must not allocate users x k
        candidates = self._items(items) if items is not None else None
        known = [(pos, u) for pos, user in enumerate(users)
                 if (u := self._user(user)) is not None]
        results: list[Recommendations | None] = [None] * len(users)
        for start in range(0, len(known), _USER_CHUNK):
            chunk = known[start:start + _USER_CHUNK]
            idx = np.array([u for _, u in chunk])
            scores = self.score_users(idx).astype(np.float64)
            for (pos, _), top, row in zip(chunk, self.top_items(scores, idx, k, exclude_seen,
                                                           candidates), scores, strict=True):
                top = top[top >= 0]
                results[pos] = Recommendations(str(users[pos]), [self.item_ids[i] for i in top],
                                               row[top].tolist(), source=self.source)
        for pos, user in enumerate(users):
            if results[pos] is None:
                scores = self.popularity[None, :].astype(np.float64)
                top = self.top_items(scores, None, k, False, candidates)[0]
                top = top[top >= 0]
                results[pos] = Recommendations(str(user), [self.item_ids[i] for i in top],
                                               scores[0, top].tolist(), cold_start=True,
                                               source="popularity")
        return results  # type: ignore[return-value]

    def top_items(self, scores: np.ndarray, users: np.ndarray | None, k: int, exclude_seen: bool,
                  candidates: np.ndarray | None = None) -> np.ndarray:
        """Top-k item indices per score row: candidates only, seen items of `users` excluded,
        exact ties to the more popular item (shared by `recommend` and the full protocol)."""
        if candidates is not None:
            mask = np.full(scores.shape[1], -np.inf)
            mask[candidates] = 0.0
            scores = scores + mask
        if exclude_seen and users is not None:
            seen = self.seen[users].tocoo()
            scores[seen.row, seen.col] = -np.inf
        return top_k_rows(scores, k, self.popularity)

    def similar_items(self, items: list[str], k: int = 10) -> list[list[tuple[str, float]]]:
        """For each of `items` (a list, like `recommend`'s users), the `k` most similar items
        by cosine of item representations; unknown ids are an error."""
        if isinstance(items, str):
            raise TypeError("similar_items takes a list of item ids, like recommend takes users")
        js = np.asarray(self._items(items), dtype=np.int64)
        sims = self.item_cosines(js)
        sims[np.arange(len(js)), js] = -np.inf
        top = top_k_rows(sims, k, self.popularity)
        return [[(self.item_ids[i], float(sims[row, i])) for i in top[row] if i >= 0]
                for row in range(len(js))]

    def fold_in(self, items: np.ndarray) -> np.ndarray:
        """Scores of every item for a new user who interacted with `items` (indices), without
        retraining; default: summed cosine similarity to those items' representations."""
        return self.item_cosines(np.asarray(items, dtype=np.int64)).sum(axis=0)

    def item_cosines(self, js: np.ndarray) -> np.ndarray:
        """(len(js), num_items) cosine of items `js` with every item's representation."""
        vectors = self.item_vectors()
        if sp.issparse(vectors):  # never densify: item x item can be gigabytes
            vectors = sp.csr_matrix(vectors)
            dots = np.asarray((vectors[js] @ vectors.T).todense(), dtype=np.float64)
            norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1),
                                       dtype=np.float64).ravel()) + 1e-12
        else:
            vectors = np.asarray(vectors, dtype=np.float64)  # float32 rounding reorders near-ties
            dots = vectors[js] @ vectors.T
            norms = np.linalg.norm(vectors, axis=1) + 1e-12
        return dots / (norms[None, :] * norms[js][:, None])

    def item_vectors(self) -> np.ndarray | sp.spmatrix:
        """Item representations for `similar_items` (dense or sparse rows); default: the
        item's column of users."""
        return self.seen.T.tocsr()

    # ------------------------------------------------------------------ persistence
    @abstractmethod
    def _arrays(self) -> dict[str, Any]:
        """Model arrays to save (numpy arrays or tensors)."""

    @abstractmethod
    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Rebuild the model from saved arrays (after config and ids are set)."""

    def save(self, folder: str | Path, *, metrics: dict[str, Any] | None = None) -> Path:
        """Checkpoint folder: arrays in safetensors, config + ids + history in the manifest."""
        seen = self.seen.tocsr()
        arrays = {f"model.{k}": v for k, v in self._arrays().items()}
        arrays.update({"seen.indptr": seen.indptr.astype(np.int64),
                       "seen.indices": seen.indices.astype(np.int64),
                       "popularity": self.popularity})
        return save_checkpoint(folder, kind=f"recommender/{self.family}", tensors=arrays,
                               ids={"users": self.user_ids, "items": self.item_ids},
                               meta={"family": self.family,
                                     "config": self.config.model_dump(mode="json"),
                                     "history": self.history, "metrics": metrics or {},
                                     "info": self.info, "catalog": None if self.catalog is None
                                     else {"ids": self.catalog.ids,
                                           "records": self.catalog.records,
                                           "source": self.catalog.source}})

    @classmethod
    def from_checkpoint(cls, meta: dict[str, Any], ids: dict[str, list[str]],
                        arrays: dict[str, np.ndarray]) -> Recommender:
        model = cls(cls.Config.model_validate(meta["config"]))  # type: ignore[arg-type]
        model.user_ids, model.item_ids = ids["users"], ids["items"]
        model.popularity = arrays["popularity"]
        n_users, n_items = len(model.user_ids), len(model.item_ids)
        indptr, indices = arrays["seen.indptr"], arrays["seen.indices"]
        model.seen = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                                   shape=(n_users, n_items))
        model.history, model.info = meta.get("history", []), meta.get("info", {})
        if meta.get("catalog"):
            model.catalog = FeatureTable(**meta["catalog"])
        model._index_maps()
        model._restore({k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")})
        return model
