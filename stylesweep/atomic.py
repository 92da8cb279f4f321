"""Write-then-rename, so a killed process never leaves a half-written file that looks complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary name keeps the final suffix, so writers that pick a format from the
    extension (Pillow, imageio) still do.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}", dir=final.parent
        )
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{final}: cannot write ({exc.strerror or exc})") from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            # A full disk, a file size limit, a folder made read-only meanwhile.
            raise OutputError(f"{final}: cannot write ({exc.strerror or exc})") from exc
        raise


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:  # reading it does not change it (Linux)
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore, the only portable way to read it
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
