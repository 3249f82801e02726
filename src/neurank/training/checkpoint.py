"""Checkpoint folders: safetensors weights + a JSON manifest with sha256 of every file.

    ckpt/
      manifest.json        format, kind, config, metrics, history, versions, files -> sha256
      weights.safetensors  model tensors (or a recommender's arrays)
      ids.json             external id maps, when the model has them
      optimizer.safetensors  optimizer tensors (resumable checkpoints only; the rest is JSON)
      encoder/...          any further files a model needs (e.g. a fine-tuned encoder's folder)

No pickle is ever loaded. A checkpoint is written into a staging sibling folder and renamed
into place; an existing checkpoint is first renamed aside (`.NAME.old-*`), so a crash between
the two renames leaves it there, and the next load or save puts it back.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from neurank.artifacts import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    files_below,
    fsync_dir,
    fsync_file,
    library_versions,
    read_checkpoint_manifest,
    sha256_file,
    verify_files,
    write_manifest,
)
from neurank.errors import CheckpointError

_LIBRARIES = ("neurank", "torch", "numpy", "scipy", "safetensors", "implicit")


@dataclass
class Checkpoint:
    """What a checkpoint folder holds once verified."""

    kind: str
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    ids: dict[str, list[str]] = field(default_factory=dict)
    optimizer: dict[str, Any] | None = None

    def array(self, name: str) -> np.ndarray:
        return self.tensors[name].numpy()


def _as_tensors(arrays: dict[str, Any]) -> dict[str, torch.Tensor]:
    out = {}
    for name, value in arrays.items():
        tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
        out[name] = tensor.detach().cpu().contiguous().clone()
    return out


def _split_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state_dict -> (tensors, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for pid, values in state["state"].items():
        plain[str(pid)] = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{key}"] = value
            else:
                plain[str(pid)][key] = value
    return tensors, {"state": plain, "param_groups": state["param_groups"]}


def _join_optimizer(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(pid): dict(values)
                                        for pid, values in plain["state"].items()}
    for name, tensor in tensors.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = tensor
    return {"state": state, "param_groups": plain["param_groups"]}


def _restore_retired(folder: Path) -> None:
    """Put back a checkpoint left aside by a save that died between its two renames."""
    if folder.exists() or not folder.parent.exists():
        return
    retired = sorted(folder.parent.glob(f".{folder.name}.old-*"))
    if retired:
        retired[-1].rename(folder)


def save_checkpoint(
    folder: str | Path,
    *,
    kind: str,
    tensors: dict[str, Any],
    meta: dict[str, Any],
    ids: dict[str, list[str]] | None = None,
    optimizer: dict[str, Any] | None = None,
    write_extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a checkpoint folder atomically; `meta` must be JSON-serialisable.

    `write_extra(staging)` may add files and sub-folders (a fine-tuned encoder's own folder);
    they are hashed into the manifest like the rest.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"{folder} exists and is not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    _restore_retired(folder)
    for leftover in folder.parent.glob(f".{folder.name}.*"):  # dead saves' staging and retirees
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.staging-"))
    try:
        save_file(_as_tensors(tensors), str(staging / "weights.safetensors"))
        names = ["weights.safetensors"]
        extra: dict[str, Any] = {}
        if ids is not None:
            (staging / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
            names.append("ids.json")
        if optimizer is not None:
            opt_tensors, opt_plain = _split_optimizer(optimizer)
            save_file(_as_tensors(opt_tensors), str(staging / "optimizer.safetensors"))
            names.append("optimizer.safetensors")
            extra["optimizer"] = opt_plain
        if write_extra is not None:
            write_extra(staging)
            names = files_below(staging)
        for name in names:
            fsync_file(staging / name)
        write_manifest(staging, {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "kind": kind,
            **meta,
            **extra,
            "files": {name: sha256_file(staging / name) for name in names},
            "versions": library_versions(*_LIBRARIES),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        if folder.exists():
            retired = folder.with_name(f".{folder.name}.old-{time.time_ns()}")
            folder.rename(retired)
            staging.rename(folder)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(folder)
        fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def load_checkpoint(folder: str | Path, *, kind: str | None = None) -> Checkpoint:
    """Read and verify a checkpoint; refuses missing, modified or foreign files."""
    folder = Path(folder)
    _restore_retired(folder)
    manifest = read_checkpoint_manifest(folder)
    if kind is not None and manifest.get("kind") != kind:
        raise CheckpointError(f"{folder} holds a {manifest.get('kind')!r} checkpoint, "
                              f"expected {kind!r}")
    verify_files(folder, manifest.get("files"), CheckpointError)
    if "weights.safetensors" not in manifest["files"]:
        raise CheckpointError(f"{folder}: the manifest does not list weights.safetensors")
    tensors = load_file(str(folder / "weights.safetensors"))
    ids = json.loads((folder / "ids.json").read_text()) if "ids.json" in manifest["files"] else {}
    optimizer = None
    if "optimizer.safetensors" in manifest["files"]:
        optimizer = _join_optimizer(load_file(str(folder / "optimizer.safetensors")),
                                    manifest["optimizer"])
    meta = {k: v for k, v in manifest.items() if k not in ("optimizer",)}
    return Checkpoint(kind=manifest["kind"], tensors=tensors, meta=meta, ids=ids,
                      optimizer=optimizer)


def load_module(source: str | Path | Checkpoint) -> torch.nn.Module:
    """A trained module rebuilt from its checkpoint alone (the saved spec names class and args);
    `source` is the folder, or a checkpoint already loaded from it."""
    from neurank.models.registry import build_module

    checkpoint = source if isinstance(source, Checkpoint) else load_checkpoint(source)
    folder = "the checkpoint" if isinstance(source, Checkpoint) else source
    spec = checkpoint.meta.get("module")
    if not isinstance(spec, dict):
        raise CheckpointError(f"{folder} does not record how to rebuild its module")
    try:
        module = build_module(spec)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder}: cannot rebuild the module: {exc}") from exc
    module.load_state_dict(checkpoint.tensors)
    return module.eval()
