"""The Snakemake workflow end to end on a tiny sweep, its reruns, lint and format; GPU locks."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import yaml
from PIL import Image

from stylesweep import gpus, pick, present

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = [str(BIN / "snakemake"), "--snakefile", str(ROOT / "workflow/Snakefile")]
CONTENTS = {"cat": (48, 32), "dog": (40, 56)}
STYLES = {"wave": (40, 40), "cafe": (32, 44)}
TINY = textwrap.dedent(
    """\
    content: inputs/content
    styles: inputs/styles
    blends:
      mix: {wave: 1, cafe: 3}
    stylize:
      image_size: 32
      num_iterations: 6
      save_iter: 2
      print_iter: 2
    sweep:
      style_weight: [100, 1000]
    model: random
    pick: {score_size: 48}
    device: cpu
    present:
      thumbnail: 48
    """
)
SETTINGS = ["style_weight-100", "style_weight-1000"]
# The jobs after every run's scores: one each, whatever the sweep.
PICKS = {"summary": 1, "tradeoffs": 1, "best_sheet": 1, "overview": 1}
STYLE_COLUMNS = ["cafe", "wave", "mix"]  # single styles by name, then blends
CELL, PAD = 48, 4


def snakemake(workdir: Path, *args: str, timeout: float = 600) -> str:
    """Run snakemake on `workdir`; its combined output, or a failed test that shows it."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def job_counts(output: str) -> dict[str, int]:
    """rule -> jobs, from the `Job stats` table of a (dry) run; {} when nothing is to be done."""
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)
    return {rule: int(n) for rule, n in rows if rule != "total"}


def make_image(path: Path, size: tuple[int, int], seed: int) -> None:
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin((xx + yy) / 3 + seed)], -1) * 200
    pixels = np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


# --- GPU locks -----------------------------------------------------------------------------

CLAIM = textwrap.dedent(
    """\
    import sys, time
    from pathlib import Path
    from stylesweep import gpus
    lock_dir, release = sys.argv[1], Path(sys.argv[2])
    with gpus.claim_gpu(2, lock_dir=lock_dir, poll_s=0.05) as index:
        print(index, flush=True)
        while not release.exists():
            time.sleep(0.05)
    """
)


def test_two_jobs_get_different_gpus_and_a_third_waits(tmp_path: Path) -> None:
    script = tmp_path / "claim.py"
    script.write_text(CLAIM)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(name: str) -> subprocess.Popen[str]:
        release = tmp_path / f"release-{name}"
        cmd = [sys.executable, str(script), str(tmp_path / "locks"), str(release)]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)

    first, second = start("a"), start("b")
    got = {int(first.stdout.readline()), int(second.stdout.readline())}  # type: ignore[union-attr]
    assert got == {0, 1}
    third = start("c")
    time.sleep(1.5)
    assert third.poll() is None
    (tmp_path / "release-a").touch()
    assert first.wait(timeout=30) == 0
    freed = third.stdout.readline()  # type: ignore[union-attr]
    (tmp_path / "release-b").touch()
    (tmp_path / "release-c").touch()
    assert second.wait(timeout=30) == 0 and third.wait(timeout=30) == 0
    assert freed.strip() in {"0", "1"}


def test_a_claim_gives_up_after_its_timeout(tmp_path: Path) -> None:
    with gpus.claim_gpu(1, lock_dir=tmp_path) as index:
        assert index == 0
        with pytest.raises(TimeoutError, match="no free GPU"):
            with gpus.claim_gpu(1, lock_dir=tmp_path, poll_s=0.01, timeout_s=0.1):
                pass
    with gpus.claim_gpu(1, lock_dir=tmp_path) as index:  # released when the block ended
        assert index == 0


@pytest.mark.parametrize(
    ("device", "environ", "n_gpus", "inside", "held"),
    [
        ("cpu", {}, 2, {}, None),
        ("auto", {}, 0, {}, None),
        ("auto", {gpus.VISIBLE: "3"}, 2, {gpus.VISIBLE: "3"}, None),
        ("cuda", {gpus.VISIBLE: "3"}, 2, {gpus.VISIBLE: "3"}, None),
        ("auto", {}, 2, {gpus.VISIBLE: "0"}, 0),
        ("cuda", {}, 2, {gpus.VISIBLE: "0"}, 0),
        ("cuda:1", {}, 2, {}, 1),
    ],
)
def test_job_device(
    tmp_path: Path,
    device: str,
    environ: dict[str, str],
    n_gpus: int,
    inside: dict[str, str],
    held: int | None,
) -> None:
    before = dict(environ)
    with gpus.job_device(device, n_gpus=n_gpus, lock_dir=tmp_path, environ=environ) as name:
        assert name == device
        assert environ == inside
        for i in range(n_gpus):
            lock = gpus.try_lock(tmp_path / f"gpu{i}.lock")
            assert (lock is None) == (i == held)
            if lock is not None:
                lock.release()
    assert environ == before


