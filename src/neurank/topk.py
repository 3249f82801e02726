"""Top-k selection with ties broken the same way on every CPU.

`np.argpartition` picks among values tied at the cut by its SIMD path (AVX-512 machines take
another one), so a bare partition makes retrieval and recommendation depend on the machine.
Here every value tied at the cut stays in the race and ties are ordered explicitly.
"""

from __future__ import annotations

import numpy as np


def top_indices(values: np.ndarray, k: int, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k largest finite `values`, best first; exact ties go to the higher
    `tiebreak` (same length as `values`), then to the lower index."""
    candidates = np.flatnonzero(np.isfinite(values))
    k = min(k, len(candidates))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if len(candidates) > k:
        cut = len(candidates) - k
        threshold = np.partition(values[candidates], cut)[cut]
        candidates = candidates[values[candidates] >= threshold]
    keys = [candidates, -values[candidates]]
    if tiebreak is not None:
        keys.insert(1, -tiebreak[candidates])
    return candidates[np.lexsort(keys)[:k]]
