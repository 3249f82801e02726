import os
import time
from pathlib import Path

import numpy as np
import pytest

from neurank.devices import select_device
from neurank.encoders import SentenceEncoder, resolve_model
from neurank.errors import ModelError, NeurankError


def test_default_model_resolves_to_the_packaged_folder():
    folder = Path(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))
    assert (folder / "modules.json").exists() and "site-packages" in str(folder)
    assert resolve_model("all-MiniLM-L6-v2") == str(folder)
    assert resolve_model("org/some-other-model") == "org/some-other-model"


def test_local_paths_are_used_as_given(tiny_model_dir):
    assert resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)


@pytest.mark.parametrize(("cuda", "mps", "expected"), [
    (True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_device_selection_prefers_cuda_then_mps(monkeypatch, cuda, mps, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert select_device() == select_device("auto") == expected
    assert select_device("cpu") == "cpu"
    if not cuda:
        with pytest.raises(NeurankError, match="CUDA is not available"):
            select_device("cuda:0")


def test_missing_model_fails_fast_offline(tmp_path):
    start = time.monotonic()
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE=1"):
        SentenceEncoder("no-such-org/no-such-model")
    assert time.monotonic() - start < 30


def test_vectors_are_normalised(tiny_encoder):
    vectors = tiny_encoder.encode(["weather data", "stock prices", ""])
    assert vectors.shape == (3, tiny_encoder.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert tiny_encoder.encode([]).shape == (0, tiny_encoder.dim)


@pytest.mark.parametrize("quantize", [False, True])
def test_onnx_encoder_matches_torch(tiny_model_dir, tiny_encoder, tmp_path, monkeypatch,
                                    quantize):
    from neurank.encoders.onnx import OnnxEncoder, export_onnx

    monkeypatch.setenv("NEURANK_CACHE", str(tmp_path))
    encoder = OnnxEncoder(export_onnx(str(tiny_model_dir), quantize=quantize), name="tiny",
                          threads=2)  # two workers: batches run in parallel
    texts = ["daily weather observations", "x", "a longer text about hospital readmissions " * 9,
             "", "stock prices"]
    got, want = encoder.encode(texts, batch_size=2), tiny_encoder.encode(texts)
    assert got.shape == want.shape == (5, tiny_encoder.dim)
    cosine = (got * want).sum(1)
    if quantize:
        assert cosine.min() > 0.97, cosine
    else:
        np.testing.assert_allclose(got, want, atol=1e-5)
    # length-sorted batches come back in the caller's order (int8 activation scales are per
    # batch, so another batch mix moves int8 vectors by ~1e-4)
    atol = 1e-3 if quantize else 1e-5
    np.testing.assert_allclose(encoder.encode(texts[::-1], batch_size=2), got[::-1], atol=atol)
    np.testing.assert_allclose(encoder.encode_queries(texts[:2]), got[:2], atol=atol)


def test_onnx_export_is_cached_and_verified(tiny_model_dir, tmp_path, monkeypatch):
    from neurank.encoders.onnx import MODEL_FILE, export_onnx, read_export_manifest

    monkeypatch.setenv("NEURANK_CACHE", str(tmp_path))
    folder = export_onnx(str(tiny_model_dir))
    manifest = read_export_manifest(folder)
    assert manifest["quantization"] == "int8-dynamic" and manifest["opset"] == 17
    assert manifest["fused_attention"] is True
    stamp = (folder / MODEL_FILE).stat().st_mtime_ns
    assert export_onnx(str(tiny_model_dir)) == folder
    assert (folder / MODEL_FILE).stat().st_mtime_ns == stamp  # reused, not re-exported
    with open(folder / MODEL_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="sha256"):
        read_export_manifest(folder)
    assert read_export_manifest(export_onnx(str(tiny_model_dir)))  # a bad cache is redone


def test_a_search_on_the_onnx_path_never_imports_torch(tmp_path, tiny_model_dir, sample_dir):
    import subprocess
    import sys

    env = {**os.environ, "NEURANK_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "neurank.cli", "index", str(sample_dir), "--out",
                    str(tmp_path / "c"), "--model", str(tiny_model_dir), "--encoder", "onnx"],
                   check=True, env=env, capture_output=True)
    script = ("import sys; from neurank.index import Collection; "
              "from neurank.search import SearchPipeline; "
              f"c = Collection.load({str(tmp_path / 'c')!r}); "
              "hits = SearchPipeline(c).search('weather station', k=3, mode='hybrid'); "
              "assert c.encoder.backend == 'onnx' and len(hits) == 3; "
              "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "False"


def test_unusable_device_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(NeurankError, match="CUDA is not available"):
        select_device("cuda")


def test_auto_falls_back_to_torch_for_models_onnx_cannot_take(tiny_model_dir, tmp_path,
                                                              monkeypatch):
    from sentence_transformers import SentenceTransformer, models

    from neurank.encoders import load_encoder

    monkeypatch.setenv("NEURANK_CACHE", str(tmp_path / "cache"))
    base = SentenceTransformer(str(tiny_model_dir), device="cpu")
    dense = models.Dense(base.get_embedding_dimension(), 8)
    SentenceTransformer(modules=[base[0], base[1], dense], device="cpu").save(
        str(tmp_path / "with-dense"))
    with pytest.warns(UserWarning, match="torch instead"):
        encoder = load_encoder(str(tmp_path / "with-dense"), "auto", device="cpu")
    assert encoder.backend == "torch" and encoder.dim == 8
    with pytest.raises(ModelError, match="Pooling models export"):
        load_encoder(str(tmp_path / "with-dense"), "onnx")
