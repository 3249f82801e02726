"""Train a two-tower retriever from scratch (word embeddings, not a transformer).

Pairs: the judged (query, relevant document) pairs of a BEIR split, when there is one, plus
self-supervised pairs from the corpus itself, redrawn every epoch: a document's title -> the
document, and a random sentence -> the rest of its document (the inverse cloze task), so a
collection with no judgements still trains. InfoNCE with in-batch negatives (both directions)
or a hardest-negative margin loss, through neurank's Trainer (early stopping on validation
MRR@10, checkpoints, TensorBoard, DDP). Validation ranks the whole corpus for held-out queries
(or held-out titles when there are no judgements).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from neurank.config import TrainerConfig
from neurank.data.corpus import Document
from neurank.encoders.two_tower import TWO_TOWER_KIND, VOCABULARY_FILE
from neurank.encoders.vocabulary import WordVocabulary, glove_vectors, pad_ids
from neurank.errors import NeurankError
from neurank.finetune.train import held_out_queries

GLOVE_DIM = 50
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
VALIDATION_METRICS = ("mrr@10", "recall@10", "recall@100", "ndcg@10")


def _trainer_defaults() -> TrainerConfig:
    return TrainerConfig(epochs=20, batch_size=256, lr=2e-3, schedule="warmup_cosine",
                         warmup_ratio=0.05, weight_decay=0.0, monitor="mrr@10", patience=4)


class TwoTowerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embeddings: Literal["glove", "random"] = Field(
        "glove", description="initial word vectors: GloVe 6B 50-d (neurank[train]) or random")
    embedding_dim: int = Field(GLOVE_DIM, ge=2)
    hidden_dim: int = Field(256, ge=1)
    output_dim: int = Field(128, ge=2)
    pooling: Literal["mean", "weighted", "gru"] = "weighted"
    loss: Literal["infonce", "margin"] = "infonce"
    temperature: float = Field(0.05, gt=0.0)
    margin: float = Field(0.2, gt=0.0)
    self_supervised: bool = Field(True, description="title -> document and sentence -> rest")
    max_vocabulary: int = Field(100_000, ge=3)
    min_count: int = Field(1, ge=1)
    max_query_length: int = Field(32, ge=1)
    max_document_length: int = Field(256, ge=1)
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    trainer: TrainerConfig = Field(default_factory=_trainer_defaults)

    @model_validator(mode="before")
    @classmethod
    def _trainer_over_defaults(cls, data: Any) -> Any:
        """Trainer settings given in part keep this model's trainer defaults for the rest."""
        if isinstance(data, dict) and isinstance(data.get("trainer"), dict):
            return {**data, "trainer": {**_trainer_defaults().model_dump(), **data["trainer"]}}
        return data

    @model_validator(mode="after")
    def _glove_dim(self) -> TwoTowerConfig:
        if self.embeddings == "glove" and self.embedding_dim != GLOVE_DIM:
            raise ValueError(f"GloVe vectors are {GLOVE_DIM}-d: set embedding_dim to "
                             f"{GLOVE_DIM} or embeddings to random")
        return self


@dataclass
class TwoTowerData:
    """A corpus and its judged queries, split into training and validation queries."""

    documents: list[Document]
    train_queries: list[tuple[str, str, list[int]]]
    """(query id, query text, rows of its relevant documents)"""
    validation_queries: list[tuple[str, str, list[int]]]
    source: str


def two_tower_data(documents: list[Document], queries: dict[str, str] | None = None,
                   qrels: dict[str, dict[str, int]] | None = None, *,
                   validation_fraction: float = 0.1, seed: int = 0,
                   source: str = "") -> TwoTowerData:
    """Judged queries carved into train/validation by query; with none, titles of a carve
    of the documents validate (their documents still train through the other pairs)."""
    if not documents:
        raise NeurankError(f"{source or 'the corpus'} has no documents to train on")
    row_of = {doc.id: i for i, doc in enumerate(documents)}
    judged = []
    for qid, relevant in sorted((qrels or {}).items()):
        rows = sorted(row_of[d] for d, grade in relevant.items() if grade > 0 and d in row_of)
        if rows and (queries or {}).get(qid, "").strip():
            judged.append((qid, (queries or {})[qid], rows))
    if judged:  # the fine-tuning gate's carve of whole queries (one query: nothing held out)
        held = held_out_queries([qid for qid, _, _ in judged], validation_fraction,
                                seed) if len(judged) > 1 else set()
        return TwoTowerData(documents, [q for q in judged if q[0] not in held],
                            [q for q in judged if q[0] in held], source)
    titled = [i for i, doc in enumerate(documents) if doc.title.strip()]
    if not titled:
        raise NeurankError(f"{source or 'the corpus'} has no judged queries and no titles: "
                           "nothing to validate on (give a BEIR split with qrels)")
    picked = np.random.default_rng(seed).choice(titled, size=max(1, round(validation_fraction * len(titled))),
                        replace=False)
    return TwoTowerData(documents, [], [(f"title:{documents[i].id}", documents[i].title, [int(i)])
                                        for i in sorted(picked)], source)


