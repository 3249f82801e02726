"""Choose hybrid fusion settings on a validation split by maximising a metric (NDCG@10).

Retrieval runs once; each trial re-runs only the later stages (`SearchPipeline.finish`), the
same code `evaluate` and the server run, so boosts and the threshold are part of what is tuned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from neurank.config import FusionConfig
from neurank.data.beir import BeirDataset
from neurank.eval.metrics import evaluate_run, parse_metric
from neurank.search.fusion import FusionScorer
from neurank.search.pipeline import SearchPipeline


@dataclass
class TuneResult:
    best: FusionConfig
    score: float
    metric: str
    trials: list[tuple[FusionConfig, float]]
    per_query: np.ndarray
    """(settings, queries): the metric of every query under every setting of `trials`"""
    query_ids: list[str]


@dataclass
class CrossValidation:
    score: float
    """mean over all queries, each scored by the settings chosen on the other folds"""
    fold_scores: list[float]
    fold_choices: list[FusionConfig]


def cross_validate(result: TuneResult, folds: int, seed: int = 0) -> CrossValidation:
    """K-fold estimate of what tuning on this split is worth on queries it did not see: for
    each fold the setting with the best mean on the other folds scores the fold's queries."""
    n = len(result.query_ids)
    if not 2 <= folds <= n:
        raise ValueError(f"--cv needs 2 to {n} folds (one query at least per fold), got {folds}")
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    held_scores = np.empty(n)
    fold_scores, choices = [], []
    for fold in range(folds):
        held = fold_of == fold
        chosen = int(np.argmax(result.per_query[:, ~held].mean(axis=1)))  # first of ties
        held_scores[held] = result.per_query[chosen, held]
        fold_scores.append(float(held_scores[held].mean()))
        choices.append(result.trials[chosen][0])
    return CrossValidation(float(held_scores.mean()), fold_scores, choices)


def default_grid(base: FusionConfig) -> list[FusionConfig]:
    """Weighted fusion (min-max, z-score) over dense weights 0..1, and RRF over k and weight."""
    grid = []
    for normalization in ("minmax", "zscore"):
        for w in np.round(np.linspace(0.0, 1.0, 21), 2):
            grid.append(base.model_copy(update={"method": "weighted",
                                                "normalization": normalization,
                                                "dense_weight": float(w)}))
    for rrf_k in (10, 30, 60, 100):
        for w in np.round(np.linspace(0.1, 0.9, 9), 2):
            grid.append(base.model_copy(update={"method": "rrf", "rrf_k": rrf_k,
                                                "dense_weight": float(w)}))
    return grid


def tune_fusion(
    pipeline: SearchPipeline,
    dataset: BeirDataset,
    *,
    metric: str = "ndcg@10",
    grid: list[FusionConfig] | None = None,
    show_progress: bool = True,
) -> TuneResult:
    """Score every fusion setting on `dataset` through the pipeline's own later stages."""
    _, k = parse_metric(metric)
    if not dataset.qrels:
        raise ValueError(f"split {dataset.split!r} of {dataset.name} has no judged queries")
    grid = grid or default_grid(pipeline.fusion)
    qids = list(dataset.queries)
    candidates = pipeline.candidates([dataset.queries[q] for q in qids], mode="hybrid",
                                     depth=pipeline.depth("hybrid", k),
                                     show_progress=show_progress)
    trials = []
    per_query = np.zeros((len(grid), len(dataset.qrels)))
    judged = list(dataset.qrels)
    for row, config in enumerate(tqdm(grid, desc="tuning fusion", disable=not show_progress)):
        scorer = FusionScorer(config)
        run = {}
        for qid, cands in zip(qids, candidates, strict=True):
            ranking = pipeline.finish(cands, k, scorer)
            run[qid] = dict(zip(pipeline.collection.ids_of(ranking.rows), ranking.score.tolist(),
                                strict=True))
        means, values = evaluate_run(run, dataset.qrels, [metric])
        per_query[row] = [values[q][metric] for q in judged]
        trials.append((config, means[metric]))
    best, best_score = max(trials, key=lambda t: t[1])  # first of equal scores wins
    return TuneResult(best=best, score=best_score, metric=metric, trials=trials,
                      per_query=per_query, query_ids=judged)
