"""Per-label decision thresholds, chosen on a development split to maximise each label's F1.

A label with fewer than `min_positives` positives in the development split has too little
evidence for its own threshold (it would fit noise); it gets the global threshold, the single
value that maximises macro-F1 over all labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurank.eval.classification import f1_per_threshold

GRID = np.round(np.arange(0.02, 0.96, 0.01), 2)


@dataclass(frozen=True)
class Thresholds:
    """Chosen thresholds, the global fallback, and which labels fell back to it."""

    values: dict[str, float]
    global_threshold: float
    fallback: list[str]

    def as_array(self, labels: list[str]) -> np.ndarray:
        return np.asarray([self.values[label] for label in labels], dtype=np.float32)

    def to_json(self) -> dict[str, object]:
        return {"values": self.values, "global": self.global_threshold,
                "fallback": self.fallback}

    @classmethod
    def from_json(cls, payload: dict[str, object]) -> Thresholds:
        values = payload["values"]
        fallback = payload["fallback"]
        if not isinstance(values, dict) or not isinstance(fallback, list):
            raise ValueError("malformed thresholds")
        return cls({str(k): float(v) for k, v in values.items()},
                   float(payload["global"]),  # type: ignore[arg-type]
                   [str(x) for x in fallback])

    @classmethod
    def constant(cls, labels: list[str], value: float = 0.5) -> Thresholds:
        return cls({label: value for label in labels}, value, list(labels))


def tune_thresholds(probabilities: np.ndarray, truth: np.ndarray, labels: list[str], *,
                    min_positives: int = 5, grid: np.ndarray = GRID) -> Thresholds:
    """Thresholds maximising each label's F1 on (probabilities, truth) of a development split.

    Ties go to the lowest threshold reaching the best F1 (np.argmax takes the first).
    """
    f1 = f1_per_threshold(probabilities, truth, grid)
    global_threshold = float(grid[int(np.argmax(f1.mean(1)))])
    positives = truth.astype(bool).sum(0)
    values, fallback = {}, []
    for i, label in enumerate(labels):
        if positives[i] < min_positives:
            values[label] = global_threshold
            fallback.append(label)
        else:
            values[label] = float(grid[int(np.argmax(f1[:, i]))])
    return Thresholds(values, global_threshold, fallback)