@pytest.mark.needs_cuda
def test_a_job_sees_only_the_gpu_it_holds(tmp_path: Path) -> None:
    if gpus.VISIBLE in os.environ:
        pytest.skip("CUDA_VISIBLE_DEVICES is set: a scheduler assigns the GPUs here")
    environ: dict[str, str] = {}
    probe = "import torch; print(torch.cuda.device_count())"
    with gpus.job_device("auto", lock_dir=tmp_path, environ=environ):
        out = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            env={**os.environ, **environ},
            check=True,
        )
        assert environ[gpus.VISIBLE].isdigit() and out.stdout.strip() == "1"


# --- environments, format and lint ---------------------------------------------------------


@pytest.mark.parametrize("name", ["stylesweep-cpu.yaml", "stylesweep-cuda.yaml"])
def test_conda_envs_pin_torch_and_install_this_checkout(name: str) -> None:
    env = yaml.safe_load((ROOT / "envs" / name).read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert {"torch==2.14.1", "torchvision==0.29.1", "-e ${STYLESWEEP_SOURCE}"} <= set(pip)


def test_snakefmt_check() -> None:
    files = [ROOT / "workflow/Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))]
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", *map(str, files)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default config and the bundled inputs, in a folder of their own."""
    project = tmp_path_factory.mktemp("default")
    shutil.copytree(ROOT / "config", project / "config")
    (project / "inputs").symlink_to(ROOT / "inputs")
    return project


def test_lint(default_project: Path) -> None:
    out = snakemake(default_project, "--lint")
    assert "Congratulations" in out


@pytest.fixture(scope="module")
def default_dry_run(default_project: Path) -> tuple[str, list[str]]:
    """A dry run of the default config: its output without the import times, and the modules
    the planning process imported (-X importtime), in order."""
    command = [sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--cores", "1"]
    command += ["--quiet", "rules", "--snakefile", str(ROOT / "workflow/Snakefile")]
    proc = subprocess.run(
        command,
        cwd=default_project,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    timed = [line for line in lines if line.startswith("import time:")]
    output = "\n".join(line for line in lines if not line.startswith("import time:"))
    return output, [line.rsplit("|", 1)[1].strip() for line in timed]


def test_default_config_dry_run(default_dry_run: tuple[str, list[str]]) -> None:
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    contents = len(list((ROOT / "inputs/content").iterdir()))
    styles = len(list((ROOT / "inputs/styles").iterdir())) + len(config["blends"])
    settings = len(config["sweep"]["style_weight"])
    runs = contents * styles * settings
    assert (contents, styles, settings) == (4, 4, 3)
    assert job_counts(default_dry_run[0]) == {
        "fetch_weights": 1,
        "stylize": runs,  # one job per run: batch is off
        "publish": runs,
        "gif": runs,  # and no score job: each stylize job scores its runs
        "setting_sheet": settings,
        "sweep_sheet": contents * styles,
        "settings_table": 1,
        "inputs_table": 1,
        **PICKS,
        "all": 1,
    }


def test_scheduling_imports_no_torch(default_dry_run: tuple[str, list[str]]) -> None:
    """Snakemake plans the default sweep with stylesweep and without torch: only jobs load it."""
    imported = default_dry_run[1]
    assert "stylesweep.sweep" in imported and "stylesweep.memory" in imported
    assert not [name for name in imported if "torch" in name]


def test_neural_style_config_replaces_the_default_sweep(default_project: Path) -> None:
    out = snakemake(
        default_project, "-n", "--quiet", "rules", "--configfile", "config/neural-style.yaml"
    )
    assert job_counts(out)["stylize"] == 4 * 4  # contents x styles, one setting


# --- end to end on a tiny sweep ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the tiny sweep: 2 contents x (2 styles + 1 blend) x 2 settings."""
    project = tmp_path_factory.mktemp("tiny")
    for seed, (name, size) in enumerate(CONTENTS.items()):
        make_image(project / f"inputs/content/{name}.png", size, seed)
    for seed, (name, size) in enumerate(STYLES.items(), start=10):
        make_image(project / f"inputs/styles/{name}.png", size, seed)
    (project / "config").mkdir()
    (project / "config/config.yaml").write_text(TINY)
    # One thread per run lets both cores work on runs at once.
    snakemake(project, "--cores", "2", "--set-threads", "stylize=1", "--quiet", "rules")
    return project


def job_of(run: Path) -> Path:
    """The folder of the stylize job of a run folder (batch off: the group is the setting)."""
    return Path(str(run).replace("/results/runs/", "/results/jobs/"))


def run_dirs(project: Path) -> list[Path]:
    return [
        project / "results/runs" / c / s / setting
        for c in CONTENTS
        for s in STYLE_COLUMNS
        for setting in SETTINGS
    ]


@pytest.mark.slow
def test_every_run_has_its_final_image_frames_and_gif(tiny: Path) -> None:
    for run in run_dirs(tiny):
        final = Image.open(run / "final.png")
        assert max(final.size) == 32
        assert sorted(p.name for p in (run / "frames").glob("*.png")) == [
            "0002.png",
            "0004.png",
            "0006.png",
        ]
        gif = iio.imread(run / "progress.gif", index=None)
        assert gif.shape[0] == 3  # iterations 2, 4 and 6
        assert (gif.shape[2], gif.shape[1]) == final.size
        assert Image.open(run / "losses.png").size == (640, 400)
        assert (
            (tiny / "logs/stylize" / run.relative_to(tiny / "results/runs"))
            .with_suffix(".log")
            .exists()
        )


@pytest.mark.slow
def test_a_runs_files_are_links_to_its_jobs_and_newer_than_the_job(tiny: Path) -> None:
    for run in run_dirs(tiny):
        job, setting = job_of(run), run.name
        job_date = (job / ".snakemake_timestamp").stat().st_mtime
        for name in ["final.png", "losses.tsv", "run.json", "frames/0006.png"]:
            assert os.path.samefile(run / name, job / setting / name)
            assert (run / name).stat().st_mtime >= job_date


@pytest.mark.slow
def test_losses_and_run_json_record_the_run(tiny: Path) -> None:
    for run in run_dirs(tiny):
        content, style, setting = run.relative_to(tiny / "results/runs").parts
        lines = (run / "losses.tsv").read_text().splitlines()
        assert lines[0].split("\t")[:4] == ["iteration", "total", "content", "style"]
        assert len(lines) == 1 + 6
        record = json.loads((run / "run.json").read_text())
        assert record["options"]["style_weight"] == float(setting.split("-")[1])
        assert record["options"]["image_size"] == 32
        assert record["model"]["name"] == "random" and record["model"]["stand_in"] is True
        assert record["device"] == "cpu" and record["threads"] == 1
        assert not list(run.glob("*.pt"))
        assert not Path(f"{job_of(run)}.checkpoint.pt").exists()
        content_file = tiny / f"inputs/content/{content}.png"
        digest = hashlib.sha256(content_file.read_bytes()).hexdigest()
        assert record["inputs"]["content_image"]["sha256"] == digest
        styles = [s["path"] for s in record["inputs"]["style_image"]]
        if style == "mix":
            assert styles == ["inputs/styles/wave.png", "inputs/styles/cafe.png"]
            assert record["options"]["style_blend_weights"] == [1.0, 3.0]
        else:
            assert styles == [f"inputs/styles/{style}.png"]


@pytest.mark.slow
def test_contact_sheets_are_the_grid_plus_headers(tiny: Path) -> None:
    for setting in SETTINGS:
        sheet = Image.open(tiny / f"results/sheets/settings/{setting}.png")
        assert sheet.size == present.sheet_size(len(CONTENTS), len(STYLE_COLUMNS), CELL, PAD)
    for content in CONTENTS:
        for style in STYLE_COLUMNS:
            sheet = Image.open(tiny / f"results/sheets/sweeps/{content}/{style}.png")
            assert sheet.size == present.sheet_size(1, len(SETTINGS), CELL, PAD)


@pytest.mark.slow
def test_settings_table(tiny: Path) -> None:
    assert (tiny / "results/settings.tsv").read_text() == (
        "id\tstyle_weight\nstyle_weight-100\t100\nstyle_weight-1000\t1000\n"
    )


@pytest.mark.slow
def test_inputs_table_maps_each_name_to_its_file_and_digest(tiny: Path) -> None:
    lines = (tiny / "results/inputs.tsv").read_text().splitlines()
    assert lines[0] == "kind\tname\tfile\tsha256"
    rows = [line.split("\t") for line in lines[1:]]
    assert [(kind, name) for kind, name, _, _ in rows] == [
        *(("content", c) for c in sorted(CONTENTS)),
        *(("style", s) for s in sorted(STYLES)),
    ]
    for _, _, file, digest in rows:
        assert digest == hashlib.sha256((tiny / file).read_bytes()).hexdigest()


def test_any_file_name_plans_runs_under_its_safe_name(tmp_path: Path) -> None:
    for seed, name in enumerate(["café.png", "photo (1).jpg"]):
        make_image(tmp_path / f"inputs/content/{name}", (40, 32), seed)
    make_image(tmp_path / "inputs/styles/Bruegel, Harvesters.png", (40, 40), 9)
    (tmp_path / "config").mkdir()
    no_blends = TINY.replace("  mix: {wave: 1, cafe: 3}\n", "  {}\n")
    (tmp_path / "config/config.yaml").write_text(no_blends)
    out = snakemake(tmp_path, "-n", "--quiet", "all", "--printshellcmds")
    for content in ("cafe", "photo_1"):
        for setting in SETTINGS:
            assert f"results/runs/{content}/Bruegel_Harvesters/{setting}/final.png" in out, out


@pytest.mark.slow
def test_report(tiny: Path) -> None:
    snakemake(tiny, "--report", "report.html")
    html = (tiny / "report.html").read_text()
    for category in ("Contact sheets", "Progress GIFs", "Loss curves", "Settings", "Summary"):
        assert category in html
    # The first page shows the best sheet and all trade-offs embedded, and the sortable table
    # (summary.html's own figures are in the report once more, base64 inside base64).
    first = html[html.index("The pick of each content x style") :]
    assert first.count("data:image/png;base64,") == 2 and "sweep-summary" in first


@pytest.mark.slow
def test_the_summary_has_one_row_per_run_ranked_within_each_content_and_style(tiny: Path) -> None:
    table = pick.read_summary(tiny / "results/summary.tsv")
    runs = [run.relative_to(tiny / "results/runs").parts for run in run_dirs(tiny)]
    assert sorted((r["content"], r["style"], r["setting"]) for r in table) == sorted(runs)
    assert [name for name in table[0] if name not in pick.SCORE_NAMES][:4] == [
        "content", "style", "setting", "style_weight"
    ]  # fmt: skip
    for pair, rows in pick.by_pair(table).items():
        assert sorted(r["rank"] for r in rows) == [1, 2], pair
        assert {r["iterations"] for r in rows} == {"6"} and {r["device"] for r in rows} == {"cpu"}
    for run in run_dirs(tiny):
        record = json.loads((run / "scores.json").read_text())
        assert list(record["scores"]) == list(pick.SCORE_NAMES)
        assert record["stand_in"] is True and "stand-in" in record["note"]
        assert record["score_size"] == 48  # config pick.score_size
        row = next(r for r in table if r["setting"] == run.name and r["style"] == run.parent.name
                   and r["content"] == run.parent.parent.name)  # fmt: skip
        assert row["style_distance"] == pytest.approx(record["scores"]["style_distance"], 1e-5)


@pytest.mark.slow
def test_the_picks_are_plotted_and_sheeted(tiny: Path) -> None:
    for content in CONTENTS:
        for style in STYLE_COLUMNS:
            assert Image.open(tiny / f"results/tradeoffs/{content}/{style}.png").size == (640, 480)
    assert Image.open(tiny / "results/tradeoffs/all.png").size[0] > 640
    band = present.caption_height([[present.wrap_caption(SETTINGS[1], CELL)]])
    best = Image.open(tiny / "results/sheets/best.png")
    assert best.size == present.sheet_size(len(CONTENTS), len(STYLE_COLUMNS), CELL, PAD, band)
    page = (tiny / "results/summary.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and ">rank</th>" in page


@pytest.mark.slow
def test_annotating_the_sweep_sheets_redraws_only_them(tiny: Path) -> None:
    changed = tiny / "config/annotated.yaml"
    changed.write_text(TINY.replace("thumbnail: 48", "thumbnail: 48\n  annotate: true"))
    out = snakemake(tiny, "-n", "--quiet", "rules", "--configfile", str(changed))
    assert job_counts(out) == {"sweep_sheet": len(CONTENTS) * len(STYLE_COLUMNS), "all": 1}


@pytest.mark.slow
def test_an_unchanged_config_reruns_nothing(tiny: Path) -> None:
    assert job_counts(snakemake(tiny, "-n", "--quiet", "rules")) == {}


@pytest.mark.slow
def test_changing_one_swept_value_reruns_only_what_it_touches(tiny: Path) -> None:
    changed = tiny / "config/changed.yaml"
    changed.write_text(TINY.replace("[100, 1000]", "[100, 2000]"))
    out = snakemake(tiny, "-n", "--quiet", "rules", "--configfile", str(changed))
    runs = len(CONTENTS) * len(STYLE_COLUMNS)
    assert job_counts(out) == {
        "stylize": runs,  # style_weight-2000 of every content x style
        "publish": runs,
        "gif": runs,  # the new runs only (scored by their stylize jobs): the others keep theirs
        "setting_sheet": 1,  # the new setting's sheet
        "sweep_sheet": runs,  # every content x style sheet shows all settings
        "settings_table": 1,
        **PICKS,  # the summary, the trade-off plots and the best sheet cover every run
        "all": 1,
    }


@pytest.mark.slow
def test_changing_the_score_size_scores_again_without_stylizing_again(
    tiny: Path, tmp_path: Path
) -> None:
    """The stylize jobs scored their runs; at a new pick.score_size, publish scores each again
    (and also where a job folder has no scores)."""
    changed = tiny / "config/rescored.yaml"
    changed.write_text(TINY.replace("score_size: 48", "score_size: 40"))
    args = ["--quiet", "rules", "--configfile", str(changed)]
    runs = len(CONTENTS) * len(STYLE_COLUMNS) * len(SETTINGS)
    assert job_counts(snakemake(tiny, "-n", *args)) == {
        "publish": runs,  # no stylize job
        "gif": runs,  # a run's published frames are newer
        "setting_sheet": len(SETTINGS),
        "sweep_sheet": len(CONTENTS) * len(STYLE_COLUMNS),
        **PICKS,
        "all": 1,
    }
    # In a copy (the other tests read this project): one run's publish job, at the new size.
    project = tmp_path / "copy"
    shutil.copytree(tiny, project, symlinks=True)
    run = Path("results/runs/cat/wave/style_weight-100")
    before = json.loads((project / run / "scores.json").read_text())
    snakemake(project, str(run / "scores.json"), "--cores", "1", *args)
    after = json.loads((project / run / "scores.json").read_text())
    assert (before["score_size"], after["score_size"]) == (48, 40)
    assert list(after["scores"]) == list(pick.SCORE_NAMES)
    assert after["scores"] != before["scores"]
    job = json.loads((job_of(project / run) / "scores.json").read_text())
    assert job["score_size"] == 48  # the stylize job's own record is left as it was
    log = (project / "logs/publish/cat/wave/style_weight-100.log").read_text()
    assert "the job's runs were scored at 48 px, pick.score_size is 40: scoring here" in log
    # A job folder without scores (made before stylize jobs scored): publish scores the run.
    other = Path("results/runs/dog/cafe/style_weight-1000")
    kept = json.loads((project / other / "scores.json").read_text())
    (job_of(project / other) / "scores.json").unlink()
    snakemake(project, str(other / "scores.json"), "--cores", "1", "--forcerun", "publish")
    again = json.loads((project / other / "scores.json").read_text())
    assert again["score_size"] == 48
    assert again["scores"] == kept["scores"]  # one thread in both: the same floats
    # A score job's file beside the job folder (the layout before) is used as it is.
    old = {**kept, "scores": {other.name: {**kept["scores"], "noise": 0.5}}}
    Path(f"{job_of(project / other)}.scores.json").write_text(json.dumps(old))
    (job_of(project / other) / "scores.json").unlink(missing_ok=True)
    snakemake(project, str(other / "scores.json"), "--cores", "1", "--forcerun", "publish")
    assert json.loads((project / other / "scores.json").read_text())["scores"]["noise"] == 0.5


@pytest.mark.slow
def test_changing_presentation_keys_reruns_only_gifs_and_sheets(tiny: Path) -> None:
    """Also on a cluster (groups apply to dry runs): no stylize job comes along with its GIF."""
    changed = tiny / "config/presented.yaml"
    changed.write_text(TINY.replace("thumbnail: 48", "thumbnail: 40\n  frame_ms: 200"))
    runs = len(CONTENTS) * len(STYLE_COLUMNS) * len(SETTINGS)
    expected = {
        "gif": runs,
        "setting_sheet": len(SETTINGS),
        "sweep_sheet": len(CONTENTS) * len(STYLE_COLUMNS),
        "best_sheet": 1,
        "overview": 1,  # it shows the best sheet
        "all": 1,
    }
    args = ["-n", "--quiet", "rules", "--configfile", str(changed)]
    assert job_counts(snakemake(tiny, *args)) == expected
    slurm = ["--profile", str(ROOT / "profiles/slurm"), "--workflow-profile", "none"]
    assert job_counts(snakemake(tiny, *args, *slurm)) == expected
