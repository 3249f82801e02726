import time
from pathlib import Path

import numpy as np
import pytest

from neurank.encoders import SentenceEncoder, resolve_model
from neurank.errors import ModelError, NeurankError
from neurank.training.device import select_device


def test_default_model_resolves_to_the_packaged_folder():
    folder = Path(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))
    assert (folder / "modules.json").exists() and "site-packages" in str(folder)
    assert resolve_model("all-MiniLM-L6-v2") == str(folder)
    assert resolve_model("org/some-other-model") == "org/some-other-model"


def test_local_paths_are_used_as_given(tiny_model_dir):
    assert resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)


def test_device_selection():
    assert select_device() in ("cuda", "mps", "cpu")
    assert select_device("cpu") == "cpu"


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


def test_onnx_query_path_equals_torch(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURANK_CACHE", str(tmp_path))
    encoder = SentenceEncoder(str(tiny_model_dir), device="cpu", query_backend="onnx")
    queries = ["daily weather observations", "x", "a longer query about hospital readmissions"]
    np.testing.assert_allclose(encoder.encode_queries(queries), encoder.encode(queries),
                               atol=1e-5)
    assert list((tmp_path / "onnx").glob("*.onnx")), "export is cached"
    assert encoder._onnx is not None


def test_unusable_device_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(NeurankError, match="CUDA is not available"):
        select_device("cuda")
