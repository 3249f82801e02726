"""Bounded regression check of the cold-users protocol on the real MovieLens 100K files."""

import numpy as np
import pytest
import yaml

from neurank.data.interactions import read_interaction_log
from neurank.data.profiles import read_movielens_items, read_movielens_users
from neurank.recommend import MODELS
from neurank.recommend.coldstart import evaluate_cold_users, holdout_users, positives

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def movielens(shared_data, require_data):
    folder = require_data(shared_data / "ml-100k")
    return (read_interaction_log(folder / "u.data"), read_movielens_users(folder / "u.user"),
            read_movielens_items(folder / "u.item"))


@pytest.fixture(scope="module")
def pinned(repo_root):
    return yaml.safe_load((repo_root / "benchmarks" / "expected" / "coldstart.yaml").read_text())


def _run(family, movielens, seed):
    data, users, items = movielens
    split = holdout_users(data, 0.2, seed, min_rating=4.0, items=items.ids)
    cls = MODELS[family]
    config = cls.Config()
    if family == "profile":
        config.trainer.seed, config.trainer.show_progress = seed, False
    model = cls(config).with_features(users, items, ratings=split.train) \
        if family != "pop" else cls(config)
    return evaluate_cold_users(model.fit(positives(split.train, 4.0)), split, users)


@pytest.mark.parametrize("family", ["pop", "pop-segment", "profile-knn"])
def test_baselines_match_the_pins(movielens, pinned, family):
    runs = [_run(family, movielens, seed) for seed in range(5)]
    for metric, value in pinned["expected_mean_over_seeds"][family].items():
        assert np.mean([r[metric] for r in runs]) == pytest.approx(value, abs=pinned["tolerance"])


def test_profile_model_seed_0_matches_the_pin(movielens, pinned):
    metrics = _run("profile", movielens, 0)
    assert metrics["ndcg@10"] == pytest.approx(pinned["profile_seed_0"]["ndcg@10"],
                                               abs=pinned["profile_tolerance"])
