"""Bounded regression check of the fine-tuning evaluators on the real STS-B test pairs."""

import pytest
import yaml

from neurank.encoders import load_encoder
from neurank.finetune.data import read_pairs
from neurank.finetune.evaluation import pair_metrics

pytestmark = pytest.mark.slow


def test_base_model_on_stsb_matches_the_pin(shared_data, require_data, repo_root):
    pinned = yaml.safe_load((repo_root / "benchmarks" / "expected" / "finetune.yaml").read_text())
    pairs = read_pairs(require_data(shared_data / "stsb" / "test.tsv"))
    encoder = load_encoder("sentence-transformers/all-MiniLM-L6-v2", "torch")
    metrics = pair_metrics(lambda texts: encoder.encode(texts), pairs)
    for name, value in pinned["stsb_test"]["base"].items():
        assert metrics[name] == pytest.approx(value, abs=pinned["tolerance"])
