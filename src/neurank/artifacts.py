"""Helpers shared by every saved artifact: hashing, atomic writes, library versions."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
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
    if not path.parent.is_dir():
        from neurank.errors import DataError

        raise DataError(f"cannot write {path.name}: the folder does not exist", path=path.parent)
    if path.is_dir():
        from neurank.errors import DataError

        raise DataError("is a folder, expected a file to write", path=path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make reports private
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: str | Path, payload: Any) -> None:
    """Atomically write `payload` as indented JSON."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (missing ones are left out)."""
    return dict(_library_versions(names))


@functools.lru_cache(maxsize=16)
def _library_versions(names: tuple[str, ...]) -> dict[str, str]:
    # cached: reading package metadata costs ~13 ms, and every commit writes a manifest
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


CHECKSUM_KEY = "manifest_sha256"


def manifest_checksum(payload: dict[str, Any]) -> str:
    """sha256 of a manifest's canonical JSON, without its own checksum field."""
    body = {k: v for k, v in payload.items() if k != CHECKSUM_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_manifest(folder: Path, payload: dict[str, Any]) -> None:
    """Atomically write `folder/manifest.json` with its own checksum, then fsync the folder."""
    atomic_write_json(folder / "manifest.json", {**payload,
                                                 CHECKSUM_KEY: manifest_checksum(payload)})


def read_manifest(folder: Path, *, fmt: str, version: int, what: str,
                  error: type[Exception], hint: str = "") -> dict[str, Any]:
    """`folder/manifest.json`, checked for its checksum, format and version."""
    from neurank import __version__

    path = folder / "manifest.json"
    if not path.exists():
        raise error(f"{folder} is not a neurank {what} (no manifest.json){hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        raise error(f"{path}: not a neurank {what} manifest")
    if manifest.get(CHECKSUM_KEY) != manifest_checksum(manifest):
        raise error(f"{path} does not match its own checksum (modified or corrupted; rebuild "
                    f"the {what})")
    if manifest.get("format_version") != version:
        raise error(f"{path}: {what} format {manifest.get('format_version')} is not supported by "
                    f"neurank {__version__} (expects {version})")
    return manifest


def confined_name(folder: Path, name: object, error: type[Exception]) -> Path:
    """`folder/name` for a relative file name from a manifest ('a.bin' or 'encoder/a.bin').

    Names that could leave the folder are refused: absolute, '..' or empty parts, backslashes,
    NUL, and sub-folders that are symbolic links.
    """
    parts = name.split("/") if isinstance(name, str) else []
    if (not parts or any(part in ("", ".", "..") for part in parts)
            or "\\" in name or "\x00" in name):  # type: ignore[operator]
        raise error(f"{folder}: the manifest names an invalid file {name!r}")
    inner = folder
    for part in parts[:-1]:
        inner = inner / part
        if inner.is_symlink():
            raise error(f"{folder}: {inner.relative_to(folder)} is a link, not a folder")
    return folder.joinpath(*parts)


def files_below(folder: Path) -> list[str]:
    """Relative POSIX names of every regular file under `folder` except its manifest."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p != folder / "manifest.json")


def verify_files(folder: Path, files: object, error: type[Exception]) -> None:
    """Every file named in a manifest is a regular file in `folder` matching its sha256."""
    if not isinstance(files, dict):
        raise error(f"{folder}: the manifest's file list is malformed")
    for name, expected in files.items():
        path = confined_name(folder, name, error)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise error(f"{folder}: file {name} named in the manifest is missing") from None
        if not stat.S_ISREG(mode):  # a FIFO or a link to /dev/zero would hang the hash
            raise error(f"{folder}: {name} is not a regular file")
        if sha256_file(path) != expected:
            raise error(f"{folder}: file {name} does not match its sha256 in the manifest "
                        "(modified or corrupted)")


CHECKPOINT_FORMAT = "neurank-checkpoint"
CHECKPOINT_VERSION = 2


def read_checkpoint_manifest(folder: str | Path) -> dict[str, Any]:
    """A checkpoint's manifest, checked for checksum and format (the files are not read);
    here rather than in training/ so that reading one never imports torch."""
    from neurank.errors import CheckpointError

    return read_manifest(Path(folder), fmt=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION,
                         what="checkpoint", error=CheckpointError)
