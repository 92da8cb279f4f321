"""`stylesweep video`: clips in and out, DIS flow, temporal steadiness, resuming, bad input."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import killed_after_checkpoint
from PIL import Image, ImageFilter

from stylesweep import cli, tensors
from stylesweep.clip import stylize_clip
from stylesweep.errors import OptionError
from stylesweep.flow import pair_flows
from stylesweep.media import frame_count, read_clip, write_video
from stylesweep.options import Options
from stylesweep.temporal import warp
from stylesweep.video import VideoOptions, frame_range

SIZE, FRAMES, RATE = 64, 16, 8
SHIFT = (2, 1)  # (x, y) pixels the window moves per frame: the true backward flow


def texture(w: int, h: int, seed: int) -> Image.Image:
    """Seeded noise, upsampled and smoothed: texture the flow can follow."""
    a = np.random.default_rng(seed).integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
    img = Image.fromarray(a).resize((w, h), Image.Resampling.BICUBIC)
    return img.filter(ImageFilter.GaussianBlur(1))


def panned(n: int = FRAMES, shift: tuple[int, int] = SHIFT) -> list[Image.Image]:
    """n frames of SIZE px: a window moving over a texture by `shift` per frame."""
    big = texture(SIZE + n * shift[0] + 8, SIZE + n * shift[1] + 8, 0)
    return [
        big.crop((k * shift[0], k * shift[1], k * shift[0] + SIZE, k * shift[1] + SIZE))
        for k in range(n)
    ]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clip")
    write_video(folder / "pan.mp4", panned(), RATE)
    texture(SIZE, SIZE, 1).save(folder / "style.png")
    return {"video": folder / "pan.mp4", "style": folder / "style.png", "folder": folder}


# The stand-in network cut after relu2_1 (a seventh of VGG-19's work at this size), and few
# iterations: the test is about the temporal term, which acts on the pixels.
FAST = ["--model", "random", "--image-size", str(SIZE), "--num-iterations", "20",
        "--iterations-after-first", "10", "--print-iter", "0", "--save-iter", "0",
        "--content-layers", "relu2_1", "--style-layers", "relu1_1", "relu2_1"]  # fmt: skip


def video_argv(clip: dict[str, Path], out: Path, *more: str) -> list[str]:
    return ["video", "--content-video", str(clip["video"]), "--style-image", str(clip["style"]),
            "--output-video", str(out), *FAST, "--quiet", *more]  # fmt: skip


@pytest.fixture(scope="module")
def stylized(clip) -> dict[str, Path]:
    """The clip stylized with the temporal loss (default weight) and without (weight 0)."""
    outs = {"temporal": clip["folder"] / "temporal.mp4", "free": clip["folder"] / "free.mp4"}
    gif = clip["folder"] / "temporal.gif"
    assert cli.main(video_argv(clip, outs["temporal"], "--gif", str(gif))) == 0
    assert cli.main(video_argv(clip, outs["free"], "--temporal-weight", "0")) == 0
    return {**outs, "gif": gif}


def frames_of(out: Path) -> Path:
    return out.with_name(out.stem + "_frames") / "stylized"


def warping_error(folder: Path, margin: int = 4) -> float:
    """Mean |frame i - frame i-1 warped by the true flow| over the interior, over all pairs."""
    flow = torch.zeros(1, 2, SIZE, SIZE)
    flow[:, 0], flow[:, 1] = SHIFT
    errors = []
    for i in range(2, FRAMES + 1):
        prev = tensors.load_tensor(folder / f"{i - 1:04d}.png")
        cur = tensors.load_tensor(folder / f"{i:04d}.png")
        diff = (warp(prev, flow) - cur)[..., margin:-margin, margin:-margin]
        errors.append(diff.abs().mean().item())
    return sum(errors) / len(errors)


@pytest.mark.slow
def test_the_temporal_loss_halves_the_warping_error_at_least(stylized):
    steady = warping_error(frames_of(stylized["temporal"]))
    free = warping_error(frames_of(stylized["free"]))
    assert steady <= 0.5 * free, (steady, free)


@pytest.mark.slow
def test_the_output_has_every_frame_at_the_clip_s_rate_and_each_run_json_names_its_start(
    stylized,
):
    out = read_clip(stylized["temporal"], VideoOptions(), None)
    assert len(out.frames) == FRAMES and out.fps == RATE
    assert out.frames[0].size == (SIZE, SIZE)
    with Image.open(stylized["gif"]) as gif:
        assert gif.n_frames == FRAMES
    folder = frames_of(stylized["temporal"])
    for i in range(1, FRAMES + 1):
        record = json.loads((folder / f"{i:04d}.run.json").read_text())
        video = record["video"]
        assert video["frame"] == i and video["frames"] == FRAMES
        # losses.tsv has a temporal column where there is a temporal term: after the first frame
        header = (folder / f"{i:04d}.losses.tsv").read_text().split("\n", 1)[0].split("\t")
        assert ("temporal" in header) == (i > 1)
        if i == 1:
            assert video["start"] == {"from": "init", "init": "random", "init_image": None}
            assert record["options"]["num_iterations"] == 20
        else:
            start = Path(video["start"]["image"])
            assert video["start"]["frame"] == i - 1 and start == folder / f"{i:04d}.start.png"
            assert record["inputs"]["init_image"]["path"] == str(start)
            assert record["options"]["num_iterations"] == 10
            assert video["temporal_weight"] == 1e3 and 0.5 < video["mask_mean"] <= 1


@pytest.mark.slow
def test_a_rerun_skips_the_frames_done_and_redoes_a_deleted_one_to_the_same_bytes(clip, stylized):
    folder = frames_of(stylized["temporal"])
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.run.json")}
    tenth = (folder / "0010.png").read_bytes()
    (folder / "0010.png").unlink()
    assert cli.main(video_argv(clip, stylized["temporal"])) == 0
    after = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.run.json")}
    redone = sorted(name for name in before if after[name] != before[name])
    # Frame 10 comes out the same, so frame 11's start and everything after are unchanged.
    assert redone == ["0010.run.json"]
    assert (folder / "0010.png").read_bytes() == tenth


# --- a clip killed mid-frame ----------------------------------------------------------------


def _losses(path: Path) -> list[list[str]]:
    # Every column but the last (elapsed seconds, which no two runs share).
    return [line.split("\t")[:-1] for line in path.read_text().splitlines()]


def test_a_clip_killed_mid_frame_resumes_that_frame_from_its_checkpoint(tmp_path, monkeypatch):
    """Issue 15: the frames before are done, and the frame it was on resumes from its checkpoint
    (as the workflow's frame job does, stylize_frame), to the bytes of an uninterrupted run."""
    write_video(tmp_path / "c.mp4", panned(3), RATE)
    texture(SIZE, SIZE, 1).save(tmp_path / "style.png")
    opts = Options(
        content_image=str(tmp_path / "c.mp4"), style_image=(str(tmp_path / "style.png"),),
        image_size=32, num_iterations=6, save_iter=2, print_iter=0, model="random",
        device="cpu", content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
    )  # fmt: skip
    vopts = VideoOptions(iterations_after_first=6)

    def stylize(name: str) -> Path:
        stylize_clip(opts, vopts, str(tmp_path / "c.mp4"), str(tmp_path / f"{name}.mp4"))
        return frames_of(tmp_path / f"{name}.mp4")

    ref = stylize("ref")

    def at(path: str, state) -> bool:  # frame 2, after its checkpoint at iteration 4
        return Path(path).name.startswith("0002.") and state.iteration == 4

    with killed_after_checkpoint(monkeypatch, at):
        stylize("out")
    out = frames_of(tmp_path / "out.mp4")
    (saved,) = out.glob("0002.*.checkpoint.pt")
    assert not (out / "0002.png").exists() and not (out / "0003.png").exists()
    first = (out / "0001.run.json").stat().st_mtime_ns

    assert stylize("out") == out
    assert (out / "0001.run.json").stat().st_mtime_ns == first  # done: not run again
    record = json.loads((out / "0002.run.json").read_text())
    assert record["resumed_from"] == 4 and record["video"]["start"]["frame"] == 1
    assert not saved.exists()  # removed once the frame is complete
    for i in (1, 2, 3):
        name = f"{i:04d}"
        assert (out / f"{name}.png").read_bytes() == (ref / f"{name}.png").read_bytes(), name
        assert _losses(out / f"{name}.losses.tsv") == _losses(ref / f"{name}.losses.tsv"), name
    # losses.tsv: the first frame's columns are a still image's; a later frame adds its temporal
    # loss, 0 at its start (the warped previous frame, which is also its target).
    still = ["iteration", "total", "content", "style", "style_relu1_1", "style_relu2_1", "tv"]
    assert _losses(out / "0001.losses.tsv")[0] == still
    later = _losses(out / "0002.losses.tsv")
    assert later[0] == [*still, "temporal"]
    temporal = [float(row[-1]) for row in later[1:]]
    assert len(temporal) == 6 and temporal[0] == 0 and max(temporal) > 0


# --- bad input: one line, exit 2, nothing written -------------------------------------------


def _empty_mp4(path: Path) -> None:
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=RATE)
    stream.width, stream.height = SIZE, SIZE
    container.start_encoding()
    container.close()