def read_two_tower_source(source: Path, split: str | None) -> TwoTowerData:
    """TwoTowerData from a BEIR folder (its `split` qrels when present) or a corpus file."""
    from neurank.data.beir import read_beir
    from neurank.data.corpus import read_corpus

    if not source.exists():
        raise NeurankError(f"{source} does not exist")
    if source.is_dir() and split and (source / "qrels" / f"{split}.tsv").exists():
        dataset = read_beir(source, split, load_corpus=True, on_empty="skip")
        assert dataset.corpus is not None
        return two_tower_data(dataset.corpus, dataset.queries, dataset.qrels,
                              source=f"{source} ({split})")
    return two_tower_data(read_corpus(source, on_empty="skip"), source=str(source))


class _PairSampler:
    """Token ids of every document, split into sentences once; an epoch's pairs drawn anew."""

    def __init__(self, data: TwoTowerData, vocabulary: WordVocabulary,
                 config: TwoTowerConfig) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.title_ids: list[list[int]] = []
        self.sentence_ids: list[list[list[int]]] = []
        for doc in data.documents:
            self.title_ids.append(self.words(doc.title) if doc.title.strip() else [])
            self.sentence_ids.append([ids for s in _SENTENCE.split(doc.text)
                                      if (ids := self.words(s))])
        self.judged = [(self.words(text, config.max_query_length), rows)
                       for _, text, rows in data.train_queries]

    def words(self, text: str, limit: int | None = None) -> list[int]:
        return self.vocabulary.word_ids(text)[:limit]

    def document(self, row: int, skip: int | None = None) -> list[int]:
        parts = [self.title_ids[row]] + [s for i, s in enumerate(self.sentence_ids[row])
                                         if i != skip]
        return [w for part in parts for w in part][: self.config.max_document_length] or [1]

    def pairs_per_epoch(self) -> int:
        """How many pairs `pairs` draws (the same every epoch), without drawing them."""
        count = sum(len(rows) for _, rows in self.judged)
        if self.config.self_supervised:
            count += sum(bool(title) for title in self.title_ids)
            count += sum(len(sentences) > 1 for sentences in self.sentence_ids)
        return count

    def pairs(self, rng: np.random.Generator) -> list[tuple[list[int], list[int], int]]:
        """(query ids, document ids, document row) for one epoch."""
        out = [(query, self.document(row), row)
               for query, rows in self.judged for row in rows]
        if not self.config.self_supervised:
            return out
        limit = self.config.max_query_length
        for row, title in enumerate(self.title_ids):
            if title:
                out.append((title[:limit], self.document(row), row))
            sentences = self.sentence_ids[row]
            if len(sentences) > 1:  # a one-sentence document has no "rest" to find it by
                pick = int(rng.integers(len(sentences)))
                out.append((sentences[pick][:limit], self.document(row, skip=pick), row))
        return out


def _batches(sampler: _PairSampler, batch_size: int, seed: int
             ) -> Callable[[int], Iterator[dict[str, Any]]]:
    import torch

    def epoch_batches(epoch: int) -> Iterator[dict[str, Any]]:
        rng = np.random.default_rng(seed + epoch)
        pairs = sampler.pairs(rng)
        order = rng.permutation(len(pairs))
        for start in range(0, len(order), batch_size):
            chunk = [pairs[i] for i in order[start: start + batch_size]]
            if len(chunk) < 2:
                continue
            yield {"queries": torch.from_numpy(pad_ids([c[0] for c in chunk])),
                   "documents": torch.from_numpy(pad_ids([c[1] for c in chunk])),
                   "rows": torch.tensor([c[2] for c in chunk])}
    return epoch_batches


def _loss(config: TwoTowerConfig):
    from neurank.losses import HardestNegativeMargin, InfoNCE

    loss = (InfoNCE(config.temperature) if config.loss == "infonce"
            else HardestNegativeMargin(config.margin))

    def loss_fn(model, batch: dict[str, Any]):
        queries, documents = model(batch["queries"], batch["documents"])
        rows = batch["rows"]
        return loss(queries, documents, rows[:, None] == rows[None, :])
    return loss_fn


