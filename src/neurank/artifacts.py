"""Helpers shared by every saved artifact: hashing, atomic writes, library versions."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

_HASH_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_file(path: str | Path) -> None:
    """Flush a written file to disk so a rename after it cannot expose a partial file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text beside `path`, fsync it, then rename it over `path` in one step."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, payload: Any) -> None:
    """Atomically write `payload` as indented JSON."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (missing ones are left out)."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def read_manifest(folder: Path, *, fmt: str, version: int, what: str,
                  error: type[Exception], hint: str = "") -> dict[str, Any]:
    """`folder/manifest.json`, checked for its format and version; `error` names what is wrong."""
    from neurank import __version__

    path = folder / "manifest.json"
    if not path.exists():
        raise error(f"{folder} is not a neurank {what} (no manifest.json){hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise error(f"{path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != fmt:
        raise error(f"{path}: not a neurank {what} manifest")
    if manifest.get("format_version") != version:
        raise error(f"{path}: {what} format {manifest.get('format_version')} is not supported by "
                    f"neurank {__version__} (expects {version})")
    return manifest


def verify_files(folder: Path, files: dict[str, str], error: type[Exception]) -> None:
    """Every file named in a manifest exists and matches its sha256."""
    for name, expected in files.items():
        path = folder / name
        if not path.exists():
            raise error(f"{folder}: file {name} named in the manifest is missing")
        if sha256_file(path) != expected:
            raise error(f"{folder}: file {name} does not match its sha256 in the manifest "
                        "(modified or corrupted)")
