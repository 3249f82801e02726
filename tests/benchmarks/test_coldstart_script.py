"""`benchmarks/coldstart.py`'s own figure: the held-out users ranked by the other held-out users'
likes, checked against a plain count-and-sort reference."""

import importlib.util
import math
import sys

import numpy as np
import pytest

from neurank.data.interactions import Interactions
from neurank.recommend.coldstart import ColdUserSplit


@pytest.fixture(scope="module")
def coldstart(repo_root):
    spec = importlib.util.spec_from_file_location("coldstart_benchmark",
                                                  repo_root / "benchmarks" / "coldstart.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["coldstart_benchmark"] = module
    spec.loader.exec_module(module)
    return module


def _reference(relevant: list[list[int]], num_items: int) -> float:
    """Per user: count every other user's likes, sort by (count desc, item asc), NDCG@10."""
    total = 0.0
    for me, mine in enumerate(relevant):
        counts = [0] * num_items
        for other, theirs in enumerate(relevant):
            if other != me:
                for item in theirs:
                    counts[item] += 1
        ranking = sorted(range(num_items), key=lambda i: (-counts[i], i))[:10]
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(ranking) if i in mine)
        ideal = sum(1 / math.log2(r + 2) for r in range(min(len(mine), 10)))
        total += dcg / ideal
    return total / len(relevant)


def test_held_out_popularity_leaves_each_user_out(coldstart):
    rng = np.random.default_rng(0)
    num_items = 25
    # skewed likes, so a user's own likes would lift its items if it were counted
    weights = 1 / np.arange(1, num_items + 1)
    relevant = [sorted(rng.choice(num_items, size=rng.integers(1, 6), replace=False,
                                  p=weights / weights.sum()).tolist()) for _ in range(40)]
    items = [f"i{j}" for j in range(num_items)]
    users = [f"u{k}" for k in range(40)]
    liked = {u: [items[j] for j in r] for u, r in zip(users, relevant, strict=True)}
    no_training = Interactions([], items, np.zeros(0, np.int64), np.zeros(0, np.int64),
                               np.zeros(0), np.zeros(0, np.int64))
    split = ColdUserSplit(no_training, users, liked, "test")
    assert coldstart.others_popularity_ndcg(split) == pytest.approx(
        _reference(relevant, num_items), abs=1e-9)
