"""A clip stylized frame by frame (Ruder et al. 2016): frames, flows, masks, each frame, the video.

Each step reads and writes files, so that the CLI runs them in a row and the workflow runs each
as its own job: a clip's frames, flows and masks once per processing size, then each frame of
each style and setting after the frame before it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import images, tensors
from .atomic import atomic_path, write_text
from .digest import sha256_file
from .errors import ImageError
from .flow import pair_flows
from .images import load_image
from .media import read_clip, write_gif, write_video
from .options import Options, defaults
from .runner import RunOutputs, RunResult, run
from .temporal import Temporal, consistency, warp
from .video import FRAME_NAME, VideoOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipFolders:
    """One clip's shared files at one processing size: its frames, flows, masks and clip.json."""

    root: Path

    @property
    def frames(self) -> Path:
        return self.root / "frames"  # NNNN.png, numbered from 1

    @property
    def flow(self) -> Path:
        return self.root / "flow"  # NNNN.npz: forward (N-1 -> N) and backward (N -> N-1)

    @property
    def mask(self) -> Path:
        return self.root / "mask"  # NNNN.png: frame N's consistency weights, 8-bit grey

    @property
    def clip_json(self) -> Path:
        return self.root / "clip.json"

    def frame(self, i: int) -> Path:
        return self.frames / FRAME_NAME.format(i)

    def info(self) -> dict[str, Any]:
        """clip.json: the source, its frame rate and how many frames were taken."""
        return dict(json.loads(self.clip_json.read_text(encoding="utf-8")))


def _request(video: str, vopts: VideoOptions, longest: int) -> dict[str, Any]:
    # What the frames were made from: a clip.json that says the same need not be made again.
    return {
        "source": str(video),
        "sha256": sha256_file(video),
        "frames": vopts.frames,
        "fps": vopts.fps,
        "image_size": longest,
    }


def extract(video: str, vopts: VideoOptions, longest: int, folders: ClipFolders) -> int:
    """Write the frames `vopts` selects, longest side `longest`, then clip.json; returns their
    number. A bad clip fails in `read_clip`, before anything is written."""
    clip = read_clip(video, vopts, longest)
    request = _request(video, vopts, longest)
    for i, img in enumerate(clip.frames, start=1):
        images.save_image(img, folders.frame(i))
    info = {**request, "rate": str(clip.fps), "first": clip.first, "count": len(clip.frames)}
    write_text(folders.clip_json, json.dumps(info, indent=2) + "\n")
    return len(clip.frames)


def is_extracted(video: str, vopts: VideoOptions, longest: int, folders: ClipFolders) -> bool:
    """Whether `folders` holds this clip's frames, flows and masks (the last written) already."""
    if not (folders.clip_json.exists() and Path(video).is_file()):
        return False
    info = folders.info()
    if any(info.get(k) != v for k, v in _request(video, vopts, longest).items()):
        return False
    n = int(info["count"])
    return n == 1 or (folders.mask / FRAME_NAME.format(n)).exists()


def compute_flows(folders: ClipFolders) -> None:
    """DIS flow, forward and backward, of every consecutive pair: flow/NNNN.npz for N >= 2."""
    n = int(folders.info()["count"])
    prev = load_image(folders.frame(1))
    for i in range(2, n + 1):
        cur = load_image(folders.frame(i))
        forward, backward = pair_flows(prev, cur)
        with atomic_path(folders.flow / f"{i:04d}.npz") as tmp:
            np.savez(tmp, forward=forward, backward=backward)
        prev = cur


