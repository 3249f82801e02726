"""The learned ranker: the scorer stage of the "learned" mode.

A ranker scores a query's hybrid candidates from features (search/features.py) and, for the
neural kind, the query and document embeddings (models/ranker.py); LambdaMART (LightGBM
lambdarank) scores the same features, as the mean of boosters trained on folds of the training
queries (bagging, `RankerConfig.bags`). The final score mixes the ranker with the min-max
normalised dense and BM25 scores by weights chosen on validation queries; candidates whose
ranker score is below the chosen threshold are dropped, so a search can answer "nothing".

It is saved as a checkpoint folder (kind "ranker") inside the collection folder, recorded in
the collection manifest, so it travels with the collection.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurank.config import RankerConfig
from neurank.errors import CheckpointError, CollectionError, NeurankError
from neurank.index.collection import Collection
from neurank.models.ranker import GradedRanker
from neurank.search.candidates import Candidates
from neurank.search.features import FeatureExtractor, feature_names
from neurank.search.fusion import minmax
from neurank.search.ranker_runtime import ScoreFn, make_runtime
from neurank.training.checkpoint import load_checkpoint, save_checkpoint

KIND = "ranker"
LAMBDAMART_FILE = "lambdamart.txt"
"""booster 0 of a LambdaMART ranker; booster i > 0 is in lambdamart.{i}.txt"""
SCORE_BATCH = 64


@dataclass
class RankingList:
    """One query's candidates as a ranker sees them; `labels` are set for training only."""

    query_id: str
    query: str
    rows: np.ndarray
    ids: list[str]
    features: np.ndarray
    doc_vectors: np.ndarray
    query_vector: np.ndarray
    bm25: np.ndarray
    dense: np.ndarray
    listed: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index: np.ndarray) -> RankingList:
        """The list restricted to the entries at `index` (in that order)."""
        return RankingList(
            query_id=self.query_id, query=self.query, rows=self.rows[index],
            ids=[self.ids[i] for i in index], features=self.features[index],
            doc_vectors=self.doc_vectors[index], query_vector=self.query_vector,
            bm25=self.bm25[index], dense=self.dense[index], listed=self.listed[index],
            labels=None if self.labels is None else self.labels[index])


def ranking_list(collection: Collection, extractor: FeatureExtractor, cands: Candidates,
                 query_id: str = "") -> RankingList:
    """The ranker's view of `cands`."""
    if cands.query_vector is None:
        raise ValueError("the learned ranker needs the query vector of its candidates")
    doc_vectors = collection.vectors.vectors_for(cands.rows).astype(np.float32)
    return RankingList(
        query_id=query_id, query=cands.query, rows=cands.rows,
        ids=collection.ids_of(cands.rows), features=extractor(cands, doc_vectors),
        doc_vectors=doc_vectors,
        query_vector=np.asarray(cands.query_vector, dtype=np.float32),
        bm25=cands.scores["bm25"], dense=cands.scores["dense"],
        listed=np.any([rank > 0 for rank in cands.ranks.values()], axis=0))


def padded_batch(lists: list[RankingList]) -> dict[str, torch.Tensor]:
    """Tensors of several lists padded to the longest: query, docs, features, mask, labels."""
    width = max(len(x) for x in lists)
    dim = lists[0].doc_vectors.shape[1]
    num_features = lists[0].features.shape[1]
    docs = np.zeros((len(lists), width, dim), dtype=np.float32)
    features = np.zeros((len(lists), width, num_features), dtype=np.float32)
    labels = np.zeros((len(lists), width), dtype=np.float32)
    mask = np.zeros((len(lists), width), dtype=bool)
    for i, x in enumerate(lists):
        n = len(x)
        docs[i, :n], features[i, :n], mask[i, :n] = x.doc_vectors, x.features, True
        if x.labels is not None:
            labels[i, :n] = x.labels
    return {"query": torch.from_numpy(np.stack([x.query_vector for x in lists])),
            "docs": torch.from_numpy(docs), "features": torch.from_numpy(features),
            "mask": torch.from_numpy(mask), "labels": torch.from_numpy(labels)}


