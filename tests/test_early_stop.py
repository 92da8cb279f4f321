"""tol_loss_relative: a run stops once its loss settles, and its files say so; off by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import killed_after_checkpoint, stylize_one, tiny_options, tiny_tensors

from stylesweep import cli, runner, transfer
from stylesweep.options import defaults

# Loose enough that the tiny runs settle well before num_iterations (measured: 32 and 12).
EARLY = dict(num_iterations=40, tol_loss_relative=0.05, tol_loss_window=4)
# Two batch members that settle at different iterations, alone or together: (content, style).
WEIGHTS = [(5.0, 100.0), (5.0, 1e4)]


def _losses(path: Path) -> list[str]:
    # Every column but the last (elapsed seconds, which no two runs share).
    return [line.rsplit("\t", 1)[0] for line in path.read_text().splitlines()]


def test_off_by_default_with_artistic_videos_window() -> None:
    assert defaults()["tol_loss_relative"] == 0
    assert defaults()["tol_loss_window"] == 50  # artistic_video.lua's -tol_loss_relative_interval


def test_a_settled_run_stops_at_a_window_and_equals_a_shorter_run(tiny_images, random_extractor):
    content, styles = tiny_tensors(tiny_images)
    early = stylize_one(
        tiny_options(tiny_images, **EARLY), random_extractor, "caffe", content, styles
    )
    stop = early.stop
    assert stop is not None and stop.early and "tol_loss_relative" in stop.reason
    assert stop.iteration < EARLY["num_iterations"] and stop.iteration % 4 == 0
    assert [r[0] for r in early.rows] == list(range(1, stop.iteration + 1))
    # the criterion held at the stop, and at no check before it
    totals = [values[0] for _, values, _ in early.rows]
    for i in range(8, stop.iteration + 1, 4):
        settled = abs(totals[i - 1] - totals[i - 5]) < 0.05 * totals[i - 5]
        assert settled == (i == stop.iteration), i
    # the result is the image evaluated at the stop: what a run of that many iterations gives
    short = tiny_options(tiny_images, num_iterations=stop.iteration)
    plain = stylize_one(short, random_extractor, "caffe", content, styles)
    assert torch.equal(early.image, plain.image)
    assert [r[1] for r in early.rows] == [r[1] for r in plain.rows]
    assert plain.stop is not None and not plain.stop.early


def test_only_the_final_scale_stops_early(tiny_images, random_extractor):
    content, styles = tiny_tensors(tiny_images, 64)
    opts = tiny_options(tiny_images, image_size=64, scales=(32,), scale_iterations=(30,), **EARLY)
    result = stylize_one(opts, random_extractor, "caffe", content, styles)
    assert result.stop is not None and result.stop.early
    assert result.stop.iteration > 30 + 4  # a full window of the final scale first
    assert (result.stop.iteration - 30) % 4 == 0


def test_a_batch_member_stops_on_its_own(tiny_images, random_extractor):
    content, styles = tiny_tensors(tiny_images)
    settings = [
        tiny_options(tiny_images, **EARLY, content_weight=c, style_weight=s) for c, s in WEIGHTS
    ]
    seen: list[list[transfer.Progress]] = [[], []]
    callbacks = [seen[0].append, seen[1].append]
    batch = transfer.stylize(
        settings, random_extractor, "caffe", content, styles, callbacks=callbacks
    )
    stops = [r.stop.iteration for r in batch if r.stop is not None]
    alone = [stylize_one(o, random_extractor, "caffe", content, styles).stop for o in settings]
    assert stops == [s.iteration for s in alone if s is not None]
    assert stops[0] != stops[1]
    for result, progress, stop in zip(batch, seen, stops, strict=True):
        # each member's rows, reports and image end at its own stop
        assert result.rows[-1][0] == stop
        assert progress[-1].iteration == stop and progress[-1].is_last
        assert sum(p.is_last for p in progress) == 1
        assert progress[-1].image is not None and torch.equal(progress[-1].image, result.image)


def _run(tiny_images, folder: Path, **kw) -> runner.RunResult:
    opts = tiny_options(tiny_images, output_image=str(folder / "final.png"), **kw)
    outputs = runner.RunOutputs(
        frames=str(folder / "frames" / "{iteration}.png"),
        losses_tsv=str(folder / "losses.tsv"),
        run_json=str(folder / "run.json"),
    )
    return runner.run_one(opts, outputs, final_frame=True)


def test_a_stopped_run_s_files_end_at_the_stop(tiny_images, tmp_path):
    result = _run(tiny_images, tmp_path, save_iter=5, **EARLY)
    record = json.loads((tmp_path / "run.json").read_text())
    stop = record["stop"]
    assert stop["early"] and "tol_loss_relative" in stop["reason"]
    n = stop["iteration"]
    assert n < EARLY["num_iterations"]
    rows = (tmp_path / "losses.tsv").read_text().splitlines()
    assert len(rows) == 1 + n and rows[-1].startswith(f"{n}\t")
    # frames every save_iter up to the stop, and the final frame at it (what the GIF shows)
    frames = sorted(int(p.stem) for p in (tmp_path / "frames").iterdir())
    assert frames == [*range(5, n, 5), n] or frames == list(range(5, n + 1, 5))
    assert (tmp_path / "frames" / f"{n}.png").read_bytes() == (tmp_path / "final.png").read_bytes()
    assert record["frames"] == [str(tmp_path / "frames" / f"{i}.png") for i in frames]
    assert record["final_losses"] == result.final_losses
    assert record["iterations_per_s"] == pytest.approx(n / record["wall_time_s"], rel=0.01)


def test_off_is_byte_identical_to_a_run_without_the_option(tiny_images, tmp_path):
    plain, off = tmp_path / "plain", tmp_path / "off"
    _run(tiny_images, plain, save_iter=5)
    _run(tiny_images, off, save_iter=5, tol_loss_relative=0.0, tol_loss_window=3)
    assert (plain / "final.png").read_bytes() == (off / "final.png").read_bytes()
    assert _losses(plain / "losses.tsv") == _losses(off / "losses.tsv")
    for frame in (plain / "frames").iterdir():
        assert frame.read_bytes() == (off / "frames" / frame.name).read_bytes()
    record = json.loads((off / "run.json").read_text())
    assert record["stop"] == {"iteration": 20, "early": False, "reason": "num_iterations"}


def test_a_batch_resumes_with_a_member_already_stopped(tiny_images, tmp_path, monkeypatch):
    def job(folder: Path) -> tuple[list, list]:
        settings = [
            tiny_options(
                tiny_images, **EARLY, save_iter=8, content_weight=c, style_weight=s,
                output_image=str(folder / f"{j}.png"),
            )
            for j, (c, s) in enumerate(WEIGHTS)
        ]  # fmt: skip
        outputs = [runner.RunOutputs(losses_tsv=str(folder / f"{j}.tsv")) for j in range(2)]
        return settings, outputs

    ref = tmp_path / "ref"
    runner.run(*job(ref))
    out, ckpt = tmp_path / "out", tmp_path / "job.ckpt"
    states = []

    def at(_, state) -> bool:
        states.append(state)
        return state.iteration == 16

    with killed_after_checkpoint(monkeypatch, at):
        runner.run(*job(out), checkpoint=str(ckpt))
    # member 1 stopped at 12: its stop is in the state the job resumes from
    assert states[-1].stops[1] is not None and states[-1].stops[0] is None
    results = runner.run(*job(out), checkpoint=str(ckpt))
    assert [r.record["resumed_from"] for r in results] == [16, 16]
    assert [r.record["stop"]["iteration"] for r in results] == [32, 12]
    for j in range(2):
        assert (out / f"{j}.png").read_bytes() == (ref / f"{j}.png").read_bytes()
        assert _losses(out / f"{j}.tsv") == _losses(ref / f"{j}.tsv")


def test_the_cli_takes_artistic_videos_spellings(tiny_images, tmp_path):
    out = tmp_path / "out.png"
    argv = [
        "stylize", "-content_image", str(tiny_images["content"]),
        "-style_image", str(tiny_images["style_a"]), "-output_image", str(out),
        "-image_size", "32", "-num_iterations", "40", "-model", "random", "-print_iter", "0",
        "-save_iter", "0", "-tol_loss_relative", "0.05", "-tol_loss_relative_interval", "4",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    record = json.loads(out.with_suffix(".run.json").read_text())
    assert record["options"]["tol_loss_window"] == 4
    assert record["stop"]["early"]