def _flows(folders: ClipFolders, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame i's (forward, backward) flows, each (1, 2, H, W)."""
    with np.load(folders.flow / f"{i:04d}.npz") as data:
        pair = data["forward"], data["backward"]
    return torch.from_numpy(pair[0])[None], torch.from_numpy(pair[1])[None]


def compute_masks(folders: ClipFolders) -> None:
    """The consistency weights of every frame after the first: mask/NNNN.png for N >= 2."""
    n = int(folders.info()["count"])
    for i in range(2, n + 1):
        forward, backward = _flows(folders, i)
        mask = consistency(backward, forward)[0, 0]  # (H, W) in [0, 1]
        grey = mask.mul(255).round().byte().numpy()
        images.save_image(Image.fromarray(grey, mode="L"), folders.mask / FRAME_NAME.format(i))


def prepare(video: str, vopts: VideoOptions, longest: int, folders: ClipFolders) -> int:
    """Frames, flows and masks, unless `folders` has them already; returns the frame count."""
    if not is_extracted(video, vopts, longest, folders):
        extract(video, vopts, longest, folders)
        compute_flows(folders)
        compute_masks(folders)
    return int(folders.info()["count"])


def _load_mask(path: Path) -> torch.Tensor:
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255
    return torch.from_numpy(grey)[None, None]  # (1, 1, H, W)


def _key(opts: Options, vopts: VideoOptions, content: Path, start: Path | None) -> str:
    """What a frame's result depends on: its options, the content frame and where it starts."""
    maths = {k: v for k, v in opts.to_dict().items() if k not in ("output_image", "init_image")}
    blob = {
        "options": maths,
        "temporal_weight": vopts.temporal_weight,
        "content": sha256_file(content),
        "start": sha256_file(start) if start else None,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def frame_options(opts: Options, vopts: VideoOptions, i: int, start: Path | None) -> Options:
    """Frame i's options: the first is an ordinary run; each later one starts from `start`, the
    previous result warped, for iterations_after_first iterations."""
    if start is None:
        return opts
    # The later frames start from a finished image, so a coarse-to-fine ladder has nothing to
    # do: they run at image_size alone (artistic-videos has one scale).
    return opts.replace(
        init="image",
        init_image=str(start),
        num_iterations=vopts.iterations(opts.num_iterations),
        scales=(),
        scale_iterations=defaults()["scale_iterations"],
    )


def stylize_frame(
    opts: Options,
    vopts: VideoOptions,
    folders: ClipFolders,
    i: int,
    out: Path,
    *,
    weights: str | None = None,
    weights_dir: str | None = None,
    skip_done: bool = False,
) -> RunResult | None:
    """Stylize frame i into `out`/NNNN.png with NNNN.run.json (and NNNN.losses.tsv); frame i > 1
    needs frame i-1's result there. Frame i > 1 starts from that result warped by the backward
    flow (NNNN.start.png) and, with a temporal_weight, keeps to it where the mask is 1.

    With `skip_done`, a frame whose run.json says it was made from the same options, content
    and start is left as it is (None is returned).
    """
    name = FRAME_NAME.format(i)
    content = folders.frame(i)
    start = None
    temporal = None
    if i > 1:
        previous = out / FRAME_NAME.format(i - 1)
        if not previous.exists():
            raise ImageError(f"{previous}: frame {i - 1}'s result is missing; frame {i} needs it")
        _, backward = _flows(folders, i)
        warped = warp(tensors.load_tensor(previous), backward)  # (1, 3, H, W)
        start = out / name.replace(".png", ".start.png")
        images.save_image(tensors.to_image(warped), start)
        if vopts.temporal_weight > 0:
            # The target is the start as saved (8-bit), so that the loss is 0 where it begins.
            target = tensors.load_tensor(start)
            mask = _load_mask(folders.mask / name)
            temporal = Temporal(target, mask, vopts.temporal_weight)
    frame_opts = frame_options(opts, vopts, i, start).replace(
        content_image=str(content), output_image=str(out / name)
    )
    key = _key(frame_opts, vopts, content, start)
    run_json = out / name.replace(".png", ".run.json")
    if skip_done and (out / name).exists() and _recorded_key(run_json) == key:
        log.info("frame %d: done already (%s)", i, run_json)
        return None
    log.info("frame %d: %s", i, f"from frame {i - 1} warped" if start else f"init {opts.init}")
    result = run(
        [frame_opts],
        [RunOutputs(losses_tsv=str(out / name.replace(".png", ".losses.tsv")))],
        weights=weights,
        weights_dir=weights_dir,
        checkpoint=str(out / f"{i:04d}.{key[:12]}.checkpoint.pt") if opts.save_iter else None,
        temporal=temporal,
    )[0]
    info = folders.info()
    result.record["video"] = {
        "clip": info["source"],
        "frame": i,
        "clip_frame": int(info["first"]) + i - 1,
        "frames": int(info["count"]),
        "rate": info["rate"],
        # What this frame started from: the run's init, or the previous frame warped.
        "start": (
            {
                "from": "previous frame warped",
                "frame": i - 1,
                "image": str(start),
                "sha256": sha256_file(start),
                "flow": str(folders.flow / f"{i:04d}.npz"),
            }
            if start
            else {"from": "init", "init": opts.init, "init_image": opts.init_image}
        ),
        "temporal_weight": vopts.temporal_weight if temporal else 0.0,
        "mask_mean": round(float(temporal.mask.mean()), 6) if temporal else None,
        "key": key,
    }
    write_text(run_json, json.dumps(result.record, indent=2) + "\n")
    return result


def _recorded_key(run_json: Path) -> str | None:
    try:
        return str(json.loads(run_json.read_text(encoding="utf-8"))["video"]["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def encode(
    out: Path,
    count: int,
    rate: Fraction | str,
    video: str | os.PathLike[str],
    gif: str | os.PathLike[str] | None = None,
) -> None:
    """The stylized frames 1..count in `out` as an MP4 at `rate` (and a GIF); no audio."""
    frames = [load_image(out / FRAME_NAME.format(i)) for i in range(1, count + 1)]
    write_video(video, frames, Fraction(rate))
    if gif is not None:
        write_gif(gif, frames, Fraction(rate))


def stylize_clip(
    opts: Options,
    vopts: VideoOptions,
    video: str,
    output_video: str,
    *,
    work_dir: str | None = None,
    gif: str | None = None,
    weights_dir: str | None = None,
) -> Path:
    """Stylize `video` into `output_video` (and `gif`), frame by frame: the CLI's door.

    The frames, flows, masks and each frame's result live in `work_dir` (default: the output's
    stem + `_frames`); run again, it skips what is done and resumes the frame it was on.
    """
    work = (
        Path(work_dir)
        if work_dir
        else Path(output_video).with_name(Path(output_video).stem + "_frames")
    )
    folders = ClipFolders(work / "clip")
    count = prepare(video, vopts, opts.image_size, folders)
    out = work / "stylized"
    for i in range(1, count + 1):
        stylize_frame(opts, vopts, folders, i, out, weights_dir=weights_dir, skip_done=True)
    encode(out, count, folders.info()["rate"], output_video, gif)
    return Path(output_video)
