"""Training a learned ranker on a collection's own candidates and judged queries.

Per training query the pool is the hybrid top-`depth` candidates (the lists the ranker reorders
at search time), the judged relevant documents the retrievers missed, and random documents.
Each epoch a list per query takes every positive, hard negatives (top-ranked non-relevant
candidates: all of them by default, or a sample of `hard_negatives` from the top 3x that many)
and `random_negatives` random ones. A seeded carve of the training queries (never the reported
split) selects the epoch, the fusion weights and the threshold. LambdaMART instead trains one
booster per fold of the training queries (`bags`), each early-stopped on its left-out fold, so
the fusion weights and the threshold are chosen on the out-of-fold scores of every training
query: with Cranfield's 180 training queries a carve leaves only 18 to choose on.

`--cv K` splits the queries into K folds; each fold is scored by a ranker trained on the others,
so the reported out-of-fold figures were never used to choose anything.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from neurank.config import RankerConfig
from neurank.data.beir import BeirDataset
from neurank.errors import NeurankError
from neurank.eval.metrics import evaluate_run
from neurank.losses import RankingLossMix
from neurank.models.ranker import GradedRanker
from neurank.search.candidates import Candidates
from neurank.search.features import FeatureExtractor
from neurank.search.fusion import minmax
from neurank.search.pipeline import SearchPipeline
from neurank.search.ranker import (
    LearnedRanker,
    LearnedScorer,
    RankingList,
    collection_ranker,
    padded_batch,
    ranking_list,
)
from neurank.training.callbacks import Callback
from neurank.training.trainer import Trainer, seed_everything

VALIDATION_METRIC = "ndcg@10"
SELECTION = "ndcg@10, then loss"  # what picks the epoch: NDCG@10, ties to the lower loss
THRESHOLD_METRIC = "f1@3"
FUSION_STEP = 0.1


@dataclass
class TrainedRanker:
    ranker: LearnedRanker
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    best_epoch: int | None = None  # 1-based epoch (boosting round) whose weights were kept


def _with_rows(cands: Candidates, rows: np.ndarray, pipeline: SearchPipeline) -> Candidates:
    """`cands` plus `rows` (unlisted by the retrievers: rank 0), scored exactly by each."""
    rows = np.setdiff1d(rows, cands.rows)
    if not len(rows):
        return cands
    collection = pipeline.collection
    extra = {"bm25": collection.bm25.scores(cands.query)[rows].astype(np.float64),
             "dense": (collection.vectors.vectors_for(rows) @ cands.query_vector).astype(
                 np.float64)}
    return Candidates(
        query=cands.query, rows=np.concatenate([cands.rows, rows]),
        scores={n: np.concatenate([s, extra[n]]) for n, s in cands.scores.items()},
        ranks={n: np.concatenate([r, np.zeros(len(rows), dtype=np.int64)])
               for n, r in cands.ranks.items()},
        query_vector=cands.query_vector, documents=cands.documents)


def ranking_lists(pipeline: SearchPipeline, config: RankerConfig, dataset: BeirDataset,
                  query_ids: list[str], *, pool_random: int = 0, seed: int = 0,
                  show_progress: bool = False) -> list[RankingList]:
    """Labelled lists of the judged `query_ids`: their candidates, plus (for training) the
    missed positives and `pool_random` random documents."""
    collection = pipeline.collection
    rng = np.random.default_rng(seed)
    cands = pipeline.candidates([dataset.queries[q] for q in query_ids], mode="learned",
                                depth=config.depth, show_progress=show_progress)
    extractor = FeatureExtractor(collection.bm25, config.features, collection.documents)
    live = np.asarray([collection.row_of(i) for i in sorted(collection.doc_ids())])
    out = []
    for qid, cand in zip(query_ids, tqdm(cands, desc="features", disable=not show_progress),
                         strict=True):
        judged = dataset.qrels.get(qid, {})
        if pool_random:
            positives = np.asarray([collection.row_of(d) for d, g in judged.items()
                                    if g > 0 and d in collection], dtype=np.int64)
            random_rows = rng.choice(live, size=min(pool_random, len(live)), replace=False)
            cand = _with_rows(cand, np.concatenate([positives, random_rows]), pipeline)
        lst = ranking_list(collection, extractor, cand, qid)
        lst.labels = np.asarray([max(judged.get(d, 0), 0) for d in lst.ids], dtype=np.float32)
        out.append(lst)
    return out


def _sample(lst: RankingList, config: RankerConfig, rng: np.random.Generator) -> RankingList:
    """One epoch's training list of a query: positives, hard and random negatives."""
    positive = lst.labels > 0
    hard = np.flatnonzero(lst.listed & ~positive)
    if config.hard_negatives is not None:
        fused = minmax(lst.bm25[hard]) + minmax(lst.dense[hard])
        top = hard[np.argsort(-fused, kind="stable")[: 3 * config.hard_negatives]]
        hard = rng.choice(top, size=min(config.hard_negatives, len(top)), replace=False)
    randoms = np.flatnonzero(~lst.listed & ~positive)
    randoms = rng.choice(randoms, size=min(config.random_negatives, len(randoms)), replace=False)
    index = np.concatenate([np.flatnonzero(positive), hard, randoms]).astype(np.int64)
    return lst.subset(rng.permutation(index))


