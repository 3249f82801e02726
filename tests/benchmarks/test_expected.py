"""Bounded regression check of the pinned SciFact BM25 figures (benchmarks/expected/)."""

import pytest
import yaml

from neurank.config import CollectionConfig
from neurank.data import read_beir
from neurank.index import Collection
from neurank.search import SearchPipeline
from neurank.search.evaluation import evaluate_collection

pytestmark = pytest.mark.slow


def test_scifact_bm25_matches_pinned_figures(tmp_path, tiny_encoder, tiny_model_dir, shared_data,
                                             repo_root, require_data):
    folder = require_data(shared_data / "scifact" / "corpus.jsonl").parent
    pinned = yaml.safe_load((repo_root / "benchmarks" / "expected" / "scifact.yaml").read_text())
    data = read_beir(folder, pinned["split"], load_corpus=True)
    # BM25 does not depend on the encoder: the tiny model keeps this test to seconds
    collection = Collection.build(tmp_path / "scifact", data.corpus or [],
                                  CollectionConfig(model=str(tiny_model_dir)),
                                  encoder=tiny_encoder, show_progress=False)
    report, _ = evaluate_collection(SearchPipeline(collection), data, mode="bm25",
                                    metrics=tuple(pinned["expected"]["bm25"]))
    assert report["num_queries"] == 300
    for metric, expected in pinned["expected"]["bm25"].items():
        assert report["metrics"][metric] == pytest.approx(expected, abs=pinned["tolerance"]), metric
