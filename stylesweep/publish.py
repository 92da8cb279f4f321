"""A stylize job's files published into each run's folder: hard links dated now; no torch."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def link_or_copy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """`target` as a hard link to `source` (a copy where the file system refuses a link, as
    across devices), replacing any file there, with its mtime set to now.

    The new mtime is the link's reason to be: Snakemake must see the run's files as newer than
    the job folder they came from. Touching the shared inode leaves that folder's own date
    alone: Snakemake dates a directory by its .snakemake_timestamp file.
    """
    target = Path(target)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copy2(source, temporary)
    os.replace(temporary, target)
    os.utime(target)


def publish(job: str | os.PathLike[str], run: str | os.PathLike[str]) -> list[Path]:
    """Every file under the folder `job` at the same place under the folder `run`, by
    link_or_copy. Returns the files made, in name order."""
    made = []
    for source in sorted(p for p in Path(job).rglob("*") if p.is_file()):
        target = Path(run, source.relative_to(job))
        target.parent.mkdir(parents=True, exist_ok=True)
        link_or_copy(source, target)
        made.append(target)
    return made
