"""The learned ranker through the real command line: train, search, evaluate with
significance, tune a threshold, cross-validate, attach, compare runs."""

import json

import pytest

from neurank.index import Collection
from neurank.search.ranker import collection_ranker


@pytest.fixture
def collection(neurank, tmp_path, tiny_model_dir, sample_dir):
    out = tmp_path / "coll"
    neurank("index", sample_dir, "--out", out, "--model", tiny_model_dir, "--encoder", "torch")
    return out


def test_train_search_evaluate_tune_attach(neurank, collection, sample_dir, tmp_path,
                                          tiny_model_dir):
    other = tmp_path / "other"
    neurank("index", sample_dir, "--out", other, "--model", tiny_model_dir, "--encoder", "torch")
    missing = neurank("ranker", "attach", other, "--from", collection, check=False)
    assert missing.returncode == 2 and "has no learned ranker" in missing.stderr
    no_ranker = neurank("search", other, "weather", "--mode", "learned", check=False)
    assert no_ranker.returncode == 2 and "ranker train" in no_ranker.stderr
    bad = neurank("ranker", "train", collection, "--dataset", sample_dir, "--kind", "svm",
                  check=False)
    assert bad.returncode == 2 and "--kind must be" in bad.stderr
    bad_group = neurank("ranker", "train", collection, "--dataset", sample_dir, "--features",
                        "scores,vibes", check=False)
    assert bad_group.returncode == 2 and "features.groups.1" in bad_group.stderr

    trained = neurank("ranker", "train", collection, "--dataset", sample_dir, "--split", "test",
                      "--kind", "lambdamart", "--cv", "2", "--json", tmp_path / "cv.json",
                      "--features", "scores,terms,feedback")
    assert "out-of-fold" in trained.stdout and "stored in" in trained.stdout
    report = json.loads((tmp_path / "cv.json").read_text())
    assert (report["mode"], report["protocol"], report["split"]) == ("learned", "cv-2", "test")
    assert {"ndcg@10", "ndcg@3", "f1@3"} <= set(report["metrics"])
    stored = collection_ranker(Collection.load(collection))
    assert stored.config.features.groups == ["scores", "terms", "feedback"]

    hits = json.loads(neurank("search", collection, "weather stations", "--mode", "learned",
                              "--json").stdout)["hits"]
    assert hits and {"ranker", "learned", "bm25", "dense"} <= set(hits[0]["scores"])
    evaluated = neurank("evaluate", collection, "--dataset", sample_dir, "--split", "test",
                        "--mode", "hybrid,learned", "--json", tmp_path / "eval.json")
    assert "paired randomization test against hybrid" in evaluated.stdout
    reports = json.loads((tmp_path / "eval.json").read_text())
    assert [r["mode"] for r in reports] == ["hybrid", "learned"]
    tuned = neurank("tune", collection, "--dataset", sample_dir, "--split", "test",
                    "--threshold", "f1@3")
    assert "threshold on" in tuned.stdout and "f1@3" in tuned.stdout

    neurank("ranker", "attach", other, "--from", collection)
    assert json.loads(neurank("search", other, "weather", "--mode", "learned",
                              "--json").stdout)["hits"]


def test_compare_tests_two_runs(neurank, tmp_path):
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"q{i}\td{i}\t1\n" for i in range(30)))
    good = "".join(f"q{i} Q0 d{i} 1 2.0 good\nq{i} Q0 x{i} 2 1.0 good\n" for i in range(30))
    bad = "".join(f"q{i} Q0 x{i} 1 2.0 bad\nq{i} Q0 d{i} 2 1.0 bad\n" for i in range(30))
    (tmp_path / "a.run").write_text(bad)
    (tmp_path / "b.run").write_text(good)
    result = neurank("compare", tmp_path / "a.run", tmp_path / "b.run", "--qrels", qrels,
                     "--metric", "mrr@10", "--json", tmp_path / "cmp.json")
    test = json.loads((tmp_path / "cmp.json").read_text())[0]
    assert test["difference"] == pytest.approx(0.5) and test["significant"]
    assert "yes" in result.stdout
    wrong = neurank("compare", tmp_path / "a.run", tmp_path / "b.run", "--qrels", qrels,
                    "--metric", "ndcg", check=False)
    assert wrong.returncode == 2 and "unknown metric" in wrong.stderr