class LearnedRanker:
    """A trained ranker with its feature settings, fusion weights and threshold."""

    def __init__(self, config: RankerConfig, *, encoder: dict[str, Any],
                 model: GradedRanker | None = None, boosters: list[Any] | None = None,
                 fusion: dict[str, float] | None = None, threshold: float | None = None,
                 report: dict[str, Any] | None = None) -> None:
        if (model is None) == (not boosters):
            raise ValueError("a ranker has either a neural model or LambdaMART boosters")
        self.config = config
        self.encoder = encoder
        self.model = model.eval() if model is not None else None
        self._runtime: tuple[Any, ...] | None = None  # (model, runtime name, score fn, bytes)
        self.boosters = boosters or []
        self.fusion = fusion or {"ranker": 1.0}
        self.threshold = threshold
        self.report = report or {}
        self.feature_names = feature_names(config.features)

    # ------------------------------------------------------------------ scoring
    def extractor(self, collection: Collection) -> FeatureExtractor:
        return FeatureExtractor(collection.bm25, self.config.features, collection.documents)

    def runtime(self) -> tuple[ScoreFn, int]:
        """(score function of the configured runtime, its size in bytes), built once per
        model and runtime."""
        key = (self.model, self.config.runtime)
        if self._runtime is None or self._runtime[:2] != key:
            self._runtime = (*key, *make_runtime(self.model, self.config.runtime))
        return self._runtime[2], self._runtime[3]

    def raw_scores(self, lists: list[RankingList],
                   held_out_by: list[int] | None = None) -> list[np.ndarray]:
        """The ranker's own score of every candidate of each list: the mean of its boosters,
        or with `held_out_by` (bagged LambdaMART, per list) the one booster that did not
        train on that query (out-of-fold)."""
        if self.boosters:
            def predict(booster: Any, lst: RankingList) -> np.ndarray:
                return booster.predict(lst.features, num_threads=1) if len(lst) else np.zeros(0)

            if held_out_by is not None:
                return [predict(self.boosters[b], x)
                        for x, b in zip(lists, held_out_by, strict=True)]
            return [np.mean([predict(b, x) for b in self.boosters], axis=0) for x in lists]
        score_batch, _ = self.runtime()
        out: list[np.ndarray] = []
        for start in range(0, len(lists), SCORE_BATCH):
            part = lists[start:start + SCORE_BATCH]
            if not any(len(x) for x in part):
                out += [np.zeros(0) for _ in part]
                continue
            score = score_batch(padded_batch(part))
            out += [score[i, :len(x)].astype(np.float64) for i, x in enumerate(part)]
        return out

    def final_scores(self, lst: RankingList, raw: np.ndarray,
                     fusion: dict[str, float] | None = None, *,
                     thresholded: bool = True) -> np.ndarray:
        """Fused score (under `fusion`, default the ranker's weights); -inf where the raw score
        is below the ranker's threshold."""
        weights = self.fusion if fusion is None else fusion
        score = weights.get("ranker", 0.0) * minmax(raw)
        for name, signal in (("dense", lst.dense), ("bm25", lst.bm25)):
            if weights.get(name):
                score = score + weights[name] * minmax(signal)
        if thresholded and self.threshold is not None:
            score = np.where(raw >= self.threshold, score, -np.inf)
        return score

    # ------------------------------------------------------------------ saving
    def check_compatible(self, collection: Collection, source: object = "the ranker") -> None:
        """Refuse a collection whose vectors come from another encoder than the ranker saw."""
        have = {"model": collection.config.model, "dim": collection.vectors.dim}
        if have != self.encoder:  # the dense scores are features too, whatever the kind
            raise CollectionError(
                f"{source} was trained on {self.encoder['dim']}-d vectors of "
                f"{self.encoder['model']!r}; {collection.folder} holds {have['dim']}-d vectors "
                f"of {have['model']!r}: train a ranker on this collection instead")

    def save(self, folder: str | Path) -> Path:
        meta = {"config": self.config.model_dump(mode="json"), "encoder": self.encoder,
                "feature_names": self.feature_names, "fusion": self.fusion,
                "threshold": self.threshold, "report": self.report}
        if self.model is not None:
            return save_checkpoint(folder, kind=KIND, tensors=dict(self.model.state_dict()),
                                   meta={**meta, "module": {"class": "GradedRanker",
                                                            "args": self.model.init_args}})
        texts = [b.model_to_string() for b in self.boosters]

        def write_boosters(staging: Path) -> None:
            for i, text in enumerate(texts):
                (staging / _booster_file(i)).write_text(text, encoding="utf-8")
        return save_checkpoint(folder, kind=KIND, tensors={}, meta={**meta, "bags": len(texts)},
                               write_extra=write_boosters)

    @classmethod
    def load(cls, folder: str | Path) -> LearnedRanker:
        folder = Path(folder)
        checkpoint = load_checkpoint(folder, kind=KIND)
        meta = checkpoint.meta
        try:
            config = RankerConfig.model_validate(meta["config"])
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{folder}: unreadable ranker settings: {exc}") from None
        if meta.get("feature_names") != feature_names(config.features):
            raise CheckpointError(f"{folder}: its features differ from this neurank's; "
                                  "train the ranker again")
        common = {"encoder": meta["encoder"], "fusion": meta.get("fusion"),
                  "threshold": meta.get("threshold"), "report": meta.get("report")}
        if config.kind == "lambdamart":
            import lightgbm

            bags = meta.get("bags", 1)
            if not isinstance(bags, int) or bags < 1:
                raise CheckpointError(f"{folder}: field 'bags' must be a positive integer")
            names = [_booster_file(i) for i in range(bags)]
            for name in names:  # only files the verified manifest lists are ever read
                if name not in meta["files"]:
                    raise CheckpointError(f"{folder}: the manifest does not list {name}")
            texts = [(folder / name).read_text(encoding="utf-8") for name in names]
            return cls(config, boosters=[lightgbm.Booster(model_str=t) for t in texts], **common)
        model = GradedRanker(**meta["module"]["args"])
        model.load_state_dict(checkpoint.tensors)
        return cls(config, model=model, **common)


