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
from neurank.recommend.blend import BlendConfig, Component, blend_of_fitted, choose_weights
from neurank.recommend.evaluation import evaluate_sampled
from neurank.recommend.ncf import NCFConfig

# Cheap families first, so a short budget still tries the strong closed-form models.
GRIDS: dict[str, list[dict[str, Any]]] = {
    "pop": [{}],
    "itemknn": [{"neighbors": n, "shrink": s} for n in (100, 500, 2000) for s in (0.0, 10.0, 50.0)],
    "rp3beta": [{"alpha": a, "beta": b, "neighbors": n}
                for a in (0.6, 1.0) for b in (0.2, 0.4, 0.6) for n in (200, 1000)],
    "ease": [{"l2": v} for v in (100.0, 300.0, 1000.0, 3000.0)],
    "als": [{"factors": f, "regularization": r, "alpha": a}
            for f in (32, 128) for r in (0.5, 5.0) for a in (1.0, 10.0)],
    "bpr": [{"factors": f, "learning_rate": lr, "iterations": it}
            for f in (64, 128) for lr in (0.01, 0.05) for it in (100, 300)],
    "gmf": [{}],
    "mlp": [{}],
    "neumf": [{}],
}
# most of the --model auto budget one neural candidate may take (it stops at an epoch boundary)
NEURAL_SHARE = 0.25
# families whose trials `--model blend` runs before blending the best three
BLEND_FAMILIES = ("itemknn", "rp3beta", "ease", "als")
BLEND_SIZE = 3


@dataclass
class Trial:
    family: str
    config: dict[str, Any]
    metrics: dict[str, float]
    seconds: float

    def describe(self) -> str:
        """One line: the family and its settings (a blend as its weighted components)."""
        if self.family == "blend":
            parts = [f"{c['family']} x{c['weight']:.2f}" for c in self.config["components"]
                     if c["weight"] > 0]
            return "blend: " + " + ".join(parts)
        shown = {k: v for k, v in self.config.items() if not isinstance(v, dict | list)}
        return f"{self.family} " + " ".join(f"{k}={v}" for k, v in shown.items())


def schedule(families: list[str], grids: dict[str, list[dict[str, Any]]]
             ) -> list[tuple[str, dict[str, Any]]]:
    """Candidates in rounds: the first setting of every family (cheapest families first),
    then every family's second, and so on, so a short budget has seen each family once
    instead of spending itself on one family's grid."""
    rounds = max(len(grids.get(f, [{}])) for f in families)
    return [(f, grids.get(f, [{}])[r]) for r in range(rounds) for f in families
            if r < len(grids.get(f, [{}]))]


@dataclass
class Selection:
    model: Recommender
    chosen: Trial
    trials: list[Trial] = field(default_factory=list)
    fit_seconds: float = 0.0
    """time of the final fit on the whole train set"""


def _refit_config(model: Recommender) -> BaseModel:
    """The chosen config, with NCF stage epochs fixed to what validation picked."""
    config = model.config
    if isinstance(config, NCFConfig):
        best: dict[str, tuple[int, float]] = {}
        for record in model.history:
            stage, score = record["stage"], record.get("ndcg@10")
            if score is not None and (stage not in best or score > best[stage][1]):
                best[stage] = (int(record["epoch"]), score)
        return config.model_copy(update={
            "stage_epochs": {s: e for s, (e, _) in best.items()},
            "trainer": config.trainer.model_copy(update={"max_time_s": None})})
    return config


def _add_blend_trial(trials: list[Trial], fitted: list[Recommender], validation) -> None:
    """Blend the best config of the top families (by validation NDCG@10), weights on validation."""
    best: dict[str, int] = {}
    for i, trial in enumerate(trials):
        score = trial.metrics["ndcg@10"]
        if trial.family != "pop" and (trial.family not in best
                                      or score > trials[best[trial.family]].metrics["ndcg@10"]):
            best[trial.family] = i
    chosen = sorted(best.values(), key=lambda i: -trials[i].metrics["ndcg@10"])[:BLEND_SIZE]
    if len(chosen) < 2:
        return
    begun = time.monotonic()
    models = [fitted[i] for i in chosen]
    weights, _ = choose_weights(models, validation)
    config = BlendConfig(components=[
        Component(family=trials[i].family, weight=w,
                  config=_refit_config(fitted[i]).model_dump(mode="json"))
        for i, w in zip(chosen, weights, strict=True)])
    blend = blend_of_fitted(models, config)
    trials.append(Trial("blend", config.model_dump(mode="json"),
                        evaluate_sampled(blend, validation), time.monotonic() - begun))
    fitted.append(blend)


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
    if family == "blend":
        grids = {f: grids.get(f, GRIDS[f]) for f in BLEND_FAMILIES}
    families = list(grids) if family in ("auto", "blend") else [family]
    unknown = [f for f in families if f not in MODELS or f == "blend"]
    if unknown:
        raise NeurankError(f"unknown model {unknown[0]!r}: use auto or one of {sorted(MODELS)}")
    fit_part, validation = validation_split(train, seed=seed)
    trials: list[Trial] = []
    fitted: list[Recommender] = []
    start = time.monotonic()
    candidates = schedule(families, grids)
    for done, (name, overrides) in enumerate(candidates):
        if trials and family == "auto" and time.monotonic() - start > budget_s:
            log(f"budget of {budget_s:.0f}s spent; skipping the remaining "
                f"{len(candidates) - done} candidates")
            break
        cls = MODELS[name]
        config = cls.Config.model_validate({**cls.Config().model_dump(), **overrides})
        if family == "auto" and isinstance(config, NCFConfig):
            # a neural candidate stops training at its share of the budget or when it runs out
            remaining = max(budget_s - (time.monotonic() - start), 1.0)
            config = config.model_copy(update={"trainer": config.trainer.model_copy(
                update={"max_time_s": min(remaining, NEURAL_SHARE * budget_s)})})
        begun = time.monotonic()
        model = cls(config).fit(fit_part, validation, show_progress=show_progress)
        metrics = evaluate_sampled(model, validation)
        trials.append(Trial(name, config.model_dump(mode="json"), metrics,
                            time.monotonic() - begun))
        fitted.append(model)
        log(f"{name:8s} {overrides} -> validation hr@10={metrics['hr@10']:.4f} "
            f"ndcg@10={metrics['ndcg@10']:.4f} ({trials[-1].seconds:.1f}s)")
    if family in ("auto", "blend"):
        _add_blend_trial(trials, fitted, validation)
    if family == "blend" and trials[-1].family != "blend":
        raise NeurankError("a blend needs at least two fitted families")
    best_index = (len(trials) - 1 if family == "blend" else
                  max(range(len(trials)), key=lambda i: trials[i].metrics["ndcg@10"]))
    winner = fitted[best_index]
    begun = time.monotonic()
    final = type(winner)(_refit_config(winner)).fit(train, None, show_progress=show_progress)
    fit_seconds = time.monotonic() - begun
    final.info = {"selection": {"validation": "each user's latest train interaction, "
                                              f"99 sampled negatives (seed {seed})",
                                "trials": [t.__dict__ for t in trials],
                                "chosen": trials[best_index].__dict__}}
    return Selection(final, trials[best_index], trials, fit_seconds)
