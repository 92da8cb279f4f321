"""The workflow under trouble: bad configs, a bad input among good ones, a killed snakemake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_workflow import BIN, SNAKEMAKE, make_image

BASE = """\
content: inputs/content
styles: inputs/styles
stylize: {image_size: 32, num_iterations: 6, save_iter: 2}
model: random
pick: {score_size: 48}
device: cpu
"""

BAD_CONFIGS = [
    # (what is added to a good config, the one line that must say what is wrong)
    ("colour: red", "config: top level: Additional properties are not allowed ('colour' was"),
    ("sweep: {style_weight: 100}", "config: sweep.style_weight: 100 is not of type 'array'"),
    ("sweep: {style_weight: []}", "config: sweep.style_weight: [] should be non-empty"),
    ("sweep: {style_weight: [100, -5]}", "config: sweep.style_weight[1]: -5 is less than the"),
    ("sweep: {tv_weight: [-1]}", "config: sweep.tv_weight[0]: -1 is less than the minimum of 0"),
    ("sweep: {style_layers: [[relu9_1]]}", "config: sweep.style_layers[0][0]: 'relu9_1' does"),
    ("sweep: {content_layers: [[relu5_4]]}\nmodel: vgg16", "relu5_4"),
    ("blends: {mix: {wave: 1, nothere: 2}}", "blends.mix: unknown style(s) nothere"),
    ("model: alexnet", "config: model: 'alexnet' is not one of"),
    ("sweep: {image_size: [8]}", "config: sweep.image_size[0]: 8 is less than the minimum of 16"),
]


def _project(root: Path, contents: dict[str, tuple[int, int]], config: str) -> Path:
    for seed, (name, size) in enumerate(contents.items()):
        make_image(root / f"inputs/content/{name}.png", size, seed)
    make_image(root / "inputs/styles/wave.png", (40, 40), 10)
    (root / "config").mkdir(exist_ok=True)
    (root / "config/config.yaml").write_text(config)
    return root


def _snakemake(root: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(root), *args],
        capture_output=True, text=True, env=env, timeout=600, **kw,
    )  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD_CONFIGS, ids=[c for c, _ in BAD_CONFIGS])
def test_a_bad_config_stops_at_start_with_one_line(tmp_path, change, message):
    config = BASE + change + "\n"
    if "model:" in change:
        config = config.replace("model: random\n", "")
    root = _project(tmp_path, {"cat": (48, 32)}, config)
    proc = _snakemake(root, "-n", "--cores", "1")
    assert proc.returncode != 0
    lines = (proc.stdout + proc.stderr).splitlines()
    assert [line for line in lines if message in line], "\n".join(lines[-20:])
    assert not (root / "results").exists()


@pytest.mark.slow
def test_a_corrupt_input_fails_its_runs_and_the_sweep_goes_on(tmp_path):
    root = _project(tmp_path, {"cat": (48, 32), "dog": (40, 56)}, BASE)
    broken = root / "inputs/content/dog.png"
    broken.write_bytes(broken.read_bytes()[:200])
    proc = _snakemake(root, "--cores", "2", "--keep-going", "--set-threads", "stylize=1")
    assert proc.returncode != 0
    assert (root / "results/runs/cat/wave/default/final.png").is_file()
    assert (root / "results/runs/cat/wave/default/progress.gif").is_file()
    assert not (root / "results/runs/dog/wave/default").exists() or not any(
        (root / "results/runs/dog/wave/default").iterdir()
    )
    log = (root / "logs/stylize/dog/wave/default.log").read_text().splitlines()
    assert len(log) == 1 and "inputs/content/dog.png: corrupt or truncated image" in log[0]
    assert "stylize dog/wave/default: inputs/content/dog.png: corrupt or truncated" in proc.stderr


@pytest.mark.slow
def test_a_killed_snakemake_resumes_the_killed_run_and_redoes_nothing_else(tmp_path):
    config = BASE.replace("num_iterations: 6, save_iter: 2", "image_size: 64, save_iter: 10")
    config = config.replace("image_size: 32, ", "")
    config += "sweep: {num_iterations: [4, 300]}\n"
    root = _project(tmp_path, {"cat": (48, 32)}, config)
    short = root / "results/runs/cat/wave/num_iterations-4"
    long = root / "results/runs/cat/wave/num_iterations-300"
    # Beside the long run's job folder (Snakemake deletes that folder before a rerun).
    checkpoint = root / "results/jobs/cat/wave/num_iterations-300.checkpoint.pt"
    # The two runs' folders and GIFs: the sheets and picks after them are not the point here.
    targets = [str((run / "progress.gif").relative_to(root)) for run in (short, long)]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    cmd = [*SNAKEMAKE, "--directory", str(root), *targets, "--cores", "2"]
    cmd += ["--set-threads", "stylize=1"]  # last: it takes every word after it
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    # the short run's GIF exists once Snakemake has recorded its stylize job as finished
    while not ((short / "progress.gif").exists() and checkpoint.exists()):
        assert proc.poll() is None, "snakemake ended before the kill"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its jobs, at once
    proc.wait()
    assert not (long / "final.png").exists()
    finished = (short / "final.png").stat().st_mtime_ns

    assert _snakemake(root, "--unlock").returncode == 0
    rerun = _snakemake(root, *targets, "--cores", "2", "--set-threads", "stylize=1")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (short / "final.png").stat().st_mtime_ns == finished  # not redone
    record = json.loads((long / "run.json").read_text())
    assert record["resumed_from"] and record["resumed_from"] % 10 == 0
    assert len(list((long / "frames").glob("*.png"))) == 30  # frames before the kill restored
    assert not checkpoint.exists()
