"""The real default model (all-MiniLM-L6-v2, as `neurank index` loads it) on a fixed SciFact
subset with its judged queries: BM25, dense and hybrid figures pinned in
benchmarks/expected/scifact.yaml (`ci_subset`), so a change that moves the headline modes is
seen in CI without encoding the whole corpus (~20 s here)."""

import numpy as np
import pytest
import yaml

from neurank.config import CollectionConfig
from neurank.data import read_beir
from neurank.index import Collection
from neurank.search import SearchPipeline
from neurank.search.evaluation import evaluate_collection

pytestmark = pytest.mark.slow


def test_the_default_model_on_a_scifact_subset_matches_its_pins(tmp_path, shared_data,
                                                                 require_data, repo_root):
    folder = require_data(shared_data / "scifact" / "corpus.jsonl").parent
    pins = yaml.safe_load((repo_root / "benchmarks" / "expected" / "scifact.yaml").read_text())
    subset = pins["ci_subset"]
    data = read_beir(folder, "test", load_corpus=True)
    query_ids = sorted(data.qrels)[: subset["queries"]]
    relevant = {doc for q in query_ids for doc in data.qrels[q]}
    others = sorted(d.id for d in data.corpus or [] if d.id not in relevant)
    picked = set(np.random.default_rng(0).choice(others, subset["distractors"], replace=False))
    documents = [d for d in data.corpus or [] if d.id in relevant or d.id in picked]
    assert len(documents) == subset["documents"]
    pipeline = SearchPipeline(Collection.build(tmp_path / "subset", documents, CollectionConfig(),
                                               show_progress=False))
    for mode, expected in subset["expected"].items():
        report, _ = evaluate_collection(pipeline, data.subset(set(query_ids)), mode=mode,
                                        metrics=tuple(expected))
        for metric, value in expected.items():
            assert report["metrics"][metric] == pytest.approx(value, abs=subset["tolerance"]), (
                mode, metric)
