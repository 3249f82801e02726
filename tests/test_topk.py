"""Top-k selection against a sort of every entry, with many ties at the cut."""

import numpy as np
import pytest

from neurank.topk import top_indices


def reference(values, k, tiebreak=None):
    tiebreak = np.zeros(len(values)) if tiebreak is None else tiebreak
    finite = [i for i in range(len(values)) if np.isfinite(values[i])]
    return sorted(finite, key=lambda i: (-values[i], -tiebreak[i], i))[:k]


@pytest.mark.parametrize("seed", range(20))
def test_matches_a_full_sort_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    values = rng.integers(0, 5, n).astype(np.float64)  # few distinct values: ties everywhere
    values[rng.random(n) < 0.1] = -np.inf
    values[rng.random(n) < 0.05] = np.nan
    tiebreak = rng.integers(0, 3, n).astype(np.float64)
    k = int(rng.integers(1, n + 5))
    assert top_indices(values, k).tolist() == reference(values, k)
    assert top_indices(values, k, tiebreak).tolist() == reference(values, k, tiebreak)


def test_a_cut_through_a_long_tie_keeps_the_earliest():
    # argpartition alone returns other members of the tie on AVX-512 machines
    np.testing.assert_array_equal(top_indices(np.ones(400, dtype=np.float32), 50), np.arange(50))


def test_nothing_finite_or_k_zero_gives_nothing():
    assert top_indices(np.full(3, -np.inf), 2).tolist() == []
    assert top_indices(np.arange(3.0), 0).tolist() == []
