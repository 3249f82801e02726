"""Fine-tune a sentence encoder, gated by the raw base model.

sentence-transformers' `SentenceTransformerTrainer` runs the optimisation (its losses, no-
duplicate batch sampler and schedules are what users of the field know; DESIGN explains why this
is the one trainer neurank does not own). neurank owns the rest: the data (BEIR qrels with BM25
hard negatives, positive or scored pairs), the validation carve, the curriculum phases, the
baseline gate, LoRA merged into plain weights, and the verified checkpoint (config, data
fingerprint, history, validation of base and fine-tuned model).

Losses: MultipleNegativesRankingLoss (its cached variant for large batches) inside
MatryoshkaLoss for positive pairs and qrels; CoSENT inside MatryoshkaLoss for scored pairs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from neurank.config import DEFAULT_MODEL
from neurank.encoders.resolve import ENCODER_FOLDER, resolve_model
from neurank.errors import NeurankError
from neurank.finetune.data import PairSet, QueryPairs
from neurank.finetune.evaluation import pair_metrics, retrieval_metrics

PHASES = ("easy", "medium", "hard")
FULL_LR = 2e-5
LORA_LR = 2e-4
VALIDATION_DISTRACTORS = 1000
"""retrieval validation ranks the carved queries' documents among this many other documents"""


class FinetuneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base: str = DEFAULT_MODEL
    epochs: int = Field(3, ge=1, description="epochs (per phase with a curriculum)")
    batch_size: int = Field(32, ge=2)
    cached_mnrl: bool = Field(False, description="CachedMNRL: large batches in small memory")
    mini_batch_size: int = Field(16, ge=1)
    lr: float | None = Field(None, gt=0.0, description=(
        f"default {FULL_LR} for full weights, {LORA_LR} for LoRA adapters"))
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.01, ge=0.0)
    matryoshka_dims: list[int] = Field(default_factory=lambda: [384, 256, 128, 64, 32])
    hard_negatives: bool = Field(True, description="one BM25 hard negative per BEIR pair")
    negative_margin: float = Field(
        0.0, ge=0.0, lt=1.0, description="skip BM25 negatives scoring above (1 - margin) x the "
                                         "best positive (likely unjudged relevant ones); 0: "
                                         "the top non-relevant document")
    lora: bool = False
    lora_rank: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    curriculum: Literal["none", "auto", "field"] = Field(
        "none", description="auto: phases by BM25 difficulty; field: the data's phase column")
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    max_seq_length: int = Field(256, ge=8)
    max_steps: int | None = Field(None, ge=1, description="at most this many steps per phase")
    seed: int = 0

    @model_validator(mode="after")
    def _default_lr(self) -> FinetuneConfig:
        # adapters start at zero and move a few weights: at the full-weight rate they barely train
        if self.lr is None:
            self.lr = LORA_LR if self.lora else FULL_LR
        return self


@dataclass
class FinetuneResult:
    base_metrics: dict[str, float]
    tuned_metrics: dict[str, float]
    primary: str
    promoted: bool
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def improved(self) -> bool:
        return self.tuned_metrics[self.primary] > self.base_metrics[self.primary]


def _carve(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, round(fraction * n))
    return np.sort(order[cut:]), np.sort(order[:cut])


def held_out_queries(query_ids: list[str], fraction: float, seed: int) -> set[str]:
    """The whole queries the baseline gate validates on (they never train): a seeded carve of
    the sorted distinct ids, so it can be recomputed from the data and the config alone."""
    ids = sorted(set(query_ids))
    _, held = _carve(len(ids), fraction, seed)
    return {ids[i] for i in held}


