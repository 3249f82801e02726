"""The queries a trained encoder held out of its training, read from its checkpoint.

Fusion tuned on the queries that trained the encoder overrates its dense scores; `tune
--held-out-of CHECKPOINT` tunes on these instead. Two-tower and fine-tuned checkpoints record the
ids; for fine-tuned checkpoints saved before they did, the gate's carve is recomputed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurank.artifacts import read_checkpoint_manifest
from neurank.errors import NeurankError


def checkpoint_held_out_queries(checkpoint: Path, dataset: Path, split_ids: set[str]
                                ) -> list[str]:
    """The held-out query ids of `checkpoint` that are judged in this split, sorted."""
    meta = read_checkpoint_manifest(checkpoint)
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    held = data.get("validation_queries")
    if held is None and meta.get("kind") == "encoder/finetuned" and "split" in data:
        held = _recomputed_carve(checkpoint, meta, dataset)
    if not isinstance(held, list) or not held:
        raise NeurankError(f"{checkpoint} records no held-out validation queries")
    known = sorted(set(held) & split_ids)
    if not known:
        raise NeurankError(f"none of the {len(held)} queries {checkpoint} held out are in this "
                           "split's qrels: tune on the split it was trained on")
    return known


def _recomputed_carve(checkpoint: Path, meta: dict[str, Any], dataset: Path) -> list[str]:
    """The gate's carve is a function of the training data (checked by its sha256) and the
    config's fraction and seed."""
    from neurank.finetune.data import beir_pairs, fingerprint
    from neurank.finetune.train import FinetuneConfig, held_out_queries

    if fingerprint(dataset) != meta["data"].get("sha256"):
        raise NeurankError(f"{dataset} is not the data {checkpoint} was trained on (sha256 "
                           "differs): its held-out queries cannot be recomputed")
    config = FinetuneConfig.model_validate(meta["config"])
    queries = beir_pairs(dataset, meta["data"]["split"])
    return sorted(held_out_queries(queries.query_ids, config.validation_fraction, config.seed))
