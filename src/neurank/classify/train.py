"""Train a multi-label classifier through the Trainer and save it as a verified checkpoint.

Two modes (`ClassifierConfig.mode`):
- frozen: texts are embedded once by the encoder (ONNX int8 on a CPU), then a LabelHead
  trains on the vectors; seconds to minutes.
- finetune: the encoder and the head train end to end (BCE or focal loss, the encoder at its
  own learning rate); the fine-tuned encoder is saved inside the checkpoint as a
  sentence-transformers folder, so it exports to ONNX and serves like any model.

Either way the best epoch is chosen by dev macro-F1 at per-label thresholds tuned on dev, and
those thresholds are stored with the model. Checkpoint:

    CKPT/ manifest.json  kind "classifier": labels, thresholds, mode, base, config, history,
                         dev metrics, data sources and label counts, sha256 of every file
          weights.safetensors   the head
          encoder/              the fine-tuned encoder (finetune mode only)

Resumable: each epoch is checkpointed into `CKPT.training/`, removed after the final save.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurank.classify.augment import augment
from neurank.classify.data import LabelledTexts, label_order, split_off
from neurank.classify.thresholds import Thresholds, tune_thresholds
from neurank.config import ClassifierConfig
from neurank.encoders.resolve import ENCODER_FOLDER
from neurank.eval.classification import multilabel_metrics
from neurank.losses import FocalLoss, MultiLabelBCE
from neurank.models.classifier import EncoderClassifier, LabelHead
from neurank.models.registry import module_spec
from neurank.training import Trainer, save_checkpoint, seed_everything

KIND = "classifier"
PREDICT_BATCH = 128


@dataclass
class TrainedClassifier:
    """What training produced: where it is saved and how it did on dev."""

    folder: Path
    labels: list[str]
    thresholds: Thresholds
    dev_metrics: dict[str, float]
    history: list[dict[str, float]]
    seconds: float


def training_dir(out: Path) -> Path:
    """Where the per-epoch (resumable) checkpoints of a run writing `out` live."""
    return out.with_name(out.name + ".training")


def dev_scores(probabilities: np.ndarray, truth: np.ndarray, labels: list[str],
               min_positives: int) -> tuple[Thresholds, dict[str, float]]:
    """Thresholds tuned on dev, and dev metrics at them (plus macro-F1 at a flat 0.5)."""
    thresholds = tune_thresholds(probabilities, truth, labels, min_positives=min_positives)
    summary, _ = multilabel_metrics(truth, probabilities >= thresholds.as_array(labels), labels)
    flat, _ = multilabel_metrics(truth, probabilities >= 0.5, labels)
    return thresholds, {**summary, "macro_f1@0.5": flat["macro_f1"]}


def _criterion(config: ClassifierConfig, targets: np.ndarray) -> nn.Module:
    if config.loss == "focal":
        return FocalLoss(gamma=config.focal_gamma)
    weight = None
    if config.pos_weight == "sqrt":
        positives = targets.sum(0).clip(min=1)
        weight = torch.from_numpy(np.sqrt((len(targets) - positives) / positives)).float()
    return MultiLabelBCE(weight)


def _shuffled(count: int, size: int, seed: int) -> Iterator[torch.Tensor]:
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    yield from order.split(size)


class _Frozen:
    """Head over vectors embedded once."""

    def __init__(self, config: ClassifierConfig, train: LabelledTexts, dev: LabelledTexts,
                 labels: list[str], embeddings: tuple[np.ndarray, np.ndarray] | None) -> None:
        if embeddings is None:
            from neurank.encoders import load_encoder

            encoder = load_encoder(config.base, config.encoder)
            show = config.trainer.show_progress
            embeddings = (encoder.encode(train.texts, show_progress=show),
                          encoder.encode(dev.texts, show_progress=show))
        self.train_x = torch.from_numpy(np.ascontiguousarray(embeddings[0], dtype=np.float32))
        self.dev_x = torch.from_numpy(np.ascontiguousarray(embeddings[1], dtype=np.float32))
        self.head = LabelHead(self.train_x.shape[1], len(labels), config.hidden, config.dropout)
        self.model: nn.Module = self.head

    def batches(self, targets: torch.Tensor, size: int, seed: int) -> Callable[[int], Any]:
        def epoch_batches(epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for rows in _shuffled(len(self.train_x), size, seed + epoch):
                yield self.train_x[rows], targets[rows]
        return epoch_batches

    def dev_probabilities(self, model: nn.Module) -> np.ndarray:
        device = next(model.parameters()).device
        with torch.no_grad():
            return torch.sigmoid(model(self.dev_x.to(device))).float().cpu().numpy()

    def write_extra(self) -> Callable[[Path], None] | None:
        return None


class _Finetune:
    """A sentence-transformers encoder trained end to end under the head."""

    def __init__(self, config: ClassifierConfig, train: LabelledTexts, dev: LabelledTexts,
                 labels: list[str]) -> None:
        from sentence_transformers import SentenceTransformer

        from neurank.encoders import resolve_model

        self.encoder = SentenceTransformer(resolve_model(config.base), device="cpu")
        self.encoder.max_seq_length = config.max_length
        dim = self.encoder.get_embedding_dimension()
        self.head = LabelHead(int(dim), len(labels), config.hidden, config.dropout)
        self.model = EncoderClassifier(self.encoder, self.head)
        self.train_texts, self.dev_texts = train.texts, dev.texts

    def batches(self, targets: torch.Tensor, size: int, seed: int) -> Callable[[int], Any]:
        """Shuffled batches of texts of similar length: the shuffle is cut into pools of 50
        batches, each pool sorted by length and cut into batches, and the batches shuffled
        (padding to the longest text in a random batch doubled the cost of an epoch)."""
        lengths = np.asarray([len(t) for t in self.train_texts])

        def epoch_batches(epoch: int) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
            rng = np.random.default_rng(seed + epoch)
            order = rng.permutation(len(lengths))
            pools = [order[i:i + 50 * size] for i in range(0, len(order), 50 * size)]
            chunks = [pool[np.argsort(lengths[pool], kind="stable")][j:j + size]
                      for pool in pools for j in range(0, len(pool), size)]
            for k in rng.permutation(len(chunks)):
                rows = chunks[k]
                texts = [self.train_texts[i] for i in rows]
                yield dict(self.encoder.tokenize(texts)), targets[torch.from_numpy(rows)]
        return epoch_batches

    def dev_probabilities(self, model: nn.Module) -> np.ndarray:
        device = next(model.parameters()).device
        order = np.argsort([len(t) for t in self.dev_texts], kind="stable")
        out = np.zeros((len(order), model.head.init_args["labels"]), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(order), PREDICT_BATCH):
                rows = order[start:start + PREDICT_BATCH]
                features = self.encoder.tokenize([self.dev_texts[i] for i in rows])
                features = {k: v.to(device) if isinstance(v, torch.Tensor) else v
                            for k, v in features.items()}
                out[rows] = torch.sigmoid(model(features)).float().cpu().numpy()
        return out

    def write_extra(self) -> Callable[[Path], None] | None:
        return lambda staging: self.encoder.save(str(staging / ENCODER_FOLDER))


def train_classifier(train: LabelledTexts, dev: LabelledTexts | None, config: ClassifierConfig,
                     out: str | Path, *, resume: bool = False,
                     embeddings: tuple[np.ndarray, np.ndarray] | None = None) -> TrainedClassifier:
    """Train on `train`, select and tune thresholds on `dev` (or a seeded carve of train), save.

    `embeddings` (frozen mode): precomputed (train, dev) vectors of the base encoder.
    """
    out = Path(out)
    seed_everything(config.trainer.seed)  # the head's initial weights too, not only the epochs
    labels = label_order(train)
    if dev is None:
        train, dev = split_off(train, config.dev_fraction, config.trainer.seed)
    dev_truth = dev.matrix(labels)
    if config.augment_to:
        train = augment(train, config.augment_to, seed=config.trainer.seed)
    train_targets = train.matrix(labels).astype(np.float32)
    if config.mode == "frozen":
        job: _Frozen | _Finetune = _Frozen(config, train, dev, labels, embeddings)
        trainer_config = config.trainer
    else:
        job = _Finetune(config, train, dev, labels)
        trainer_config = config.trainer.model_copy(
            update={"module_lrs": {"encoder.": config.encoder_lr, **config.trainer.module_lrs}})
    criterion = _criterion(config, train_targets)
    trainer = Trainer(job.model, trainer_config, checkpoint_dir=training_dir(out))
    criterion.to(trainer.device)
    targets = torch.from_numpy(train_targets)

    def loss_fn(model: nn.Module, batch: Any) -> torch.Tensor:
        inputs, batch_targets = batch
        return criterion(model(inputs), batch_targets)

    def validate(model: nn.Module) -> dict[str, float]:
        _, record = dev_scores(job.dev_probabilities(model), dev_truth, labels,
                               config.min_threshold_positives)
        return {"macro_f1": record["macro_f1"], "micro_f1": record["micro_f1"],
                "macro_f1@0.5": record["macro_f1@0.5"]}

    size = trainer_config.batch_size
    result = trainer.fit(job.batches(targets, size, trainer_config.seed), loss_fn,
                         validate=validate, steps_per_epoch=-(-len(train) // size), resume=resume)
    if not trainer.dist.is_main:
        return TrainedClassifier(out, labels, Thresholds.constant(labels), {}, result.history,
                                 result.seconds)
    job.model.eval()
    thresholds, dev_metrics = dev_scores(job.dev_probabilities(job.model), dev_truth, labels,
                                         config.min_threshold_positives)
    meta = {
        "labels": labels, "thresholds": thresholds.to_json(), "mode": config.mode,
        "base": config.base, "config": config.model_dump(mode="json"),
        "module": module_spec(job.head), "history": result.history, "dev_metrics": dev_metrics,
        "best_epoch": result.best_epoch,
        "data": {"train": train.source, "dev": dev.source, "train_texts": len(train),
                 "dev_texts": len(dev), "train_label_counts": dict(train.counts())},
    }
    save_checkpoint(out, kind=KIND, tensors=job.head.cpu().state_dict(), meta=meta,
                    write_extra=job.write_extra())
    shutil.rmtree(training_dir(out), ignore_errors=True)
    return TrainedClassifier(out, labels, thresholds, dev_metrics, result.history,
                             result.seconds)
