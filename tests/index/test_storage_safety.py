"""What a careless operator or an attacker does to a collection or checkpoint folder."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from neurank.artifacts import manifest_checksum, write_manifest
from neurank.config import AnalyzerConfig, CollectionConfig, VectorIndexConfig
from neurank.data import Document
from neurank.errors import CheckpointError, CollectionError
from neurank.index import Collection
from neurank.index.collection import read_manifest
from neurank.search import SearchPipeline
from neurank.training.checkpoint import load_checkpoint, save_checkpoint


def rewrite_manifest(folder, change):
    """Edit a manifest the way a tool that knows the checksum would (so only our checks stop it)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    manifest.pop("manifest_sha256")
    write_manifest(folder, manifest)


def test_a_second_writer_fails_fast_naming_the_first(sample_collection, tiny_encoder):
    folder = sample_collection.folder
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from neurank.index.collection import WriterLock; "
         f"lock = WriterLock(Path({str(folder)!r})); print('locked', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CollectionError, match=f"being written by PID {holder.pid}"):
            sample_collection.delete(["ds01"])
        with pytest.raises(CollectionError, match=f"PID {holder.pid}"):
            Collection.build(folder, [Document(id="x", title="t", text="")],
                             encoder=tiny_encoder, show_progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert len(Collection.load(folder, encoder=tiny_encoder)) == 40  # nothing half-written
    sample_collection.delete(["ds01"])  # the lock died with its holder
    sample_collection.save()


def test_a_writer_behind_another_commit_is_refused(sample_collection, tiny_encoder):
    folder = sample_collection.folder
    first = Collection.load(folder, encoder=tiny_encoder)
    second = Collection.load(folder, encoder=tiny_encoder)
    second.delete(["ds02"])
    second.save()
    with pytest.raises(CollectionError, match="committed to generation 2 by another writer"):
        first.delete(["ds03"])
    reloaded = Collection.load(folder, encoder=tiny_encoder)
    assert "ds02" not in reloaded and "ds03" in reloaded and reloaded.generation == 2


def test_every_bit_flip_of_the_manifest_is_refused(sample_collection, tiny_encoder):
    folder = sample_collection.folder
    original = (folder / "manifest.json").read_bytes()
    accepted = []
    for position in range(len(original)):
        for bit in range(8):
            flipped = bytearray(original)
            flipped[position] ^= 1 << bit
            (folder / "manifest.json").write_bytes(bytes(flipped))
            try:
                read_manifest(folder)
            except CollectionError:
                continue
            accepted.append((position, bit))
    (folder / "manifest.json").write_bytes(original)
    assert accepted == []
    assert len(Collection.load(folder, encoder=tiny_encoder)) == 40


def test_manifest_paths_cannot_leave_the_folder(sample_collection, tiny_encoder, tmp_path):
    folder = sample_collection.folder
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    from neurank.artifacts import sha256_file

    rewrite_manifest(folder, lambda m: m["files"].update(
        {"../outside.txt": sha256_file(outside)}))
    with pytest.raises(CollectionError, match=r"invalid file '\.\./outside\.txt'"):
        Collection.load(folder, encoder=tiny_encoder)
    rewrite_manifest(folder, lambda m: (m["files"].pop("../outside.txt"),
                                        m.update(generation="x/../../evil/docs.g1")))
    with pytest.raises(CollectionError, match="field 'generation'"):
        Collection.load(folder, encoder=tiny_encoder)


def test_a_file_missing_from_the_list_is_never_opened(sample_collection, tiny_encoder):
    folder = sample_collection.folder
    rewrite_manifest(folder, lambda m: m["files"].pop("s1.bm25.npz"))
    with pytest.raises(CollectionError, match=r"does not list s1\.bm25\.npz"):
        Collection.load(folder, encoder=tiny_encoder)


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero"])
def test_special_files_do_not_hang_verification(sample_collection, tiny_encoder, kind):
    target = sample_collection.folder / "s1.bm25.npz"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            Collection.load(sample_collection.folder, encoder=tiny_encoder)
            outcome.append(None)
        except BaseException as error:  # handed to the test thread below
            outcome.append(error)

    # a daemon thread, so a regression fails this test in 5 s instead of hanging the run
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert outcome, "verification hung on a special file"
    assert isinstance(outcome[0], CollectionError)
    assert "not a regular file" in str(outcome[0])


def test_broken_manifests_name_the_field(sample_collection, tiny_encoder):
    folder = sample_collection.folder
    rewrite_manifest(folder, lambda m: m.pop("model"))
    with pytest.raises(CollectionError, match="field 'model'"):
        Collection.load(folder, encoder=tiny_encoder)
    rewrite_manifest(folder, lambda m: m.update(model={"name": "x", "dim": 8},
                                                files=["s1.docs.sqlite"]))
    with pytest.raises(CollectionError, match="field 'files'"):
        Collection.load(folder, encoder=tiny_encoder)


def test_catastrophic_token_patterns_are_refused(sample_collection, tiny_encoder):
    with pytest.raises(ValueError, match="exponential"):
        AnalyzerConfig(token_pattern="(a+)+$")
    rewrite_manifest(sample_collection.folder,
                     lambda m: m["config"]["analyzer"].update(token_pattern="(\\w+\\s?)*$"))
    with pytest.raises(CollectionError, match="token_pattern"):
        Collection.load(sample_collection.folder, encoder=tiny_encoder)


def test_an_interrupted_first_build_can_be_redone(tmp_path, tiny_encoder, tiny_model_dir,
                                                  sample_documents):
    folder = tmp_path / "coll"
    folder.mkdir()
    for leftover in ("s1.docs.sqlite", "s1.bm25.npz", ".lock", ".manifest.json.abc.tmp"):
        (folder / leftover).write_bytes(b"half written")
    config = CollectionConfig(model=str(tiny_model_dir))
    built = Collection.build(folder, sample_documents, config, encoder=tiny_encoder,
                             show_progress=False)
    assert len(Collection.load(folder, encoder=tiny_encoder)) == len(built) == 40
    assert not (folder / ".manifest.json.abc.tmp").exists()


def test_a_checkpoint_survives_a_crash_between_its_renames(tmp_path):
    target = tmp_path / "ckpt"
    save_checkpoint(target, kind="toy", tensors={"w": np.arange(3.0)}, meta={})
    target.rename(tmp_path / ".ckpt.old-1")  # the first rename of an overwrite, then a crash
    (tmp_path / ".ckpt.staging-dead").mkdir()
    assert load_checkpoint(target).array("w").tolist() == [0.0, 1.0, 2.0]
    save_checkpoint(target, kind="toy", tensors={"w": np.arange(2.0)}, meta={})
    assert load_checkpoint(target).array("w").tolist() == [0.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no staging leaks


@pytest.mark.parametrize("name", ["weights.safetensors", "ids.json", "optimizer.safetensors",
                                  "manifest.json"])
def test_every_checkpoint_file_is_verified(tmp_path, name):
    import torch

    target = tmp_path / "ckpt"
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    save_checkpoint(target, kind="toy", tensors=model.state_dict(), meta={"a": 1},
                    ids={"users": ["u1"]}, optimizer=optimizer.state_dict())
    load_checkpoint(target)
    data = bytearray((target / name).read_bytes())
    data[len(data) // 2] ^= 1
    (target / name).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"sha256|checksum|not valid JSON"):
        load_checkpoint(target)


def test_the_manifest_checksum_covers_search_settings(sample_collection, tiny_encoder):
    folder = sample_collection.folder
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["manifest_sha256"] == manifest_checksum(manifest)
    manifest["config"]["fusion"]["dense_weight"] = 0.9  # edited without the checksum
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CollectionError, match="does not match its own checksum"):
        SearchPipeline(Collection.load(folder, encoder=tiny_encoder))


def test_milvus_collection_refused_when_its_count_disagrees(tmp_path, tiny_encoder,
                                                            tiny_model_dir, sample_documents):
    pytest.importorskip("pymilvus")
    config = CollectionConfig(model=str(tiny_model_dir),
                              vectors=VectorIndexConfig(backend="milvus"))
    milvus = Collection.build(tmp_path / "m", sample_documents, config, encoder=tiny_encoder,
                              show_progress=False)
    faiss = Collection.build(tmp_path / "f", sample_documents,
                             CollectionConfig(model=str(tiny_model_dir)), encoder=tiny_encoder,
                             show_progress=False)
    for mode in ("dense", "hybrid"):
        for query in ("weather station", "patients in hospital"):
            got = SearchPipeline(milvus).search(query, k=10, mode=mode)
            want = SearchPipeline(faiss).search(query, k=10, mode=mode)
            assert [h.id for h in got] == [h.id for h in want], (mode, query)
            np.testing.assert_allclose([h.score for h in got], [h.score for h in want],
                                       atol=1e-5)
    milvus.vectors.client.delete(milvus.vectors.name, ids=[1])  # someone else's write
    milvus.vectors.client.flush(milvus.vectors.name)
    milvus.close()
    with pytest.raises(CollectionError, match="holds 39 vectors but the manifest committed 40"):
        Collection.load(tmp_path / "m", encoder=tiny_encoder)
