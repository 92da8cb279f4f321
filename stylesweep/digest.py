"""sha256 of files, with a sidecar cache so a 548 MB weight file is hashed once, not every run."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The full sha256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _cache_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def cached_sha256(path: str | os.PathLike[str], *, refresh: bool = False) -> str:
    """sha256 of `path`, remembered in `<path>.sha256.json` keyed by size and mtime.

    The cache is trusted only while the file's size and modification time are unchanged;
    `refresh=True` hashes again. A cache that cannot be written is not an error.
    """
    p = Path(path)
    st = p.stat()
    if not refresh:
        try:
            data = json.loads(_cache_path(p).read_text())
            if data.get("size") == st.st_size and data.get("mtime_ns") == st.st_mtime_ns:
                return str(data["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    digest = sha256_file(p)
    remember_sha256(p, digest)
    return digest


def remember_sha256(path: str | os.PathLike[str], sha256: str) -> None:
    """Record a digest already known (e.g. computed while downloading) for `cached_sha256`."""
    p = Path(path)
    st = p.stat()
    cache = _cache_path(p)
    try:
        tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256})
        )
        os.replace(tmp, cache)
    except OSError:
        pass
