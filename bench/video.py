"""`stylesweep video` end to end: a 24-frame 128 px clip, 50 iterations first and 20 after.

A pan over the bundled content image is written as an MP4, then stylized with the bundled style
as the CLI does (frames, DIS flows, masks, every frame, the MP4): the wall time of each stage and
of the whole, against the issue's target of 15 minutes on 2 CPU cores. `--compare` also runs
temporal_weight 0 and prints the warping error of both (consecutive output frames, the earlier
warped by the true flow, over the interior).

    OMP_NUM_THREADS=2 python bench/video.py [--frames 24] [--size 128] [--compare]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import common
import torch

from stylesweep import clip, images, tensors
from stylesweep.media import write_video
from stylesweep.temporal import warp
from stylesweep.video import VideoOptions

SHIFT = (2, 1)  # (x, y) pixels the window moves per frame at the processing size


def make_clip(path: Path, frames: int, size: int) -> None:
    """A window of `size` px panning over the bundled content by SHIFT per frame, at 24 fps."""
    big = images.resize_longest(images.load_image(common.CONTENT), size + frames * SHIFT[0] + 8)
    views = [
        big.crop((k * SHIFT[0], k * SHIFT[1], k * SHIFT[0] + size, k * SHIFT[1] + size))
        for k in range(frames)
    ]
    write_video(path, views, 24)


def warping_error(folder: Path, frames: int, size: int, margin: int = 6) -> float:
    flow = torch.zeros(1, 2, size, size)
    flow[:, 0], flow[:, 1] = SHIFT
    total = 0.0
    for i in range(2, frames + 1):
        prev = tensors.load_tensor(folder / f"{i - 1:04d}.png")
        cur = tensors.load_tensor(folder / f"{i:04d}.png")
        total += (warp(prev, flow) - cur)[..., margin:-margin, margin:-margin].abs().mean().item()
    return total / (frames - 1)


def run(work: Path, video: Path, args: argparse.Namespace, temporal_weight: float) -> float:
    opts = common.options(args.size, num_iterations=args.first, seed=0)
    vopts = VideoOptions(temporal_weight=temporal_weight, iterations_after_first=args.after)
    folders = clip.ClipFolders(work / "clip")
    t0 = time.perf_counter()
    count = clip.prepare(str(video), vopts, args.size, folders)
    t1 = time.perf_counter()
    out = work / "stylized"
    for i in range(1, count + 1):
        clip.stylize_frame(opts, vopts, folders, i, out)
    t2 = time.perf_counter()
    clip.encode(out, count, folders.info()["rate"], work / "out.mp4")
    t3 = time.perf_counter()
    print(
        f"temporal_weight {temporal_weight:g}: {count} frames; frames+flows+masks {t1 - t0:.1f} s,"
        f" stylize {t2 - t1:.1f} s ({(t2 - t1) / count:.1f} s a frame), encode {t3 - t2:.1f} s;"
        f" total {(t3 - t0) / 60:.2f} min"
    )
    return warping_error(out, count, args.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--first", type=int, default=50, help="iterations of the first frame")
    parser.add_argument("--after", type=int, default=20, help="iterations of each later frame")
    parser.add_argument("--compare", action="store_true", help="also run temporal_weight 0")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load {os.getloadavg()[0]:.1f}, "
        "random model (the stand-in VGG-19, all of neural-style's layers)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "pan.mp4"
        make_clip(video, args.frames, args.size)
        steady = run(Path(tmp) / "temporal", video, args, 1e3)
        if args.compare:
            free = run(Path(tmp) / "free", video, args, 0.0)
            print(f"warping error: {steady:.4f} with, {free:.4f} without: {steady / free:.2f}x")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
