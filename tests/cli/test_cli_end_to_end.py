"""The real CLI, end to end, on the shipped sample corpus with the real default model."""

import json
import shutil

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def collection(neurank, tmp_path_factory, sample_dir):
    folder = tmp_path_factory.mktemp("cli") / "coll"
    neurank("index", sample_dir, "--out", folder)
    return folder


def test_search_json_in_every_mode(neurank, collection):
    for mode in ("bm25", "dense", "hybrid"):
        out = json.loads(neurank("search", collection, "weather observations for climate research",
                                 "-k", "3", "--mode", mode, "--json").stdout)
        assert out["mode"] == mode and len(out["hits"]) == 3
        assert out["hits"][0]["id"] in {"ds01", "ds02"}, (mode, out["hits"][0])
        assert out["hits"][0]["scores"][mode if mode != "hybrid" else "fused"] > 0


def test_search_table_and_filters(neurank, collection):
    out = neurank("search", collection, "prices", "--filter", "category=finance").stdout
    assert "ds14" in out and "bm25" in out and "fused" in out
    assert "ds24" not in out  # retail


def test_evaluate_and_tune(neurank, collection, sample_dir, tmp_path):
    report_path = tmp_path / "report.json"
    neurank("evaluate", collection, "--dataset", sample_dir, "--mode", "hybrid",
            "--json", report_path, "--report", tmp_path / "report.md", "--run", tmp_path / "run")
    report = json.loads(report_path.read_text())
    assert (report["dataset"], report["split"], report["mode"]) == ("datasets", "test", "hybrid")
    assert {"ndcg@10", "recall@100", "mrr@10", "map@100"} <= set(report["metrics"])
    assert set(report["per_query"]) == {f"q{i}" for i in range(11, 21)}
    # real MiniLM on this easy catalogue: far above a random ranking (~0.1)
    assert report["metrics"]["ndcg@10"] > 0.7
    assert "| datasets | test | hybrid |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "run").read_text().startswith("q11 Q0 ")
    out = neurank("tune", collection, "--dataset", sample_dir, "--split", "train").stdout
    assert "best on datasets/train" in out
    manifest = json.loads((collection / "manifest.json").read_text())
    assert manifest["config"]["fusion"]["method"] in ("weighted", "rrf")
    assert manifest["config"]["tuned_on"] == {
        "dataset": "datasets", "split": "train", "queries": 10, "metric": "ndcg@10",
        "score": pytest.approx(manifest["config"]["tuned_on"]["score"]), "query_ids": None,
        "cv_folds": None, "cv_score": None}
    result = neurank("evaluate", collection, "--dataset", sample_dir, "--mode", "bm25,dense,hybrid")
    assert all(mode in result.stdout for mode in ("bm25", "dense", "hybrid"))
    assert "tuned on" not in result.stderr  # test split: the settings never saw it
    same = neurank("evaluate", collection, "--dataset", sample_dir, "--split", "train")
    assert "fusion was tuned on datasets/train (10 queries)" in " ".join(same.stderr.split())


def test_bad_input_gives_one_clear_error(neurank, tmp_path, collection):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "ok"}\n{"_id": "a", "text": "again"}\n')
    result = neurank("index", bad, "--out", tmp_path / "x", check=False)
    assert result.returncode == 2
    assert f"{bad}:2 field '_id': duplicate document id 'a'" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    result = neurank("search", tmp_path, "query", check=False)
    assert result.returncode == 2 and "not a neurank collection" in result.stderr
    result = neurank("search", collection, "query", "--mode", "fuzzy", check=False)
    assert result.returncode == 2 and "unknown mode" in result.stderr


def test_empty_documents_need_an_explicit_choice(neurank, tmp_path):
    corpus = tmp_path / "c.csv"
    corpus.write_text("id,title,text\n1,Rain gauges,daily rainfall\n2,,\n")
    result = neurank("index", corpus, "--out", tmp_path / "c", check=False)
    assert result.returncode == 2 and "c.csv:3" in result.stderr and "--on-empty" in result.stderr
    neurank("index", corpus, "--out", tmp_path / "c", "--on-empty", "skip")
    out = json.loads(neurank("search", tmp_path / "c", "rainfall", "--json").stdout)
    assert [h["id"] for h in out["hits"]] == ["1"]
    shutil.rmtree(tmp_path / "c")


def test_optimize_merges_segments_and_keeps_results(neurank, collection, tmp_path):
    from neurank.data import Document
    from neurank.index import Collection

    folder = tmp_path / "opt"
    shutil.copytree(collection, folder)
    loaded = Collection.load(folder)
    assert loaded.config.encoder == "onnx"  # auto on a CPU machine
    for i in range(3):  # three commits: three more segments, and deletes
        loaded.upsert([Document(id=f"ds0{i + 1}", title="Replaced", text=f"new text {i}")])
        loaded.save()
    before = json.loads(neurank("search", folder, "weather", "--json").stdout)["hits"]
    out = neurank("optimize", folder).stdout
    assert "4 segment(s) -> 1" in out and "40 documents" in out
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(manifest["segments"]) == 1 and manifest["deletes"] is None
    after = json.loads(neurank("search", folder, "weather", "--json").stdout)["hits"]
    assert [h["id"] for h in after] == [h["id"] for h in before]
