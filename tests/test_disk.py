"""A full disk or an unwritable folder: one clear line, finished outputs intact, no torn files."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

from stylesweep import cli


def _argv(tiny_images, out, seed):
    return [
        "stylize", "--content-image", str(tiny_images["content"]),
        "--style-image", str(tiny_images["style_a"]), "--output-image", str(out),
        "--image-size", "32", "--num-iterations", "4", "--save-iter", "2",
        "--model", "random", "--seed", str(seed),
    ]  # fmt: skip


def _limit_file_size(limit: int):
    def apply() -> None:
        # Past the limit a write fails with EFBIG, as on a full disk, instead of killing us.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_fails_clearly_and_keeps_finished_outputs(tiny_images, tmp_path):
    out = tmp_path / "run" / "result.png"
    assert cli.main(_argv(tiny_images, out, 1)) == 0
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}

    # Frames and the image fit under 3 kB; the L-BFGS checkpoint does not.
    proc = subprocess.run(
        [sys.executable, "-m", "stylesweep.cli", *_argv(tiny_images, out, 2)],
        preexec_fn=_limit_file_size(3000),
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("stylesweep stylize: error: ") and "cannot write (File too large)" in last
    )
    assert "result.checkpoint.pt" in last
    after = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    assert not [name for name in after if ".tmp" in name]  # nothing torn left behind
    # the finished run's files are untouched (the new run got as far as its first frame)
    for name in ("result.png", "result.losses.tsv", "result.run.json"):
        assert after[name] == before[name]


def test_an_unwritable_output_folder_fails_before_any_work(tiny_images, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert cli.main(_argv(tiny_images, blocker / "out.png", 1)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"stylesweep stylize: error: {blocker}/out.png")
    assert "cannot write" in err[0]
