"""Clips as frames: reading a clip, writing MP4 and GIF (PyAV, Pillow); torch-free."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from . import present
from .atomic import atomic_path
from .errors import ImageError
from .images import resize_longest
from .video import VideoOptions, frame_range

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """The frames of a clip to stylize, all of one size, and the rate to show them at."""

    frames: list[Image.Image]  # RGB
    fps: Fraction
    first: int  # the clip's number of frames[0], from 1


def _decoded(path: str) -> Iterator[tuple[float, Image.Image]]:
    """(time in seconds, RGB frame) of every frame of the first video stream."""
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as exc:
        raise ImageError(f"{path}: not a video ({getattr(exc, 'strerror', None) or exc})") from exc
    with container:
        if not container.streams.video:
            raise ImageError(f"{path}: has no video frames")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for i, frame in enumerate(container.decode(stream)):
                time = frame.time if frame.time is not None else i / float(_rate(stream))
                yield time, frame.to_image()
        except av.error.FFmpegError as exc:
            raise ImageError(f"{path}: unreadable video ({exc})") from exc


def _rate(stream: Any) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else Fraction(25)


def source_rate(path: str) -> Fraction:
    """The clip's own frame rate (frames per second)."""
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise ImageError(f"{path}: has no video frames")
            return _rate(container.streams.video[0])
    except av.error.FFmpegError as exc:
        raise ImageError(f"{path}: not a video ({exc})") from exc


def _numbered(
    items: Iterator[tuple[float, Any]], opts: VideoOptions, rate: Fraction
) -> Iterator[tuple[int, Any]]:
    """(number from 1, item) of each frame `opts` takes from (time in seconds, item) pairs."""
    a, b = frame_range(opts.frames) if opts.frames else (1, None)
    start: float | None = None
    number = 0  # the frame most recently taken
    for time, item in items:
        start = time if start is None else start
        # With fps, frame k (from 1) shows the last source frame at or before (k - 1) / fps.
        due = int((time - start) * rate + Fraction(1, 1000)) + 1 if opts.fps else number + 1
        while number < due:
            number += 1
            if number >= a and (b is None or number <= b):
                yield number, item
        if b is not None and number >= b:
            return


def _rate_of(path: str, opts: VideoOptions) -> Fraction:
    return Fraction(opts.fps).limit_denominator(1001) if opts.fps else source_rate(path)


def _short(path: str, opts: VideoOptions, have: int, rate: Fraction) -> ImageError | None:
    """The error for a clip of `have` frames too short for opts.frames; None if it is not."""
    a, b = frame_range(opts.frames) if opts.frames else (1, None)
    if have == 0:
        return ImageError(f"{path}: has no video frames")
    if have < a or (b is not None and have < b):
        return ImageError(
            f"{path}: has {have} frames at {float(rate):g} fps; frames {opts.frames} needs "
            f"frame {b or a}"
        )
    return None


def read_clip(path: str | os.PathLike[str], opts: VideoOptions, longest: int | None) -> Clip:
    """The frames of `path` that `opts` selects (fps, then the frames range), each resized so
    that its longest side is `longest` (None: as they are).

    Raises ImageError (one line naming the file) for a file that is not a video, a clip with
    no frames, a frame size that changes mid-clip, or a clip shorter than its frames range.
    """
    path = _existing(path)
    rate = _rate_of(path, opts)
    size: tuple[int, int] | None = None

    def checked() -> Iterator[tuple[float, Image.Image]]:
        nonlocal size
        for time, img in _decoded(path):
            size = size or img.size
            if img.size != size:
                raise ImageError(
                    f"{path}: a frame at {time:.3f} s is {img.size[0]}x{img.size[1]}, the "
                    f"first {size[0]}x{size[1]}; the frame size must not change mid-clip"
                )
            yield time, img

    taken = list(_numbered(checked(), opts, rate))
    error = _short(path, opts, taken[-1][0] if taken else 0, rate)
    if error:
        raise error
    frames = [resize_longest(img, longest) if longest else img for _, img in taken]
    return Clip(frames, rate, taken[0][0])


def frame_count(path: str | os.PathLike[str], opts: VideoOptions) -> int:
    """How many frames `read_clip` takes from `path`, from the packets' times alone (no decoding:
    the workflow asks while it plans); the frames' sizes are checked only by `read_clip`."""
    path = _existing(path)
    rate = _rate_of(path, opts)
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise ImageError(f"{path}: has no video frames")
            stream = container.streams.video[0]
            times = sorted(
                float(p.pts * p.time_base)
                for p in container.demux(stream)
                if p.pts is not None and p.size > 0
            )
    except av.error.FFmpegError as exc:
        raise ImageError(f"{path}: not a video ({exc})") from exc
    numbers = [n for n, _ in _numbered(((t, None) for t in times), opts, rate)]
    error = _short(path, opts, numbers[-1] if numbers else 0, rate)
    if error:
        raise error
    return len(numbers)


def _existing(path: str | os.PathLike[str]) -> str:
    if not Path(path).is_file():
        raise ImageError(f"{path}: no such file")
    return str(path)


def _even(img: Image.Image) -> Image.Image:
    # H.264 in yuv420p needs even sides: an odd one gets its last row or column repeated.
    w, h = img.size
    if w % 2 == 0 and h % 2 == 0:
        return img
    out = Image.new("RGB", (w + w % 2, h + h % 2))
    out.paste(img, (0, 0))
    if w % 2:
        out.paste(img.crop((w - 1, 0, w, h)), (w, 0))
    if h % 2:
        out.paste(out.crop((0, h - 1, w + w % 2, h)), (0, h))
    return out


def write_video(
    path: str | os.PathLike[str], frames: Sequence[Image.Image], fps: Fraction | float
) -> None:
    """An H.264 MP4 (yuv420p, CRF 18) of `frames` at `fps`, written atomically; no audio."""
    if not frames:
        raise ValueError(f"{path}: no frames to write")
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp, av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "18"})
        first = _even(frames[0])
        stream.width, stream.height = first.size
        stream.pix_fmt = "yuv420p"
        for img in frames:
            frame = av.VideoFrame.from_ndarray(np.asarray(_even(img.convert("RGB"))), "rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def write_gif(
    path: str | os.PathLike[str], frames: Sequence[Image.Image], fps: Fraction | float
) -> None:
    """A looping GIF of `frames` at `fps` (GIF delays are in 10 ms steps), written atomically."""
    ms = max(20, round(1000 / float(fps)))
    present.write_gif(path, list(frames), frame_ms=ms, hold_ms=ms)
