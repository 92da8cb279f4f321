"""What a video run adds to a style transfer: its options and outputs; torch-free and light."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, OptionError, OutputError
from .options import _meta, check_range
from .sweep import find_images

# Frames are PNGs numbered from 1 (0001.png), as the clip counts them.
FRAME_NAME = "{:04d}.png"
# Containers the stylized clip may be written to (H.264 inside).
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")


@dataclass(frozen=True)
class VideoOptions:
    """The options a clip adds to the engine's (Ruder et al. 2016's method; artistic-videos'
    names where it has them). The CLI's flags and the workflow's `video:` schema come from here.
    """

    temporal_weight: float = field(
        # artistic-videos' default, in our loss scale (stylesweep.temporal.TEMPORAL_WEIGHT).
        default=1e3,
        metadata=_meta(
            "weight of the temporal loss: each frame kept close to the previous stylized frame "
            "warped by the optical flow, where the flow is reliable (0: off)",
            minimum=0,
        ),
    )
    frames: str | None = field(
        default=None,
        metadata=_meta(
            "the frames to stylize, A:B, numbered from 1 and both included (A: or :B leave "
            "an end open); None: all",
            schema={"pattern": r"^\d*:\d*$"},
        ),
    )
    fps: float | None = field(
        default=None,
        metadata=_meta(
            "frames per second to take from the clip (and to write); None: the clip's own",
            exclusive_minimum=0,
        ),
    )
    # artistic-videos runs 2000 iterations on the first frame and 1000 on each later one, which
    # starts from the previous result warped: half is its ratio.
    iterations_after_first: int | None = field(
        default=None,
        metadata=_meta(
            "iterations of every frame after the first, which starts from the previous one "
            "warped; None: half of num_iterations (artistic-videos' 2000 then 1000)",
            minimum=1,
        ),
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                check_range(f.name, value, f.metadata)
        if self.frames is not None:
            frame_range(self.frames)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def iterations(self, num_iterations: int) -> int:
        """The iteration count of every frame after the first."""
        return self.iterations_after_first or max(1, num_iterations // 2)


def frame_range(text: str) -> tuple[int, int | None]:
    """`A:B` -> (A, B): frames numbered from 1, both included; an open end is 1 or None."""
    first, sep, last = text.partition(":")
    if sep != ":" or not all(p == "" or p.isdigit() for p in (first, last)):
        first, last = "0", ""  # refused below, with the same words
    a, b = (int(first) if first else 1), (int(last) if last else None)
    if a < 1 or (b is not None and b < a):
        raise OptionError(f"frames: must be A:B with 1 <= A <= B (numbered from 1), got {text!r}")
    return a, b


def check_outputs(video: str, gif: str | None) -> None:
    """Refuse an output video or GIF name we cannot write, before any work."""
    if Path(video).suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(f"{video}: the output video must end in {', '.join(VIDEO_SUFFIXES)}")
    if gif is not None and Path(gif).suffix.lower() != ".gif":
        raise OutputError(f"{gif}: the GIF must end in .gif")


# Clips a `videos:` folder yields (a glob or a list may name any file PyAV reads).
INPUT_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif")


def find_videos(spec: str | Sequence[str], root: str | os.PathLike[str] = ".") -> dict[str, str]:
    """name (safe file stem) -> path of the config's `videos`: a folder, a glob or a list."""
    return find_images(spec, key="videos", root=root, suffixes=INPUT_SUFFIXES, what="videos")


def video_options(config: Mapping[str, Any] | None) -> VideoOptions:
    """The config's `video:` section as VideoOptions (its keys are the fields' names)."""
    try:
        return VideoOptions(**(config or {}))
    except (OptionError, TypeError) as exc:
        raise ConfigError(f"video: {exc}") from None


def frame_counts(clips: Mapping[str, str], opts: VideoOptions) -> dict[str, int]:
    """name -> how many frames `opts` takes from each clip (from its packets' times, no decoding).

    PyAV is imported only when there are clips: planning a sweep without videos stays light.
    """
    if not clips:
        return {}
    from .media import frame_count

    return {name: frame_count(path, opts) for name, path in clips.items()}
