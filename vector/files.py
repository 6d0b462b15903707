"""Crash-safe files for the vector index.

A saved index is a *generation*: `index-<gen>.bin` (hnswlib's own format), `ids-<gen>.json`
(label -> memory id) and `mirror-<gen>.bin` (the int8 copy of the vectors, vector/mirror.py,
in the ids file's order), all named uniquely, fsynced, and described with their sizes and
SHA-256 in `manifest.json`. The mirror file is optional: a generation saved without it (by
older code, or while a loaded copy was still being completed) loads, and the copy is then
made again from hnswlib. The manifest is written to a temp file, fsynced and renamed over the old
one last; that rename is the commit point. A crash anywhere before it leaves the previous
manifest pointing at the previous, untouched generation; leftovers are deleted by the next save.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

import numpy as np

MANIFEST = "manifest.json"
FORMAT = 1
_PREFIXES = ("index-", "ids-", "mirror-", MANIFEST + ".tmp")
_IDS_SLICE = 4096  # labels written to the ids file at a time


class IdOf(Protocol):
    def __getitem__(self, label: int) -> str: ...


class Unusable(Exception):
    """The persisted files are missing, corrupt, truncated or of another shape."""


@dataclass(frozen=True, slots=True)
class Manifest:
    checkpoint: int
    dimension: int
    next_label: int
    index_file: str
    index_bytes: int
    index_sha256: str
    ids_file: str
    ids_bytes: int
    ids_sha256: str
    mirror_file: str | None = None
    mirror_bytes: int = 0
    mirror_sha256: str = ""


_OPTIONAL = ("mirror_file", "mirror_bytes", "mirror_sha256")
_FIELDS = tuple(f.name for f in fields(Manifest) if f.name not in _OPTIONAL)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(directory: Path) -> None:
    # makes the renames/creations in the directory durable (no-op where unsupported)
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_durably(path: Path, data: bytes | Iterable[bytes]) -> None:
    """`data` (or its parts, in order) in `path`, on disk when this returns."""
    with open(path, "wb") as fh:
        for part in [data] if isinstance(data, bytes) else data:
            fh.write(part)
        fh.flush()
        os.fsync(fh.fileno())


def write_ids(path: Path, labels: Sequence[int] | np.ndarray, id_of: IdOf) -> None:
    """{"labels": [...], "ids": [...]}, written a slice at a time: built whole, the document of
    a 100k-memory save (with a list of every label and one of every id) had left ~15 MiB of
    freed heap behind it at each snapshot, held until the next trim."""
    order = np.asarray(labels, dtype=np.int64)
    starts = range(0, len(order), _IDS_SLICE)

    def parts() -> Iterable[bytes]:
        yield b'{"labels": ['
        for start in starts:
            part = order[start : start + _IDS_SLICE].tolist()
            yield (", " if start else "").encode("ascii") + ", ".join(map(str, part)).encode("ascii")
        yield b'], "ids": ['
        for start in starts:
            part = order[start : start + _IDS_SLICE].tolist()
            yield (", " if start else "").encode("ascii") + json.dumps([id_of[label] for label in part])[1:-1].encode("utf-8")
        yield b"]}"

    write_durably(path, parts())


def read_ids(path: Path) -> dict[int, str]:
    try:
        raw = json.loads(path.read_bytes())
        labels, ids = raw["labels"], raw["ids"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Unusable(f"ids file unreadable: {exc}") from exc
    if not (isinstance(labels, list) and isinstance(ids, list) and len(labels) == len(ids)):
        raise Unusable("ids file has mismatched lists")
    if not all(isinstance(x, int) and x >= 0 for x in labels) or not all(isinstance(x, str) for x in ids):
        raise Unusable("ids file has values of the wrong type")
    mapping = dict(zip(labels, ids))
    if len(mapping) != len(labels) or len(set(ids)) != len(ids):
        raise Unusable("ids file has duplicate labels or ids")
    return mapping


def commit_manifest(directory: Path, manifest: Manifest) -> None:
    """The last step of a save: atomically point the directory at the new generation."""
    body = {"format": FORMAT, "space": "cosine", **{f.name: getattr(manifest, f.name) for f in fields(Manifest)}}
    tmp = directory / f"{MANIFEST}.tmp-{manifest.index_file}"
    write_durably(tmp, json.dumps(body, indent=1).encode("utf-8"))
    os.replace(tmp, directory / MANIFEST)
    fsync_dir(directory)


def read_manifest(directory: Path, dimension: int) -> Manifest:
    try:
        raw: Any = json.loads((directory / MANIFEST).read_bytes())
    except FileNotFoundError as exc:
        raise Unusable("no saved index") from exc
    except (OSError, ValueError) as exc:
        raise Unusable(f"manifest unreadable: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("space") != "cosine":
        raise Unusable("manifest of an unknown format")
    try:
        manifest = Manifest(**{f: raw[f] for f in _FIELDS}, **{f: raw[f] for f in _OPTIONAL if f in raw})
    except (KeyError, TypeError) as exc:
        raise Unusable(f"manifest incomplete: {exc}") from exc
    ints = (manifest.checkpoint, manifest.dimension, manifest.next_label, manifest.index_bytes, manifest.ids_bytes)
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in ints):
        raise Unusable("manifest has non-integer fields")
    if manifest.dimension != dimension:
        raise Unusable(f"saved dimension {manifest.dimension} != {dimension}")
    if not all(_plain_file(name, _PREFIXES[:2]) for name in (manifest.index_file, manifest.ids_file)):
        raise Unusable("manifest names an unexpected file")
    if manifest.mirror_file is not None and not (_plain_file(manifest.mirror_file, ("mirror-",))
                                                 and isinstance(manifest.mirror_bytes, int)):
        raise Unusable("manifest names an unexpected file")
    _verify(directory / manifest.index_file, manifest.index_bytes, manifest.index_sha256)
    _verify(directory / manifest.ids_file, manifest.ids_bytes, manifest.ids_sha256)
    return manifest


def _plain_file(name: object, prefixes: tuple[str, ...]) -> bool:
    """A file name of a generation: in the directory itself, with one of these prefixes."""
    return isinstance(name, str) and "/" not in name and "\\" not in name and name.startswith(prefixes)


def write_mirror(path: Path, rows: Iterable[np.ndarray], scale: np.ndarray) -> None:
    """The int8 rows (given a run of rows at a time: no copy of the whole copy is made) then
    their float32 scales, raw: the manifest holds the size and checksum, the ids file the count."""
    with open(path, "wb") as fh:
        for block in rows:
            fh.write(np.ascontiguousarray(block, dtype=np.int8).data)
        fh.write(np.ascontiguousarray(scale, dtype="<f4").data)
        fh.flush()
        os.fsync(fh.fileno())


def read_mirror(directory: Path, manifest: Manifest, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The mirror rows (int8, count x dimension) and their scales saved with this generation,
    mapped from the file (read once, by whoever copies them); Unusable when it has none, or a
    file that is not what the manifest says."""
    if manifest.mirror_file is None:
        raise Unusable("saved without the int8 copy")
    path = directory / manifest.mirror_file
    if manifest.mirror_bytes != count * (manifest.dimension + 4):
        raise Unusable(f"{path.name} does not hold {count} rows of {manifest.dimension}")
    _verify(path, manifest.mirror_bytes, manifest.mirror_sha256)
    if count == 0:
        return np.zeros((0, manifest.dimension), dtype=np.int8), np.zeros(0, dtype=np.float32)
    try:
        rows = np.memmap(path, dtype=np.int8, mode="r", shape=(count, manifest.dimension))
        scale = np.memmap(path, dtype="<f4", mode="r", offset=count * manifest.dimension, shape=(count,))
    except (OSError, ValueError) as exc:
        raise Unusable(f"{path.name} unreadable: {exc}") from exc
    return rows, scale


def _verify(path: Path, size: int, sha256: str) -> None:
    try:
        actual = path.stat().st_size
    except OSError as exc:
        raise Unusable(f"{path.name} missing") from exc
    if actual != size:
        raise Unusable(f"{path.name} has {actual} bytes, expected {size} (truncated?)")
    if sha256_of(path) != sha256:
        raise Unusable(f"{path.name} checksum mismatch")


def remove_stale(directory: Path, keep: set[str]) -> None:
    """Delete files of older or interrupted generations (never the manifest itself)."""
    for entry in directory.iterdir():
        if entry.name not in keep and entry.name.startswith(_PREFIXES):
            entry.unlink(missing_ok=True)


def remove_all(directory: Path) -> None:
    # manifest first: once it is gone the directory reads as "no saved index" whatever follows
    (directory / MANIFEST).unlink(missing_ok=True)
    fsync_dir(directory)
    remove_stale(directory, keep=set())
