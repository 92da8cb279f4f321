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
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    cache = _cache_path(p)
    if not refresh:
        try:
            data = json.loads(cache.read_text())
            if data.get("size") == key["size"] and data.get("mtime_ns") == key["mtime_ns"]:
                return str(data["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    digest = sha256_file(p)
    try:
        tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**key, "sha256": digest}))
        os.replace(tmp, cache)
    except OSError:
        pass
    return digest
