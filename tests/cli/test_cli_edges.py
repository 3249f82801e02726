"""Careless command lines: outputs that are files, missing folders, re-indexing without
--force, negative budgets; each one line on stderr and exit code 2, nothing overwritten."""

import pytest


@pytest.fixture
def tiny_index(neurank, tmp_path, tiny_model_dir, sample_dir):
    def index(out, *extra, check=True, extra_source=None):
        return neurank("index", extra_source or sample_dir, "--out", out, "--model",
                       tiny_model_dir, "--encoder", "torch", *extra, check=check)
    return index


def assert_clean_error(result, message):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and message in result.stderr, result.stderr


def test_outputs_that_are_files_are_refused_and_kept(neurank, tmp_path, tiny_index, repo_root):
    target = tmp_path / "afile"
    target.write_text("precious")
    assert_clean_error(tiny_index(target, check=False), "exists and is not a folder")
    assert_clean_error(neurank("classify", "train", "--data", repo_root / "samples" / "classify",
                               "--out", target,
                               check=False), "exists and is not a folder")
    assert target.read_text() == "precious"


def test_reindexing_needs_force(tiny_index, tmp_path):
    out = tmp_path / "coll"
    tiny_index(out)
    assert_clean_error(tiny_index(out, check=False), "already holds a collection; pass --force")
    tiny_index(out, "--force")


def test_writing_into_a_missing_folder_is_named(neurank, tiny_index, tmp_path, sample_dir):
    out = tmp_path / "coll"
    tiny_index(out)
    result = neurank("evaluate", out, "--dataset", sample_dir, "--run",
                     tmp_path / "missing" / "run.trec", check=False)
    assert_clean_error(result, "the folder does not exist")


def test_negative_budgets_are_usage_errors(neurank, tmp_path):
    result = neurank("rec", "train", "--data", tmp_path, "--out", tmp_path / "x",
                     "--budget-s", "-5", check=False)
    assert_clean_error(result, "Invalid value for '--budget-s'")


def test_reindexing_reuses_embeddings_of_unchanged_documents(tiny_index, tmp_path, sample_dir):
    import json
    import shutil

    import numpy as np

    from neurank.index import Collection

    out = tmp_path / "coll"
    tiny_index(out)
    before = Collection.load(out).vectors_by_content()
    changed = tmp_path / "changed"
    shutil.copytree(sample_dir, changed)
    lines = (changed / "corpus.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["text"] = "entirely new words about glaciers"
    (changed / "corpus.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    result = tiny_index(out, "--force", extra_source=changed)
    assert "reusing the embeddings of 39 unchanged documents" in " ".join(result.stderr.split())
    after = Collection.load(out)
    rebuilt = after.vectors_by_content()
    for content, vector in rebuilt.items():
        if content in before:
            np.testing.assert_array_equal(vector, before[content])
    fresh = after.encoder.encode([after.get(first["_id"]).content])[0]
    np.testing.assert_allclose(rebuilt[after.get(first["_id"]).content], fresh, atol=1e-6)


def test_tune_on_a_share_of_test_and_evaluate_on_the_rest(neurank, tiny_index, tmp_path,
                                                           sample_dir):
    import json

    out = tmp_path / "coll"
    tiny_index(out)
    tuned = neurank("tune", out, "--dataset", sample_dir, "--split", "test", "--dev-fraction",
                    "0.3")
    assert "tuning on 3 of the 10 queries of test" in tuned.stderr
    assert "optimistic" not in tuned.stderr
    record = json.loads((out / "manifest.json").read_text())["config"]["tuned_on"]
    assert record["split"] == "test" and len(record["query_ids"]) == 3
    report = tmp_path / "r.json"
    result = neurank("evaluate", out, "--dataset", sample_dir, "--split", "test", "--json",
                     report)
    assert "scoring the other 7" in result.stderr
    scored = set(json.loads(report.read_text())["per_query"])
    assert len(scored) == 7 and not scored & set(record["query_ids"])
