"""Careless command lines: outputs that are files, missing folders, re-indexing without
--force, negative budgets; each one line on stderr and exit code 2, nothing overwritten."""

import pytest


@pytest.fixture
def tiny_index(neurank, tmp_path, tiny_model_dir, sample_dir):
    def index(out, *extra, check=True):
        return neurank("index", sample_dir, "--out", out, "--model", tiny_model_dir,
                       "--encoder", "torch", *extra, check=check)
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
