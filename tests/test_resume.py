"""Killed runs resume from their checkpoint and end with the bytes of an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import killed_after_checkpoint, make_image, tiny_options

from stylesweep import runner
from stylesweep.options import Options


def _opts(tiny_images, out: Path, **kw) -> Options:
    base = dict(num_iterations=12, save_iter=3, output_image=str(out))
    return tiny_options(tiny_images, **{**base, **kw})


def _losses(path: Path) -> list[str]:
    # Every column but the last (elapsed seconds, which no two runs share).
    return [line.rsplit("\t", 1)[0] for line in path.read_text().splitlines()]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_run_stopped_after_a_checkpoint_resumes_to_the_same_bytes(
    tiny_images, tmp_path, monkeypatch, optimizer
):
    ref = _opts(tiny_images, tmp_path / "ref.png", optimizer=optimizer)
    runner.run_one(
        ref,
        runner.RunOutputs(
            frames=str(tmp_path / "rf/{iteration}.png"), losses_tsv=str(tmp_path / "ref.tsv")
        ),
    )
    frames = str(tmp_path / "frames" / "{iteration}.png")
    outputs = runner.RunOutputs(frames=frames, losses_tsv=str(tmp_path / "out.tsv"))

    opts = _opts(tiny_images, tmp_path / "out.png", optimizer=optimizer)
    ckpt = tmp_path / "out.ckpt"
    with killed_after_checkpoint(monkeypatch, lambda _, state: state.iteration == 6):
        runner.run_one(opts, outputs, checkpoint=str(ckpt))
    assert ckpt.exists() and not (tmp_path / "out.png").exists()
    # as Snakemake does with a killed job's declared outputs: the frames so far are gone
    shutil.rmtree(tmp_path / "frames")

    result = runner.run_one(opts, outputs, checkpoint=str(ckpt))
    assert result.record["resumed_from"] == 6
    assert (tmp_path / "out.png").read_bytes() == (tmp_path / "ref.png").read_bytes()
    assert _losses(tmp_path / "out.tsv") == _losses(tmp_path / "ref.tsv")
    assert not ckpt.exists()  # removed once the run is complete
    # every frame is back, the ones before the checkpoint restored from it
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["3.png", "6.png", "9.png"]
    for p in (tmp_path / "frames").iterdir():
        assert p.read_bytes() == (tmp_path / "rf" / p.name).read_bytes()
    assert len(result.record["frames"]) == 3


def test_a_kept_checkpoint_starts_a_finished_job_again_near_its_end(tiny_images, tmp_path):
    """The workflow keeps a stylize job's checkpoint until the job has scored its runs: a job
    killed while scoring starts again from its last checkpoint, not from the start, and writes
    the same bytes."""
    outputs = runner.RunOutputs(
        frames=str(tmp_path / "frames" / "{iteration}.png"), losses_tsv=str(tmp_path / "out.tsv")
    )
    opts, ckpt = _opts(tiny_images, tmp_path / "out.png"), tmp_path / "out.ckpt"
    runner.run_one(opts, outputs, checkpoint=str(ckpt), keep_checkpoint=True)
    assert ckpt.exists()
    first, losses = (tmp_path / "out.png").read_bytes(), _losses(tmp_path / "out.tsv")
    shutil.rmtree(tmp_path / "frames")  # as Snakemake does with a killed job's outputs
    (tmp_path / "out.png").unlink()
    again = runner.run_one(opts, outputs, checkpoint=str(ckpt))
    assert again.record["resumed_from"] == 9  # the last of every save_iter (3) before 12
    assert (tmp_path / "out.png").read_bytes() == first
    assert _losses(tmp_path / "out.tsv") == losses
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["3.png", "6.png", "9.png"]
    assert not ckpt.exists()


def test_a_checkpoint_of_other_options_is_discarded(tiny_images, tmp_path, monkeypatch, caplog):
    ckpt = tmp_path / "c.ckpt"
    first = _opts(tiny_images, tmp_path / "a.png", style_weight=50.0)
    with killed_after_checkpoint(monkeypatch, lambda *_: True):  # at the first checkpoint
        runner.run_one(first, checkpoint=str(ckpt))
    other = _opts(tiny_images, tmp_path / "b.png", style_weight=60.0)
    result = runner.run_one(other, checkpoint=str(ckpt))
    assert result.record["resumed_from"] is None
    assert "different options or inputs; discarded" in caplog.text


def _cli(tiny_images, out: Path, iterations: int) -> list[str]:
    return [
        sys.executable, "-m", "stylesweep.cli", "stylize",
        "--content-image", str(tiny_images["content"]),
        "--style-image", str(tiny_images["style_a"]),
        "--output-image", str(out), "--image-size", "64", "--model", "random",
        "--num-iterations", str(iterations), "--save-iter", "10", "--print-iter", "0",
    ]  # fmt: skip


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "the run ended before writing a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


N = 60
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same threads in every run: the same bytes


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """An uninterrupted CLI run to compare against: (inputs, output image)."""
    folder = tmp_path_factory.mktemp("ref")
    inputs = {
        "content": make_image(folder / "content.png", (48, 32), 1),
        "style_a": make_image(folder / "style_a.png", (40, 40), 2),
    }
    ref = folder / "ref.png"
    subprocess.run(_cli(inputs, ref, N), check=True, env=ENV, capture_output=True)
    return inputs, ref


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_stylize_killed_in_a_subprocess_resumes(uninterrupted, tmp_path, how):
    tiny_images, ref = uninterrupted
    n, env = N, ENV

    out = tmp_path / "out.png"
    proc = subprocess.Popen(_cli(tiny_images, out, n), env=env, stderr=subprocess.PIPE)
    _wait_for(tmp_path / "out.checkpoint.pt", proc)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    if how == signal.SIGTERM:
        assert proc.returncode == 143, err
        assert b"terminated" in err
    assert not out.exists()
    # nothing half-written that looks complete: only the checkpoint and whole frames
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name and how == signal.SIGTERM]

    subprocess.run(_cli(tiny_images, out, n), check=True, env=env, capture_output=True)
    record = json.loads((tmp_path / "out.run.json").read_text())
    assert record["resumed_from"] and record["resumed_from"] % 10 == 0
    assert out.read_bytes() == ref.read_bytes()
    assert _losses(tmp_path / "out.losses.tsv") == _losses(ref.with_suffix(".losses.tsv"))
