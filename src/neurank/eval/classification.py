"""Multi-label classification metrics (numpy): per-label, micro and macro precision/recall/F1.

Conventions follow scikit-learn's `precision_recall_fscore_support` with `zero_division=0`:
a label with no predicted and no true positives has F1 0 and still counts in the macro mean.
"""

from __future__ import annotations

import numpy as np


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp, dtype=float),
                     where=denominator > 0)


def label_counts(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tp, fp, fn) per label for boolean (texts, labels) arrays."""
    truth, predicted = truth.astype(bool), predicted.astype(bool)
    tp = (truth & predicted).sum(0).astype(float)
    fp = (~truth & predicted).sum(0).astype(float)
    fn = (truth & ~predicted).sum(0).astype(float)
    return tp, fp, fn


def multilabel_metrics(truth: np.ndarray, predicted: np.ndarray,
                       labels: list[str]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(summary, per_label) for boolean arrays of shape (texts, labels).

    summary: micro/macro precision, recall, F1, and the exact-match ratio; per_label: precision,
    recall, f1 and support (true count) of each label.
    """
    if truth.shape != predicted.shape or truth.shape[1] != len(labels):
        raise ValueError(f"shapes differ: truth {truth.shape}, predicted {predicted.shape}, "
                         f"{len(labels)} labels")
    tp, fp, fn = label_counts(truth, predicted)
    # a label never predicted (or never true) has tp = 0: precision (recall) 0, as sklearn's
    # zero_division=0
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / np.maximum(tp + fn, 1)
    f1 = _f1(tp, fp, fn)
    micro_tp, micro_fp, micro_fn = tp.sum(), fp.sum(), fn.sum()
    summary = {
        "micro_precision": float(micro_tp / (micro_tp + micro_fp)) if micro_tp + micro_fp else 0.0,
        "micro_recall": float(micro_tp / (micro_tp + micro_fn)) if micro_tp + micro_fn else 0.0,
        "micro_f1": float(_f1(micro_tp, micro_fp, micro_fn)),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "exact_match": float((truth.astype(bool) == predicted.astype(bool)).all(1).mean()),
    }
    per_label = {label: {"precision": float(precision[i]), "recall": float(recall[i]),
                         "f1": float(f1[i]), "support": int(tp[i] + fn[i])}
                 for i, label in enumerate(labels)}
    return summary, per_label


def f1_per_threshold(probabilities: np.ndarray, truth: np.ndarray,
                     thresholds: np.ndarray) -> np.ndarray:
    """F1 of every label at every threshold: shape (len(thresholds), labels)."""
    out = np.empty((len(thresholds), truth.shape[1]))
    for i, threshold in enumerate(thresholds):
        out[i] = _f1(*label_counts(truth, probabilities >= threshold))
    return out
