"""Checkpoint manifests name what they are in their errors; file listings leave the manifest
out and use POSIX names (what the manifest's sha256 list is keyed by); atomic writes, manifest
checksums and file-name confinement, down to what `make mutation` would otherwise let through."""

import hashlib
import os
from pathlib import Path

import pytest

from neurank import __version__, artifacts
from neurank.artifacts import (
    atomic_write_json,
    atomic_write_text,
    confined_name,
    files_below,
    manifest_checksum,
    read_checkpoint_manifest,
    read_manifest,
    sha256_file,
    verify_files,
    write_manifest,
)
from neurank.errors import CheckpointError, DataError
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


# ---------------------------------------------------------------- atomic writes (mutation-checked)
def test_atomic_writes_refuse_a_missing_folder_or_a_folder_target_by_name(tmp_path):
    with pytest.raises(DataError) as missing:
        atomic_write_text(tmp_path / "nowhere" / "out.json", "x")
    assert str(missing.value) == (f"{tmp_path / 'nowhere'}: cannot write out.json: the folder "
                                  "does not exist")
    (tmp_path / "taken").mkdir()
    with pytest.raises(DataError) as folder:
        atomic_write_text(tmp_path / "taken", "x")
    assert str(folder.value) == f"{tmp_path / 'taken'}: is a folder, expected a file to write"


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_staging_file(tmp_path,
                                                                             monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")
    staged = []

    def full_disk(source, destination):
        staged.append(Path(source))
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", full_disk)
        with pytest.raises(OSError, match="disk full"):
            atomic_write_text(target, "new")
    (source,) = staged  # a hidden sibling: same file system, so the rename is atomic
    assert source.parent == tmp_path
    assert source.name.startswith(".report.json.") and source.name.endswith(".tmp")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == [target.name]

    def failing_fsync(folder):
        raise OSError("fsync failed")

    monkeypatch.setattr(artifacts, "fsync_dir", failing_fsync)
    with pytest.raises(OSError, match="fsync failed"):  # not the cleanup's FileNotFoundError
        atomic_write_text(target, "newer")


def test_atomic_writes_get_the_umask_mode_not_mkstemps_private_one(tmp_path):
    atomic_write_text(tmp_path / "r.txt", "x")
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "r.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_json_is_written_sorted_and_indented(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "m.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


# ---------------------------------------------------------------- manifests
def test_the_manifest_checksum_is_sha256_of_canonical_json():
    payload = {"b": [1, "é"], "a": {"z": 1, "y": None}, "manifest_sha256": "left out"}
    canonical = '{"a":{"y":null,"z":1},"b":[1,"\\u00e9"]}'
    assert manifest_checksum(payload) == hashlib.sha256(canonical.encode("ascii")).hexdigest()


def test_manifest_errors_name_the_file_and_the_problem(tmp_path):
    def read():
        return read_manifest(tmp_path, fmt="toy", version=2, what="toy", error=CheckpointError)

    with pytest.raises(CheckpointError) as missing:
        read()
    assert str(missing.value) == f"{tmp_path} is not a neurank toy (no manifest.json)"
    path = tmp_path / "manifest.json"
    for body in ("[]", '"toy"', '{"format": "other"}'):
        path.write_text(body)
        with pytest.raises(CheckpointError) as wrong:
            read()
        assert str(wrong.value) == f"{path}: not a neurank toy manifest"
    write_manifest(tmp_path, {"format": "toy", "format_version": 1})
    with pytest.raises(CheckpointError) as old:
        read()
    assert str(old.value) == (f"{path}: toy format 1 is not supported by neurank {__version__} "
                              "(expects 2)")


def test_verify_files_names_a_malformed_list_a_missing_or_a_modified_file(tmp_path):
    with pytest.raises(CheckpointError) as malformed:
        verify_files(tmp_path, ["a.bin"], CheckpointError)
    assert str(malformed.value) == f"{tmp_path}: the manifest's file list is malformed"
    (tmp_path / "a.bin").write_bytes(b"a")
    files = {"a.bin": sha256_file(tmp_path / "a.bin")}
    verify_files(tmp_path, files, CheckpointError)
    (tmp_path / "a.bin").write_bytes(b"b")
    with pytest.raises(CheckpointError) as modified:
        verify_files(tmp_path, files, CheckpointError)
    assert str(modified.value) == (f"{tmp_path}: file a.bin does not match its sha256 in the "
                                   "manifest (modified or corrupted)")
    (tmp_path / "a.bin").unlink()
    with pytest.raises(CheckpointError) as gone:
        verify_files(tmp_path, files, CheckpointError)
    assert str(gone.value) == f"{tmp_path}: file a.bin named in the manifest is missing"


@pytest.mark.parametrize("name", ["", "a//b", "./a", "a/./b", "../a", "a/../../b", "a\\b",
                                  "a\x00b", "/etc/passwd", 3])
def test_names_that_could_leave_the_folder_are_refused(tmp_path, name):
    with pytest.raises(CheckpointError, match="the manifest names an invalid file"):
        confined_name(tmp_path, name, CheckpointError)


def test_nested_names_resolve_but_a_linked_sub_folder_is_refused(tmp_path):
    (tmp_path / "encoder" / "onnx").mkdir(parents=True)
    assert (confined_name(tmp_path, "encoder/onnx/m.onnx", CheckpointError)
            == tmp_path / "encoder" / "onnx" / "m.onnx")
    (tmp_path / "outside").mkdir()
    (tmp_path / "encoder" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(CheckpointError) as linked:
        confined_name(tmp_path, "encoder/link/m.onnx", CheckpointError)
    assert str(linked.value) == f"{tmp_path}: encoder/link is a link, not a folder"
