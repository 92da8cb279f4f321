"""Checkpoint files: the loop's state with the frames so far, saved, loaded and matched to a job."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .options import Options
from .transfer import Checkpoint

log = logging.getLogger(__name__)

# Options that do not change the trajectory: a run with more iterations continues one with
# fewer, and the device or the reporting does not move the numbers.
_NOT_MATHS = ("print_iter", "save_iter", "output_image", "num_iterations", "device")


def fingerprint(
    settings: Sequence[Options], inputs: dict[str, Any], weights_sha: str | None
) -> str:
    """What a checkpoint must match to be resumed: everything that changes the maths of every
    setting of the job, the inputs' contents (paths may move) and the weights."""
    maths = [{k: v for k, v in o.to_dict().items() if k not in _NOT_MATHS} for o in settings]
    blob = json.dumps({"options": maths, "inputs": inputs, "weights": weights_sha}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def load(
    path: Path, expected: str, num_iterations: int
) -> tuple[Checkpoint, dict[str, bytes]] | None:
    """The checkpoint at `path` and the frames written before it, if it fits this job."""
    if not path.exists():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if data.get("fingerprint") != expected:
            log.warning("%s: a checkpoint of different options or inputs; discarded", path)
            return None
        ckpt = Checkpoint(**data["state"])
        frames = {name: t.numpy().tobytes() for name, t in data["frames"].items()}
    except Exception as exc:  # a checkpoint is only ever a shortcut: never fatal
        log.warning("%s: unreadable checkpoint (%s); discarded", path, exc)
        return None
    if ckpt.iteration >= num_iterations:
        log.warning(
            "%s: checkpoint at iteration %d is past the end; discarded", path, ckpt.iteration
        )
        return None
    log.info("resuming from %s at iteration %d", path, ckpt.iteration)
    return ckpt, frames


def save(path: Path, expected: str, frames: list[str], ckpt: Checkpoint) -> None:
    """Write the loop's state, with the frames so far (a workflow may delete a killed job's
    declared outputs, frames included, before the rerun that resumes it)."""
    frame_bytes = {
        name: torch.frombuffer(bytearray(Path(name).read_bytes()), dtype=torch.uint8)
        for name in frames
    }
    with atomic_path(path) as tmp:
        try:
            # The legacy format reports a failed write with the system's reason ("No space
            # left on device"), where the zip format only says "unexpected pos".
            torch.save(
                {
                    "fingerprint": expected,
                    "state": dataclasses.asdict(ckpt),
                    "frames": frame_bytes,
                },
                tmp,
                _use_new_zipfile_serialization=False,
            )
        except RuntimeError as exc:
            reason = re.search(r"failed with (.+)$", str(exc).strip().splitlines()[0])
            raise OSError(reason.group(1) if reason else str(exc).splitlines()[0]) from exc


def restore_frames(frames: dict[str, bytes]) -> None:
    """Write back the frames a checkpoint carries that are no longer on disk."""
    for name, data in frames.items():
        if not Path(name).exists():
            with atomic_path(name) as tmp:
                tmp.write_bytes(data)
