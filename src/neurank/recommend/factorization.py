"""iALS and BPR-MF, fitted by the `implicit` package; scoring is a numpy dot product."""

from __future__ import annotations

from typing import Any

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from pydantic import BaseModel, ConfigDict, Field
from threadpoolctl import threadpool_limits

from neurank.data.interactions import HeldOut, Interactions
from neurank.recommend.base import ConfigT, Recommender
from neurank.recommend.registry import register


class ALSConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factors: int = Field(64, ge=1)
    regularization: float = Field(0.05, ge=0.0)
    alpha: float = Field(2.0, gt=0.0, description="confidence of an interaction (implicit: "
                                                  "alpha x value; unobserved pairs weigh 1)")
    iterations: int = Field(15, ge=1)
    seed: int = 0


class BPRConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factors: int = Field(64, ge=1)
    learning_rate: float = Field(0.05, gt=0.0)
    regularization: float = Field(0.01, ge=0.0)
    iterations: int = Field(100, ge=1)
    seed: int = 0


class _Factorization(Recommender[ConfigT]):
    """Scores are user_factors @ item_factors.T."""

    def _engine(self) -> Any:
        raise NotImplementedError

    def _fit(self, train: Interactions, validation: HeldOut | None, show_progress: bool) -> None:
        # implicit parallelises itself; a BLAS thread pool underneath it only contends. implicit
        # is imported at module level so its own BLAS is loaded before the limit applies.
        with threadpool_limits(1, "blas"):
            engine = self._engine()
            engine.fit(self.seen.astype(np.float32).tocsr(), show_progress=show_progress)
        self.user_factors = np.asarray(engine.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(engine.item_factors, dtype=np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T

    def item_vectors(self) -> np.ndarray:
        return self.item_factors

    def _arrays(self) -> dict[str, Any]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors, self.item_factors = arrays["user_factors"], arrays["item_factors"]


@register
class ALS(_Factorization[ALSConfig]):
    family = "als"
    Config = ALSConfig

    def _engine(self) -> Any:
        c = self.config
        return AlternatingLeastSquares(factors=c.factors, regularization=c.regularization,
                                       alpha=c.alpha, iterations=c.iterations,
                                       random_state=c.seed)


    def fold_in(self, items: np.ndarray) -> np.ndarray:
        """iALS fold-in (implicit's `recalculate_user`): the user factors that least-squares fit
        the given items with confidence alpha (implicit's convention), item factors fixed."""
        c = self.config
        factors = self.item_factors.astype(np.float64)
        known = factors[items]
        gram = factors.T @ factors + (c.alpha - 1.0) * known.T @ known
        gram += c.regularization * np.eye(factors.shape[1])
        user = np.linalg.solve(gram, c.alpha * known.sum(axis=0))
        return factors @ user


@register
class BPR(_Factorization[BPRConfig]):
    family = "bpr"
    Config = BPRConfig

    def _engine(self) -> Any:
        c = self.config
        # one thread: implicit's multi-threaded SGD races (Hogwild), so the same seed gave
        # other factors on every run and the benchmark rows could not be reproduced
        return BayesianPersonalizedRanking(factors=c.factors, learning_rate=c.learning_rate,
                                           regularization=c.regularization,
                                           iterations=c.iterations, random_state=c.seed,
                                           num_threads=1)
