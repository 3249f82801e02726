"""Bounded regression check of the recommendation protocol on the real NCF files."""

import pytest
import yaml

from neurank.data.interactions import read_ncf
from neurank.recommend import MODELS
from neurank.recommend.evaluation import evaluate_sampled

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pinned(repo_root):
    return yaml.safe_load((repo_root / "benchmarks" / "expected" / "recsys.yaml").read_text())


@pytest.fixture
def load(shared_data, require_data):
    return lambda name: read_ncf(require_data(shared_data / name))


@pytest.mark.parametrize("dataset", ["ncf-lastfm", "ncf-atoy"])
def test_itempop_reproduces_deepcf_and_the_pins(load, pinned, dataset):
    split = load(dataset)
    metrics = evaluate_sampled(MODELS["pop"]().fit(split.train), split.test)
    for metric, value in pinned["expected"][dataset]["pop"].items():
        assert metrics[metric] == pytest.approx(value, abs=pinned["tolerance"])
        assert metrics[metric] == pytest.approx(pinned["deepcf_itempop"][dataset][metric],
                                                abs=0.005)


def test_ease_on_lastfm_matches_the_pin(load, pinned):
    split = load("ncf-lastfm")
    model = MODELS["ease"](MODELS["ease"].Config(l2=300.0)).fit(split.train)
    metrics = evaluate_sampled(model, split.test)
    for metric, value in pinned["expected"]["ncf-lastfm"]["ease_l2_300"].items():
        assert metrics[metric] == pytest.approx(value, abs=pinned["tolerance"])