def _validator(sampler: _PairSampler, data: TwoTowerData, config: TwoTowerConfig):
    """Rank the whole corpus for each validation query: MRR@10, Recall@10/100, NDCG@10."""
    import torch

    from neurank.eval.metrics import evaluate_run

    documents = [sampler.document(row) for row in range(len(data.documents))]
    queries = [sampler.words(text, config.max_query_length) or [1]
               for _, text, _ in data.validation_queries]
    qrels = {str(i): {str(r): 1 for r in rows}
             for i, (_, _, rows) in enumerate(data.validation_queries)}

    def encode(tower, rows: list[list[int]], device: torch.device) -> torch.Tensor:
        return torch.cat([tower(torch.from_numpy(pad_ids(rows[s: s + 512])).to(device))
                          for s in range(0, len(rows), 512)])

    def validate(model) -> dict[str, float]:
        device = next(model.parameters()).device
        sims = (encode(model.encode_queries, queries, device)
                @ encode(model.encode_documents, documents, device).T)
        top = sims.topk(min(100, sims.shape[1]), dim=1)
        run = {str(i): {str(int(r)): float(s) for r, s in zip(rows, scores, strict=True)}
               for i, (rows, scores) in enumerate(zip(top.indices.cpu(), top.values.cpu(),
                                                      strict=True))}
        means, _ = evaluate_run(run, qrels, VALIDATION_METRICS)
        return means
    return validate


@dataclass
class TwoTowerResult:
    history: list[dict[str, float]]
    best: dict[str, float]
    seconds: float
    glove_coverage: float | None


def train_two_tower(data: TwoTowerData, config: TwoTowerConfig, *,
                    checkpoint_dir: str | Path | None = None,
                    callbacks: list | None = None, log: Callable[[str], None] = print):
    """(model, vocabulary, result): a TwoTower trained on `data` under `config`."""
    import torch

    from neurank.models.two_tower import TwoTower
    from neurank.training.trainer import Trainer, seed_everything

    seed_everything(config.trainer.seed)
    texts = [doc.content for doc in data.documents] + [q for _, q, _ in data.train_queries]
    vocabulary = WordVocabulary.build(texts, max_size=config.max_vocabulary,
                                      min_count=config.min_count)
    model = TwoTower(len(vocabulary), config.embedding_dim, config.hidden_dim,
                     config.output_dim, config.pooling)
    coverage = None
    vectors = None
    if config.embeddings == "glove":
        found, coverage = glove_vectors(vocabulary.words)
        vectors = torch.from_numpy(found)
        log(f"GloVe covers {coverage:.1%} of {len(vocabulary) - 2} words")
    idf = torch.from_numpy(vocabulary.idf(doc.content for doc in data.documents))
    model.init_words(vectors, idf)
    sampler = _PairSampler(data, vocabulary, config)
    per_epoch = sampler.pairs_per_epoch()
    log(f"{len(data.documents)} documents, {len(data.train_queries)} judged training queries, "
        f"{per_epoch} pairs per epoch, {len(data.validation_queries)} validation queries")
    trainer = Trainer(model, config.trainer, checkpoint_dir=checkpoint_dir, callbacks=callbacks,
                      checkpoint_meta=lambda: {"config": config.model_dump(mode="json")})
    steps = -(-per_epoch // config.trainer.batch_size)
    result = trainer.fit(_batches(sampler, config.trainer.batch_size, config.trainer.seed),
                         _loss(config), validate=_validator(sampler, data, config),
                         steps_per_epoch=steps)
    best_epoch = result.best_epoch or len(result.history)
    best = dict(result.history[best_epoch - 1]) if result.history else {}
    model = model.cpu().eval()
    return model, vocabulary, TwoTowerResult(result.history, best, result.seconds, coverage)


def save_two_tower(model, vocabulary: WordVocabulary, folder: str | Path,
                   config: TwoTowerConfig, result: TwoTowerResult, data: dict[str, Any]
                   ) -> Path:
    """A verified checkpoint: weights, vocabulary, config (which rebuilds the module), data
    fingerprint, per-epoch history and the best epoch's validation metrics."""
    from neurank.models.registry import module_spec
    from neurank.training.checkpoint import save_checkpoint

    return save_checkpoint(
        folder, kind=TWO_TOWER_KIND, tensors=model.state_dict(),
        meta={"module": module_spec(model), "config": config.model_dump(mode="json"),
              "data": data, "history": result.history, "best": result.best,
              "seconds": result.seconds, "glove_coverage": result.glove_coverage},
        write_extra=lambda staging: vocabulary.save(staging / VOCABULARY_FILE))