def _size_changing(path: Path) -> None:
    # MPEG-TS streams concatenate byte by byte: the second part's frames are another size.
    parts = []
    for k, (w, h) in enumerate([(64, 48), (48, 64)]):
        part = path.with_name(f"part{k}.ts")
        with av.open(str(part), "w") as container:
            stream = container.add_stream("mpeg2video", rate=RATE)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for _ in range(3):
                frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 99, np.uint8), "rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        parts.append(part.read_bytes())
        part.unlink()
    path.write_bytes(b"".join(parts))


BAD = {
    "not a video": ("clip.mp4", lambda p: p.write_text("hello"), [], "not a video"),
    "no frames": ("clip.mp4", _empty_mp4, [], "has no video frames"),
    "size changes": ("clip.ts", _size_changing, [], "must not change mid-clip"),
    "too short": (
        "clip.mp4",
        lambda p: write_video(p, panned(4), RATE),
        ["--frames", "2:6"],
        "has 4 frames at 8 fps; frames 2:6 needs frame 6",
    ),
    "missing": ("clip.mp4", lambda p: None, [], "no such file"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_in_one_line_with_nothing_left(case, tmp_path, capsys):
    name, make, more, words = BAD[case]
    source = tmp_path / "in" / name
    source.parent.mkdir()
    make(source)
    style = texture(SIZE, SIZE, 1)
    style.save(tmp_path / "in" / "style.png")
    out = tmp_path / "out"
    argv = ["video", "--content-video", str(source), "--style-image",
            str(tmp_path / "in" / "style.png"), "--output-video", str(out / "o.mp4"),
            "--gif", str(out / "o.gif"), *FAST, *more]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and str(source) in err[0], err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--frames", "5:2"], "frames: must be A:B with 1 <= A <= B"),
        (["--temporal-weight", "-1"], "temporal_weight: must be >= 0"),
        (["--output-video", "o.avi"], "o.avi: the output video must end in .mp4"),
    ],
)
def test_bad_options_are_refused_in_one_line(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["video", "--content-video", "c.mp4", "--style-image", "s.png",
            "--output-video", "o.mp4", "--model", "random"]  # fmt: skip
    assert cli.main(base + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert list(tmp_path.iterdir()) == []


# --- the pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("3:7", (3, 7)), (":5", (1, 5)), ("4:", (4, None)), (":", (1, None)), ("2:2", (2, 2))],
)
def test_a_frames_range_is_numbered_from_1_with_both_ends_included(text, expected):
    assert frame_range(text) == expected


@pytest.mark.parametrize("text", ["0:3", "5:2", "3", "a:b", "1:2:3"])
def test_a_bad_frames_range_is_refused(text):
    with pytest.raises(OptionError, match="frames: must be A:B"):
        frame_range(text)


def test_a_clip_reads_back_with_its_frames_rate_and_range(tmp_path):
    frames = panned(10)
    write_video(tmp_path / "c.mp4", frames, RATE)
    whole = read_clip(tmp_path / "c.mp4", VideoOptions(), None)
    assert len(whole.frames) == 10 and whole.fps == RATE and whole.first == 1
    # H.264 at CRF 18 keeps the luma close (yuv420p halves the chroma's resolution).
    luma = np.array([0.299, 0.587, 0.114])
    diff = np.asarray(whole.frames[3], float) @ luma - np.asarray(frames[3], float) @ luma
    assert np.abs(diff).mean() < 4
    part = read_clip(tmp_path / "c.mp4", VideoOptions(frames="3:5"), 32)
    assert len(part.frames) == 3 and part.first == 3 and part.frames[0].size == (32, 32)
    half = VideoOptions(fps=4)
    assert read_clip(tmp_path / "c.mp4", half, None).fps == Fraction(4)
    taken = read_clip(tmp_path / "c.mp4", half, 16).frames
    assert frame_count(tmp_path / "c.mp4", half) == len(taken) == 5


def test_dis_flow_finds_a_whole_pixel_pan_in_both_directions():
    prev, cur = panned(2)[:2]
    forward, backward = pair_flows(prev, cur)
    inner = (slice(8, -8), slice(8, -8))
    # The window moves by SHIFT: content moves by -SHIFT from prev to cur.
    assert np.abs(forward[0][inner] + SHIFT[0]).mean() < 0.25
    assert np.abs(forward[1][inner] + SHIFT[1]).mean() < 0.25
    assert np.abs(backward[0][inner] - SHIFT[0]).mean() < 0.25
    assert np.abs(backward[1][inner] - SHIFT[1]).mean() < 0.25


def test_each_video_flag_s_help_is_its_option_s_metadata():
    parser = cli.build_parser()._subparsers._group_actions[0].choices["video"]  # type: ignore[union-attr]
    actions = {a.dest: a for a in parser._actions}
    for field in dataclasses.fields(VideoOptions):
        assert actions[field.name].help.startswith(field.metadata["help"]), field.name
        assert f"(default: {field.default})" in actions[field.name].help
    # every engine option but the per-frame files, which the clip supplies
    assert {"style_weight", "tv_weight", "scales", "device"} <= set(actions)
    assert not {"content_image", "output_image", "init_image"} & set(actions)


# --- the workflow: a clip x 2 styles x 2 settings -------------------------------------------

WORKFLOW_CONFIG = """\
content: inputs/content
styles: inputs/styles
videos: inputs/videos
stylize:
  image_size: 32
  num_iterations: 2
  print_iter: 0
  save_iter: 0
  content_layers: [relu2_1]
  style_layers: [relu1_1, relu2_1]
sweep:
  style_weight: [100, 1000]
model: random
pick: {score_size: 48}
device: cpu
video:
  iterations_after_first: 1
present:
  thumbnail: 48
"""
RUN = "results/videos/pan/wave/style_weight-100"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for folder in ("content", "styles", "videos"):
        (root / "inputs" / folder).mkdir(parents=True)
    texture(40, 32, 2).save(root / "inputs/content/cat.png")
    texture(32, 32, 3).save(root / "inputs/styles/wave.png")
    texture(32, 32, 4).save(root / "inputs/styles/cafe.png")
    write_video(root / "inputs/videos/pan.mp4", panned(), RATE)
    (root / "config").mkdir()
    (root / "config/config.yaml").write_text(WORKFLOW_CONFIG)
    return root


def test_the_dag_makes_frames_flows_and_masks_once_per_clip(project):
    from test_workflow import job_counts, snakemake

    counts = job_counts(snakemake(project, "all", "-n", "--quiet", "rules"))
    video = {rule: n for rule, n in counts.items() if rule.startswith("video_")}
    assert video == {
        "video_extract": 1,
        "video_flow": 1,
        "video_masks": 1,
        "video_frame": FRAMES * 2 * 2,
        "video_encode": 4,
        "video_sheet": 4,
    }


@pytest.mark.slow
def test_a_run_then_nothing_to_do_and_a_deleted_frame_reruns_from_there(project):
    from test_workflow import job_counts, snakemake

    from stylesweep import clip

    # The clip's shared files by the workflow; frames 1 to 15 in-process (a process per frame
    # would take a minute here), as the rule's script makes them; frame 16 by the workflow.
    snakemake(project, "resources/videos/pan/32px/mask", "--cores", "2", "--quiet", "all")
    folders = clip.ClipFolders(project / "resources/videos/pan/32px")
    opts = Options(
        content_image="-", style_image=(str(project / "inputs/styles/wave.png"),),
        image_size=32, num_iterations=2, print_iter=0, save_iter=0, style_weight=100.0,
        content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), model="random",
        device="cpu",
    )  # fmt: skip
    for i in range(1, FRAMES):
        frame = opts.replace(content_image=str(folders.frame(i)))
        clip.stylize_frame(frame, VideoOptions(iterations_after_first=1), folders, i,
                           project / RUN / "frames")  # fmt: skip
    frames = [f"{RUN}/frames/{i:04d}.png" for i in range(1, FRAMES + 1)]
    targets = [*frames, f"{RUN}.mp4", f"{RUN}.gif", f"{RUN}.sheet.png"]
    out = snakemake(project, *targets, "--cores", "2", "--quiet", "rules")
    assert job_counts(out) == {"video_frame": 1, "video_encode": 1, "video_sheet": 1}
    video = read_clip(project / f"{RUN}.mp4", VideoOptions(), None)
    assert len(video.frames) == FRAMES and video.fps == RATE
    record = json.loads((project / RUN / "frames/0016.run.json").read_text())
    assert record["video"]["start"]["frame"] == 15
    assert job_counts(snakemake(project, *targets, "-n", "--quiet", "rules")) == {}
    (project / RUN / "frames/0010.png").unlink()
    counts = job_counts(snakemake(project, *targets, "-n", "--quiet", "rules"))
    assert counts == {"video_frame": FRAMES - 9, "video_encode": 1, "video_sheet": 1}
