"""Checkpoint manifests name what they are in their errors; file listings leave the manifest
out and use POSIX names (what the manifest's sha256 list is keyed by)."""

import pytest

from neurank.artifacts import files_below, read_checkpoint_manifest
from neurank.errors import CheckpointError
from neurank.training.checkpoint import save_checkpoint


def test_files_below_lists_nested_files_except_the_manifest(tmp_path):
    (tmp_path / "encoder" / "onnx").mkdir(parents=True)
    for name in ("manifest.json", "weights.bin", "encoder/vocab.txt", "encoder/onnx/m.onnx"):
        (tmp_path / name).write_text("x")
    (tmp_path / "encoder" / "manifest.json").write_text("{}")  # only the top one is special
    assert files_below(tmp_path) == ["encoder/manifest.json", "encoder/onnx/m.onnx",
                                     "encoder/vocab.txt", "weights.bin"]


def test_a_missing_checkpoint_manifest_says_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match=r"is not a neurank checkpoint \(no manifest"):
        read_checkpoint_manifest(tmp_path)


def test_checkpoint_manifest_read_back(tmp_path):
    save_checkpoint(tmp_path / "c", kind="toy", tensors={}, meta={"a": 1})
    manifest = read_checkpoint_manifest(tmp_path / "c")
    assert manifest["format"] == "neurank-checkpoint" and manifest["kind"] == "toy"
    assert manifest["a"] == 1
