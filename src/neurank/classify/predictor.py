"""A trained classifier, loaded from its verified checkpoint, answering texts with labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurank.classify.thresholds import Thresholds
from neurank.data.corpus import Document
from neurank.encoders import load_encoder
from neurank.encoders.resolve import ENCODER_FOLDER
from neurank.errors import CheckpointError, DataError
from neurank.models.registry import build_module
from neurank.training import load_checkpoint

KIND = "classifier"


@dataclass
class Prediction:
    """Labels over their thresholds (most probable first) and every label's probability."""

    labels: list[str]
    scores: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"labels": self.labels, "scores": self.scores}


class Classifier:
    """Embeds texts with the checkpoint's encoder (its own folder when fine-tuned, else the
    base model) on `encoder` ('auto': ONNX int8 on a CPU, torch on a GPU), then applies the
    head and the per-label thresholds tuned on dev."""

    def __init__(self, folder: str | Path, *, encoder: str | None = None,
                 device: str | None = None) -> None:
        self.folder = Path(folder)
        checkpoint = load_checkpoint(self.folder, kind=KIND)
        meta = checkpoint.meta
        try:
            self.labels: list[str] = [str(label) for label in meta["labels"]]
            self.thresholds = Thresholds.from_json(meta["thresholds"])
            self.mode: str = meta["mode"]
            self.base: str = meta["base"]
            self.dev_metrics: dict[str, float] = dict(meta.get("dev_metrics", {}))
            self.head = build_module(meta["module"])
            self.head.load_state_dict(checkpoint.tensors)
            backend = encoder or meta["config"]["encoder"]
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{self.folder}: malformed classifier checkpoint ({exc})") from exc
        if set(self.thresholds.values) != set(self.labels):
            raise CheckpointError(f"{self.folder}: thresholds and labels disagree")
        self.head.eval()
        self.cutoffs = self.thresholds.as_array(self.labels)
        location = str(self.folder / ENCODER_FOLDER) if self.mode == "finetune" else self.base
        self.encoder = load_encoder(location, backend, device=device)

    def probabilities(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """(len(texts), labels) probabilities; a few texts take the low-latency query path."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        vectors = (self.encoder.encode_queries(texts) if len(texts) <= 8 and not show_progress
                   else self.encoder.encode(texts, show_progress=show_progress))
        with torch.inference_mode():
            return torch.sigmoid(self.head(torch.from_numpy(vectors))).numpy()

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Boolean (texts, labels): each label's probability at or over its threshold."""
        return probabilities >= self.cutoffs

    def predict(self, texts: list[str]) -> list[Prediction]:
        probabilities = self.probabilities(texts)
        chosen = self.decide(probabilities)
        out = []
        for row, flags in zip(probabilities, chosen, strict=True):
            picked = sorted(np.flatnonzero(flags), key=lambda j: -row[j])
            out.append(Prediction([self.labels[j] for j in picked],
                                  {label: round(float(p), 6)
                                   for label, p in zip(self.labels, row, strict=True)}))
        return out


def tag_documents(classifier: Classifier, documents: list[Document], field: str, *,
                  show_progress: bool = False) -> list[Document]:
    """`documents` with their predicted labels (a list) in metadata `field`, so filters and
    ranking features can use them; a document that already has the field is an error."""
    taken = next((d.id for d in documents if field in d.metadata), None)
    if taken is not None:
        raise DataError(f"document {taken!r} already has metadata field {field!r}; choose "
                        "another with --classify-field", field=field)
    chosen = classifier.decide(classifier.probabilities([d.content for d in documents],
                                                        show_progress=show_progress))
    return [Document(id=d.id, title=d.title, text=d.text,
                     metadata={**d.metadata,
                               field: [classifier.labels[j] for j in np.flatnonzero(row)]})
            for d, row in zip(documents, chosen, strict=True)]