def _phases(pairs: PairSet, curriculum: str) -> list[tuple[str, np.ndarray]]:
    """(phase name, rows) in training order: one phase of everything without a curriculum."""
    if curriculum == "none":
        return [("all", np.arange(len(pairs)))]
    if pairs.phases is None:
        raise NeurankError("--curriculum field needs a 'phase' column in the pairs file"
                           if curriculum == "field" else
                           "--curriculum auto needs BEIR data (difficulty from BM25 negatives)")
    names = [p for p in PHASES if p in pairs.phases] + sorted(set(pairs.phases) - set(PHASES))
    return [(name, np.flatnonzero(np.array(pairs.phases) == name)) for name in names]


class _Validator:
    """The gate's evaluator: retrieval over carved queries for BEIR, pair metrics otherwise."""

    def __init__(self, pairs: PairSet, queries: QueryPairs | None, rows: np.ndarray,
                 seed: int) -> None:
        self.pairs = pairs.take(rows)
        self.retrieval = None
        if queries is not None:
            val_ids = {queries.query_ids[i] for i in rows}
            qrels = {q: j for q, j in queries.dataset.qrels.items() if q in val_ids}
            relevant = {d for judged in qrels.values() for d in judged}
            others = sorted(set(queries.doc_texts) - relevant)
            rng = np.random.default_rng(seed)
            picked = rng.choice(len(others), size=min(VALIDATION_DISTRACTORS, len(others)),
                                replace=False)
            corpus = {d: queries.doc_texts[d] for d in sorted(relevant)}
            corpus.update({others[i]: queries.doc_texts[others[i]] for i in sorted(picked)})
            self.retrieval = ({q: queries.dataset.queries[q] for q in qrels}, qrels, corpus)
        self.primary = "ndcg@10" if self.retrieval else "spearman" if pairs.scores else "mrr"

    def __call__(self, model) -> dict[str, float]:
        def embed(texts: list[str]) -> np.ndarray:
            return model.encode(texts, batch_size=64, convert_to_numpy=True,
                                show_progress_bar=False)
        if self.retrieval is not None:
            return retrieval_metrics(embed, *self.retrieval)
        if self.pairs.scores is not None:
            return pair_metrics(embed, self.pairs)
        return _pair_mrr(embed, self.pairs)


def _pair_mrr(embed: Callable[[list[str]], np.ndarray], pairs: PairSet) -> dict[str, float]:
    """MRR of each pair's second sentence among all second sentences (positive pairs)."""
    a, b = embed(pairs.first), embed(pairs.second)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    sims = a @ b.T
    ranks = (sims > np.diag(sims)[:, None]).sum(axis=1) + 1
    return {"mrr": float(np.mean(1.0 / ranks))}


def _loss(model, config: FinetuneConfig, scored: bool):
    from sentence_transformers.sentence_transformer import losses

    dims = [d for d in config.matryoshka_dims if d <= model.get_embedding_dimension()]
    if scored:
        inner = losses.CoSENTLoss(model)
    elif config.cached_mnrl:
        inner = losses.CachedMultipleNegativesRankingLoss(model,
                                                          mini_batch_size=config.mini_batch_size)
    else:
        inner = losses.MultipleNegativesRankingLoss(model)
    return losses.MatryoshkaLoss(model, inner, matryoshka_dims=dims) if dims else inner


def _dataset(pairs: PairSet, rows: np.ndarray, negatives: bool):
    from datasets import Dataset

    part = pairs.take(rows)
    columns: dict[str, list] = {"anchor": part.first, "positive": part.second}
    if part.scores is not None:
        low, high = min(pairs.scores or [0.0]), max(pairs.scores or [1.0])
        columns = {"sentence1": part.first, "sentence2": part.second,
                   "score": [(s - low) / ((high - low) or 1.0) for s in part.scores]}
    elif part.negatives is not None and negatives:
        columns["negative"] = part.negatives
    return Dataset.from_dict(columns)


