"""A trained two-tower checkpoint as an Encoder: documents through the document tower,
queries through the query tower (`neurank index SOURCE --encoder two-tower:DIR`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from neurank.encoders.vocabulary import WordVocabulary

TWO_TOWER_KIND = "encoder/two-tower"
VOCABULARY_FILE = "vocab.txt"
TWO_TOWER_PREFIX = "two-tower:"


def is_two_tower(path: str | Path) -> bool:
    """Whether `path` is a neurank two-tower checkpoint folder (cheap: the manifest's kind)."""
    import json

    manifest = Path(path).expanduser() / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("kind") == TWO_TOWER_KIND
    except (OSError, ValueError, AttributeError):
        return False


class TwoTowerEncoder:
    """Encoder protocol over a verified two-tower checkpoint (torch on CPU, small batches)."""

    backend = "torch"

    def __init__(self, folder: str | Path) -> None:
        import torch

        from neurank.training.checkpoint import load_checkpoint, load_module

        self.folder = Path(folder).expanduser()
        checkpoint = load_checkpoint(self.folder, kind=TWO_TOWER_KIND)
        config = checkpoint.meta["config"]
        self.name = str(folder)
        self.model = load_module(checkpoint)
        self.dim = int(self.model.output_dim)
        self.vocabulary = WordVocabulary.load(self.folder / VOCABULARY_FILE)
        self.query_length = int(config["max_query_length"])
        self.document_length = int(config["max_document_length"])
        self._torch = torch

    def _run(self, tower, texts: list[str], max_length: int, batch_size: int,
             show_progress: bool) -> np.ndarray:
        from tqdm.auto import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths pad less
        starts: Iterable[int] = range(0, len(texts), batch_size)
        if show_progress:  # not per query: a progress bar costs a tenth of a query's time
            starts = tqdm(starts, desc="encoding")
        with self._torch.inference_mode():
            for start in starts:
                rows = order[start: start + batch_size]
                ids = self._torch.from_numpy(
                    self.vocabulary.batch([texts[i] for i in rows], max_length))
                out[rows] = tower(ids).numpy()
        return out

    def encode(self, texts: list[str], *, batch_size: int | None = None,
               show_progress: bool = False) -> np.ndarray:
        return self._run(self.model.encode_documents, texts, self.document_length,
                         batch_size or 256, show_progress)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        return self._run(self.model.encode_queries, queries, self.query_length, 256, False)