def _run(lists: list[RankingList], scores: list[np.ndarray]) -> dict[str, dict[str, float]]:
    return {x.query_id: dict(zip(x.ids, s.tolist(), strict=True))
            for x, s in zip(lists, scores, strict=True)}


def _qrels(dataset: BeirDataset, lists: list[RankingList]) -> dict[str, dict[str, int]]:
    return {x.query_id: dataset.qrels[x.query_id] for x in lists}


def list_metric(lists: list[RankingList], scores: list[np.ndarray], dataset: BeirDataset,
                metric: str) -> float:
    """Mean `metric` of the lists ranked by `scores` (-inf entries are dropped)."""
    finite = [np.isfinite(s) for s in scores]
    run = _run([x.subset(np.flatnonzero(f)) for x, f in zip(lists, finite, strict=True)],
               [s[f] for s, f in zip(scores, finite, strict=True)])
    return evaluate_run(run, _qrels(dataset, lists), [metric])[0][metric]


def _train_neural(config: RankerConfig, encoder: dict[str, Any], train: list[RankingList],
                  validation: list[RankingList], dataset: BeirDataset, checkpoint_dir: Any,
                  resume: bool, callbacks: list[Callback] | None) -> TrainedRanker:
    model = GradedRanker(len(train[0].query_vector), train[0].features.shape[1],
                         hidden=config.hidden, heads=config.heads, dropout=config.dropout,
                         embeddings=config.embeddings, attention=config.attention)
    # validation scores the weights being trained: torch, whatever runtime serves later
    ranker = LearnedRanker(config.model_copy(update={"runtime": "torch"}), encoder=encoder,
                           model=model)
    stacked = np.concatenate([x.features for x in train])
    model.set_feature_scaling(torch.from_numpy(stacked.mean(axis=0)),
                              torch.from_numpy(stacked.std(axis=0)))
    criterion = RankingLossMix(config.loss_weights)
    size = config.trainer.batch_size

    def batches(epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        rng = np.random.default_rng(config.seed + epoch)
        order = rng.permutation(len(train))
        for start in range(0, len(order), size):
            yield padded_batch([_sample(train[i], config, rng) for i in order[start:start + size]])

    def loss_fn(module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = module(batch["query"], batch["docs"], batch["features"], batch["mask"])
        return criterion(out, batch["labels"], batch["mask"])

    def validate(module: torch.nn.Module) -> dict[str, float]:
        ranker.model = module.eval()
        value = list_metric(validation, ranker.raw_scores(validation), dataset, VALIDATION_METRIC)
        device = next(module.parameters()).device
        with torch.no_grad():
            batch = {k: v.to(device) for k, v in padded_batch(validation).items()}
            loss = float(loss_fn(module, batch))
        module.train()
        # a few validation queries often reach the same NDCG@10 from the first epoch on: the
        # loss breaks such ties, so training goes on while it still improves
        return {VALIDATION_METRIC: value, "validation_loss": loss, SELECTION: value - 1e-6 * loss}

    trainer_config = config.trainer.model_copy(update={"monitor": SELECTION,
                                                       "seed": config.seed})
    trainer = Trainer(model, trainer_config, checkpoint_dir=checkpoint_dir, callbacks=callbacks)
    result = trainer.fit(batches, loss_fn, validate=validate,
                         steps_per_epoch=-(-len(train) // size), resume=resume)
    ranker.model = trainer.model.cpu().eval()
    ranker.config = config
    return TrainedRanker(ranker, result.history, result.seconds, result.best_epoch)


def _train_lambdamart(config: RankerConfig, encoder: dict[str, Any], train: list[RankingList],
                      validation: list[RankingList]) -> TrainedRanker:
    import lightgbm

    rng = np.random.default_rng(config.seed)
    train = [_sample(x, config, rng) for x in train]

    def dataset_of(lists: list[RankingList]) -> lightgbm.Dataset:
        return lightgbm.Dataset(np.concatenate([x.features for x in lists]),
                                label=np.concatenate([x.labels for x in lists]).astype(int),
                                group=[len(x) for x in lists], free_raw_data=False)

    max_label = int(max(x.labels.max() for x in train + validation))
    params = {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10],
              "learning_rate": 0.05, "num_leaves": config.leaves, "min_data_in_leaf": 20,
              "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8,
              "lambdarank_truncation_level": 20, "label_gain": list(range(max_label + 1)),
              "num_threads": 1, "seed": config.seed, "deterministic": True, "verbose": -1}
    start = time.monotonic()
    history: dict[str, Any] = {}
    train_set = dataset_of(train)
    booster = lightgbm.train(params, train_set, num_boost_round=config.trees,
                             valid_sets=[dataset_of(validation)], valid_names=["validation"],
                             callbacks=[lightgbm.early_stopping(50, verbose=False),
                                        lightgbm.record_evaluation(history)])
    curve = history["validation"]["ndcg@10"]
    return TrainedRanker(LearnedRanker(config, encoder=encoder, boosters=[booster]),
                         [{"round": i + 1, VALIDATION_METRIC: v} for i, v in enumerate(curve)],
                         time.monotonic() - start, booster.best_iteration)


def _train_bagged_lambdamart(config: RankerConfig, encoder: dict[str, Any],
                             train: list[RankingList], validation: list[RankingList],
                             ) -> tuple[TrainedRanker, list[int]]:
    """(ranker averaging `config.bags` boosters, the booster each query was held out from):
    booster b trains on the queries outside fold b and stops early on fold b. `train` and
    `validation` are the same queries as training pools and as search-time lists."""
    if len(train) < config.bags:
        raise NeurankError(f"{len(train)} judged queries are too few for {config.bags} LambdaMART "
                           "bags; lower `bags`")
    fold_of = (np.random.default_rng(config.seed).permutation(len(train)) % config.bags).tolist()
    boosters, history, seconds = [], [], 0.0
    for bag in range(config.bags):
        inside = [i for i, f in enumerate(fold_of) if f != bag]
        held = [i for i, f in enumerate(fold_of) if f == bag]
        trained = _train_lambdamart(config.model_copy(update={"seed": config.seed + bag}), encoder,
                                    [train[i] for i in inside], [validation[i] for i in held])
        boosters += trained.ranker.boosters
        history += [{"bag": bag, **h} for h in trained.history]
        seconds += trained.seconds
    return (TrainedRanker(LearnedRanker(config, encoder=encoder, boosters=boosters), history,
                          seconds), fold_of)


def choose_fusion(ranker: LearnedRanker, validation: list[RankingList], dataset: BeirDataset,
                  raw: list[np.ndarray] | None = None) -> tuple[dict[str, float], float]:
    """Weights of ranker, dense and bm25 (steps of 0.1, ranker >= 0.1) that maximise validation
    NDCG@10 (of the ranker's `raw` scores when given); ties go to more ranker weight."""
    raw = ranker.raw_scores(validation) if raw is None else raw
    steps = np.round(np.arange(0.0, 1.0 + 1e-9, FUSION_STEP), 2)
    best: tuple[float, dict[str, float]] = (-1.0, {"ranker": 1.0})
    for dense, bm25 in itertools.product(steps, steps):
        weight = round(1.0 - dense - bm25, 2)
        if weight < FUSION_STEP - 1e-9:
            continue
        fusion = {"ranker": float(weight), "dense": float(dense), "bm25": float(bm25)}
        scores = [ranker.final_scores(x, r, fusion, thresholded=False)
                  for x, r in zip(validation, raw, strict=True)]
        value = list_metric(validation, scores, dataset, VALIDATION_METRIC)
        if value > best[0] + 1e-12:
            best = (value, fusion)
    return best[1], best[0]


def choose_threshold(ranker: LearnedRanker, validation: list[RankingList],
                     dataset: BeirDataset, metric: str = THRESHOLD_METRIC,
                     raw: list[np.ndarray] | None = None) -> tuple[float | None, float, float]:
    """(threshold on the raw ranker score, metric with it, metric without): the candidate value
    (a raw score of some top-k hit) that maximises `metric` over the validation queries (their
    `raw` scores when given); None when no threshold beats returning every hit."""
    raw = ranker.raw_scores(validation) if raw is None else raw
    finals = [ranker.final_scores(x, r, thresholded=False)
              for x, r in zip(validation, raw, strict=True)]
    without = list_metric(validation, finals, dataset, metric)
    k = int(metric.split("@")[1])
    values = np.unique(np.concatenate([r[np.argsort(-f, kind="stable")[:k]]
                                       for r, f in zip(raw, finals, strict=True)]))
    best: tuple[float, float | None] = (without, None)
    for value in values:
        scores = [np.where(r >= value, f, -np.inf) for r, f in zip(raw, finals, strict=True)]
        score = list_metric(validation, scores, dataset, metric)
        if score > best[0] + 1e-12:
            best = (score, float(value))
    return best[1], best[0], without


def carve(query_ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, validation) query ids: a seeded share of the queries held out."""
    order = np.random.default_rng(seed).permutation(len(query_ids))
    held = max(1, round(fraction * len(query_ids)))
    if held >= len(query_ids):
        raise NeurankError(f"{len(query_ids)} judged queries are too few to hold out validation "
                           "queries; the ranker needs more")
    return ([query_ids[i] for i in sorted(order[held:])],
            [query_ids[i] for i in sorted(order[:held])])


def train_ranker(pipeline: SearchPipeline, dataset: BeirDataset, config: RankerConfig, *,
                 query_ids: list[str] | None = None, checkpoint_dir: Any = None,
                 resume: bool = False, show_progress: bool = True,
                 callbacks: list[Callback] | None = None) -> TrainedRanker:
    """Train on the judged queries of `dataset` (or `query_ids`), choose the epoch and the
    fusion weights on a carve of them (bagged LambdaMART: on all of them, out-of-fold); the
    ranker is returned, not saved, with no threshold (`neurank tune --threshold` sets one).
    `callbacks` join the neural ranker's Trainer."""
    collection = pipeline.collection
    judged = [q for q in (query_ids or list(dataset.queries))
              if any(g > 0 for g in dataset.qrels.get(q, {}).values())]
    if len(judged) < 2:
        raise NeurankError(f"split {dataset.split!r} of {dataset.name} has {len(judged)} queries "
                           "with a relevant document; a ranker needs judged queries to learn")
    bagged = config.kind == "lambdamart" and config.bags > 1
    train_ids, validation_ids = ((judged, judged) if bagged else
                                 carve(judged, config.validation_fraction, config.seed))
    seed_everything(config.seed)
    encoder = {"model": collection.config.model, "dim": collection.vectors.dim}
    train = ranking_lists(pipeline, config, dataset, train_ids, seed=config.seed,
                          pool_random=3 * config.random_negatives, show_progress=show_progress)
    validation = ranking_lists(pipeline, config, dataset, validation_ids,
                               show_progress=show_progress)
    held_out_by = None
    if config.kind == "neural":
        trained = _train_neural(config, encoder, train, validation, dataset, checkpoint_dir,
                                resume, callbacks)
    elif bagged:
        trained, held_out_by = _train_bagged_lambdamart(config, encoder, train, validation)
    else:
        trained = _train_lambdamart(config, encoder, train, validation)
    ranker = trained.ranker
    raw = ranker.raw_scores(validation, held_out_by)
    ranker_only = list_metric(validation, raw, dataset, VALIDATION_METRIC)
    fusion_score = ranker_only
    if config.learned_fusion:
        ranker.fusion, fusion_score = choose_fusion(ranker, validation, dataset, raw)
    ranker.report = {
        "dataset": dataset.name, "split": dataset.split, "train_queries": len(train_ids),
        "validation_query_ids": validation_ids,
        **({"validation_held_out_by": held_out_by} if bagged else {}),
        "validation": {f"ranker {VALIDATION_METRIC}": ranker_only,
                       f"fused {VALIDATION_METRIC}": fusion_score},
        # what the checkpoint leaderboard (`neurank runs`) ranks by, and the curves it plots
        "best": {VALIDATION_METRIC: fusion_score, f"ranker {VALIDATION_METRIC}": ranker_only},
        "history": trained.history,
        "train_seconds": trained.seconds,
    }
    return trained


def cross_validate(pipeline: SearchPipeline, dataset: BeirDataset, config: RankerConfig,
                   folds: int, *, depth: int = 100, show_progress: bool = True,
                   ) -> tuple[dict[str, dict[str, float]], list[TrainedRanker]]:
    """(out-of-fold run, the fold rankers): each fold's queries ranked (top-`depth`) by a
    ranker trained and tuned on the other folds only."""
    judged = [q for q in dataset.queries
              if any(g > 0 for g in dataset.qrels.get(q, {}).values())]
    if folds < 2 or folds > len(judged) // 2:
        raise NeurankError(f"--cv needs 2 <= K <= {len(judged) // 2} (half the {len(judged)} "
                           f"judged queries of {dataset.name} {dataset.split}), got {folds}")
    fold_of = np.random.default_rng(config.seed).permutation(len(judged)) % folds
    run: dict[str, dict[str, float]] = {}
    trained_folds = []
    for fold in range(folds):
        held = [q for q, f in zip(judged, fold_of, strict=True) if f == fold]
        rest = [q for q, f in zip(judged, fold_of, strict=True) if f != fold]
        trained = train_ranker(pipeline, dataset, config, query_ids=rest,
                               show_progress=show_progress)
        scorer = LearnedScorer(pipeline.collection, trained.ranker)
        cands = pipeline.candidates([dataset.queries[q] for q in held], mode="learned",
                                    depth=max(config.depth, depth))
        for qid, cand in zip(held, cands, strict=True):
            ranking = pipeline.finish(cand, depth, scorer)
            run[qid] = dict(zip(pipeline.collection.ids_of(ranking.rows),
                                ranking.score.tolist(), strict=True))
        trained_folds.append(trained)
    return run, trained_folds


def tune_threshold(pipeline: SearchPipeline, dataset: BeirDataset, metric: str = THRESHOLD_METRIC,
                   ) -> tuple[LearnedRanker, list[str], float, float]:
    """The collection's ranker with the threshold that maximises `metric` on `dataset` (on the
    ranker's own held-out queries when `dataset` is the split it was trained on), the queries
    used, and the metric with and without the threshold. The ranker is returned, not stored."""
    ranker = copy.copy(collection_ranker(pipeline.collection))
    report = ranker.report
    held_out_by = None
    if (report.get("dataset"), report.get("split")) == (dataset.name, dataset.split):
        # bagged LambdaMART trained on every one of them: each is scored out-of-fold
        bag_of = dict(zip(report["validation_query_ids"],
                          report.get("validation_held_out_by") or [], strict=False))
        query_ids = [q for q in report["validation_query_ids"] if q in dataset.qrels]
        held_out_by = [bag_of[q] for q in query_ids] if bag_of else None
    else:
        query_ids = [q for q in dataset.queries if q in dataset.qrels]
    if not query_ids:
        raise NeurankError(f"{dataset.name}/{dataset.split} has no judged query to tune on")
    lists = ranking_lists(pipeline, ranker.config, dataset, query_ids)
    ranker.threshold = None
    ranker.threshold, with_threshold, without = choose_threshold(
        ranker, lists, dataset, metric, ranker.raw_scores(lists, held_out_by))
    return ranker, query_ids, with_threshold, without