def _train_phase(model, config: FinetuneConfig, dataset, scored: bool, workdir: str
                 ) -> list[dict[str, Any]]:
    import torch
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers

    cuda = torch.cuda.is_available()
    args = SentenceTransformerTrainingArguments(
        output_dir=workdir, num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size, learning_rate=config.lr,
        warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay,
        lr_scheduler_type="cosine", seed=config.seed, save_strategy="no", report_to="none",
        logging_steps=10, max_steps=config.max_steps or -1,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        fp16=cuda and not torch.cuda.is_bf16_supported(),
        batch_sampler=BatchSamplers.BATCH_SAMPLER if scored else BatchSamplers.NO_DUPLICATES,
        disable_tqdm=False)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                                         loss=_loss(model, config, scored))
    trainer.train()
    return [dict(entry) for entry in trainer.state.log_history]


def _with_lora(model, config: FinetuneConfig):
    from peft import LoraConfig, TaskType, get_peft_model

    transformer = model[0]
    transformer.model = get_peft_model(transformer.model, LoraConfig(
        task_type=TaskType.FEATURE_EXTRACTION, r=config.lora_rank,
        lora_alpha=config.lora_alpha, lora_dropout=0.1))
    return transformer.model


def finetune(config: FinetuneConfig, pairs: PairSet, *, queries: QueryPairs | None = None,
             log: Callable[[str], None] = print) -> tuple[Any, FinetuneResult]:
    """Train on `pairs` (from `queries` for BEIR data); returns (model, result). The model is
    evaluated against the raw base on the same validation carve before and after."""
    from sentence_transformers import SentenceTransformer

    start = time.monotonic()
    fit_rows, val_rows = _carve(len(pairs), config.validation_fraction, config.seed)
    if queries is not None:  # carve whole queries, so a validation query never trains
        held = held_out_queries(queries.query_ids, config.validation_fraction, config.seed)
        val_rows = np.array([i for i, q in enumerate(queries.query_ids) if q in held])
        fit_rows = np.array([i for i, q in enumerate(queries.query_ids) if q not in held])
    validate = _Validator(pairs, queries, val_rows, config.seed)
    model = SentenceTransformer(resolve_model(config.base))
    model.max_seq_length = config.max_seq_length
    base_metrics = validate(model)
    log(f"base {config.base}: validation {_describe(base_metrics)}")
    peft_model = _with_lora(model, config) if config.lora else None
    history: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as workdir:
        for name, rows in _phases(pairs.take(fit_rows), config.curriculum):
            if len(rows) < 2:
                continue
            phase_rows = fit_rows[rows]
            logged = _train_phase(model, config,
                                  _dataset(pairs, phase_rows, config.hard_negatives),
                                  pairs.scores is not None, workdir)
            metrics = validate(model)
            history.append({"phase": name, "pairs": len(phase_rows), "log": logged,
                            "validation": metrics})
            log(f"phase {name} ({len(phase_rows)} pairs): validation {_describe(metrics)}")
    if peft_model is not None:  # plain weights: loads anywhere, no peft needed
        model[0].model = peft_model.merge_and_unload()
    tuned = history[-1]["validation"] if history else base_metrics
    result = FinetuneResult(base_metrics, tuned, validate.primary, promoted=False,
                            seconds=time.monotonic() - start, history=history)
    return model, result


def _describe(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in metrics.items())


def save_finetuned(model, folder: str | Path, config: FinetuneConfig, result: FinetuneResult,
                   data: dict[str, Any]) -> Path:
    """A verified checkpoint: `encoder/` (the model, usable by `index --model DIR`), config,
    data fingerprint, history, and the gate's validation figures."""
    from neurank.training.checkpoint import save_checkpoint

    return save_checkpoint(
        folder, kind="encoder/finetuned", tensors={},
        meta={"config": config.model_dump(mode="json"), "data": data,
              "validation": {"primary": result.primary, "base": result.base_metrics,
                             "finetuned": result.tuned_metrics},
              "promoted": result.promoted, "seconds": result.seconds,
              "history": result.history},
        write_extra=lambda staging: model.save(str(staging / ENCODER_FOLDER)))
