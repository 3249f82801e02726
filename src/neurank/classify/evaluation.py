"""Evaluate a classifier on a labelled split: the `classify evaluate --json` report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurank.classify.data import LabelledTexts
from neurank.classify.predictor import Classifier
from neurank.eval.classification import multilabel_metrics


def evaluation_report(classifier: Classifier, data: LabelledTexts, *, dataset: str,
                      split: str, show_progress: bool = False) -> dict[str, Any]:
    """{"dataset", "split", "metrics", "per_label", "thresholds"} at the stored thresholds."""
    truth = data.matrix(classifier.labels)
    probabilities = classifier.probabilities(data.texts, show_progress=show_progress)
    summary, per_label = multilabel_metrics(truth, classifier.decide(probabilities),
                                            classifier.labels)
    return {"dataset": dataset, "split": split, "model": str(classifier.folder),
            "mode": classifier.mode, "encoder": classifier.encoder.backend,
            "texts": len(data), "metrics": summary, "per_label": per_label,
            "thresholds": classifier.thresholds.values}


def dataset_name(source: Path) -> str:
    """A folder's name, or a file's name without its suffix."""
    return source.name if source.is_dir() else source.stem
