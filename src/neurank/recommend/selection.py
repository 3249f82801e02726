"""Choose a model family and its hyperparameters on a validation split carved from train.

The validation split holds out each user's latest training interaction with 99 sampled
negatives; the test file is never looked at. The winner is refitted on the whole train set
(NCF models for the number of epochs that validation chose).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from neurank.data.interactions import Interactions, validation_split
from neurank.errors import NeurankError
from neurank.recommend import MODELS, Recommender
from neurank.recommend.evaluation import evaluate_sampled
from neurank.recommend.ncf import NCFConfig

# Cheap families first, so a short budget still tries the strong closed-form models.
GRIDS: dict[str, list[dict[str, Any]]] = {
    "pop": [{}],
    "ease": [{"l2": v} for v in (50.0, 150.0, 500.0, 1500.0)],
    "itemknn": [{"neighbors": n, "shrink": s} for n in (50, 200, 800) for s in (0.0, 20.0)],
    "als": [{"factors": f, "regularization": r, "alpha": a}
            for f in (64, 128) for r in (0.05, 0.5) for a in (1.0, 5.0)],
    "bpr": [{"factors": f, "learning_rate": lr, "regularization": r}
            for f in (64, 128) for lr in (0.01, 0.05) for r in (0.001, 0.01)],
    "gmf": [{}],
    "mlp": [{}],
    "neumf": [{}],
}


@dataclass
class Trial:
    family: str
    config: dict[str, Any]
    metrics: dict[str, float]
    seconds: float


@dataclass
class Selection:
    model: Recommender
    trials: list[Trial] = field(default_factory=list)
    fit_seconds: float = 0.0
    """time of the final fit on the whole train set"""

    @property
    def best(self) -> Trial:
        return max(self.trials, key=lambda t: t.metrics["ndcg@10"])


def _refit_config(model: Recommender) -> BaseModel:
    """The chosen config, with NCF stage epochs fixed to what validation picked."""
    config = model.config
    if isinstance(config, NCFConfig):
        best: dict[str, tuple[int, float]] = {}
        for record in model.history:
            stage, score = record["stage"], record.get("ndcg@10")
            if score is not None and (stage not in best or score > best[stage][1]):
                best[stage] = (int(record["epoch"]), score)
        return config.model_copy(update={"stage_epochs": {s: e for s, (e, _) in best.items()}})
    return config


def select_model(
    train: Interactions,
    family: str = "auto",
    *,
    budget_s: float = 300.0,
    seed: int = 0,
    grids: dict[str, list[dict[str, Any]]] | None = None,
    show_progress: bool = False,
    log=print,
) -> Selection:
    """Fit every candidate on train minus validation, keep the best NDCG@10, refit on train."""
    grids = grids or GRIDS
    families = list(grids) if family == "auto" else [family]
    unknown = [f for f in families if f not in MODELS]
    if unknown:
        raise NeurankError(f"unknown model {unknown[0]!r}: use auto or one of {sorted(MODELS)}")
    fit_part, validation = validation_split(train, seed=seed)
    trials: list[Trial] = []
    fitted: list[Recommender] = []
    start = time.monotonic()
    for name in families:
        for overrides in grids.get(name, [{}]):
            if trials and family == "auto" and time.monotonic() - start > budget_s:
                log(f"budget of {budget_s:.0f}s spent; skipping the remaining candidates")
                break
            cls = MODELS[name]
            config = cls.Config.model_validate({**cls.Config().model_dump(), **overrides})
            begun = time.monotonic()
            model = cls(config).fit(fit_part, validation, show_progress=show_progress)
            metrics = evaluate_sampled(model, validation)
            trials.append(Trial(name, config.model_dump(mode="json"), metrics,
                                time.monotonic() - begun))
            fitted.append(model)
            log(f"{name:8s} {overrides} -> validation hr@10={metrics['hr@10']:.4f} "
                f"ndcg@10={metrics['ndcg@10']:.4f} ({trials[-1].seconds:.1f}s)")
    best_index = max(range(len(trials)), key=lambda i: trials[i].metrics["ndcg@10"])
    winner = fitted[best_index]
    begun = time.monotonic()
    final = type(winner)(_refit_config(winner)).fit(train, None, show_progress=show_progress)
    fit_seconds = time.monotonic() - begun
    final.info = {"selection": {"validation": "each user's latest train interaction, "
                                              f"99 sampled negatives (seed {seed})",
                                "trials": [t.__dict__ for t in trials],
                                "chosen": trials[best_index].__dict__}}
    return Selection(final, trials, fit_seconds)
