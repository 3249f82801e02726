"""Choose hybrid fusion settings on a validation split by maximising a metric (NDCG@10)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from neurank.config import FusionConfig
from neurank.data.beir import BeirDataset
from neurank.eval.metrics import evaluate_run, parse_metric
from neurank.search.fusion import fuse
from neurank.search.pipeline import SearchPipeline


@dataclass
class TuneResult:
    best: FusionConfig
    score: float
    metric: str
    trials: list[tuple[FusionConfig, float]]


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
    """Score every fusion setting on `dataset` (retrieval runs once, fusion is re-applied)."""
    _, k = parse_metric(metric)
    if not dataset.qrels:
        raise ValueError(f"split {dataset.split!r} of {dataset.name} has no judged queries")
    grid = grid or default_grid(pipeline.fusion)
    qids = list(dataset.queries)
    candidates = pipeline.candidates([dataset.queries[q] for q in qids],
                                     show_progress=show_progress)
    doc_ids = [np.asarray(pipeline.collection.ids_of(c.rows), dtype=object) for c in candidates]
    trials = []
    for config in tqdm(grid, desc="tuning fusion", disable=not show_progress):
        run = {}
        for qid, cands, ids in zip(qids, candidates, doc_ids, strict=True):
            fused = fuse(cands, config)
            top = np.lexsort((cands.rows, -fused))[:k]
            run[qid] = dict(zip(ids[top].tolist(), fused[top].tolist(), strict=True))
        score = evaluate_run(run, dataset.qrels, [metric])[0][metric]
        trials.append((config, score))
    best, best_score = max(trials, key=lambda t: t[1])  # first of equal scores wins
    return TuneResult(best=best, score=best_score, metric=metric, trials=trials)
