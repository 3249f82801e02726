"""sentence-transformers encoder with offline resolution of the default model."""

from __future__ import annotations

import os

import numpy as np

from neurank.config import DEFAULT_MODEL
from neurank.devices import select_device
from neurank.encoders.resolve import resolve_model
from neurank.errors import ModelError


class SentenceEncoder:
    """An `Encoder` on torch (sentence-transformers): any device, any architecture."""

    backend = "torch"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        batch_size: int = 64,
        max_seq_length: int | None = None,
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

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """Vectors for queries (same model and settings as documents)."""
        return self.encode(queries)