def _booster_file(index: int) -> str:
    return LAMBDAMART_FILE if index == 0 else f"lambdamart.{index}.txt"


@lru_cache(maxsize=8)
def _load_cached(folder: str) -> LearnedRanker:
    return LearnedRanker.load(folder)


def collection_ranker(collection: Collection) -> LearnedRanker:
    """The ranker stored in `collection` (loaded once per process and ranker)."""
    folder = collection.ranker_folder
    if folder is None:
        raise NeurankError(f"{collection.folder} has no learned ranker: train one with "
                           f"`neurank ranker train {collection.folder} --dataset DIR` or attach "
                           "one with `neurank ranker attach`")
    return _load_cached(str(folder))  # a new ranker gets a new folder name


class LearnedScorer:
    """The scorer stage of the learned mode; exposes "ranker" (its raw score) as a signal."""

    name = "learned"

    def __init__(self, collection: Collection, ranker: LearnedRanker) -> None:
        ranker.check_compatible(collection)
        self.collection = collection
        self.ranker = ranker
        self.extractor = ranker.extractor(collection)

    def __call__(self, candidates: Candidates) -> np.ndarray:
        lst = ranking_list(self.collection, self.extractor, candidates)
        raw = self.ranker.raw_scores([lst])[0]
        candidates.features["ranker"] = raw
        return self.ranker.final_scores(lst, raw)


def store_ranker(collection: Collection, ranker: LearnedRanker) -> None:
    """Save `ranker` into `collection` (replacing its ranker; the manifest records it)."""
    with tempfile.TemporaryDirectory(dir=collection.folder, prefix=".ranker-save-") as tmp:
        collection.set_ranker(ranker.save(Path(tmp) / "ranker"))
