"""Print-size renders in the workflow: the `render` section, its runs and needs, end to end."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import yaml
from PIL import Image
from snakemake.utils import validate

from stylesweep import pick, render, sweep
from stylesweep.errors import ConfigError
from stylesweep.options import defaults

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = [str(BIN / "snakemake"), "--snakefile", str(ROOT / "workflow/Snakefile")]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
# One content x one style x two settings, run as one batch (one stylize job).
TINY = textwrap.dedent(
    """\
    content: inputs/content
    styles: inputs/styles
    stylize: {image_size: 32, num_iterations: 4, save_iter: 2, print_iter: 2}
    sweep: {style_weight: [100, 1000]}
    batch: true
    model: random
    pick: {score_size: 48}
    device: cpu
    present: {thumbnail: 48}
    """
)
SETTINGS = ["style_weight-100", "style_weight-1000"]
# A render at 64 px from a 32 px scale: content 48 x 32 becomes 64 x 43.
RENDER = "size: 64, scales: [32], scale_iterations: [2], num_iterations: 2"
RENDER_SIZE = (64, 43)


def make_image(path: Path, size: tuple[int, int], seed: int) -> None:
    w, h = size
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def project(root: Path, config: str = TINY) -> Path:
    make_image(root / "inputs/content/cat.png", (48, 32), 0)
    make_image(root / "inputs/styles/Great Wave.png", (40, 40), 10)
    (root / "config").mkdir(exist_ok=True)
    (root / "config/config.yaml").write_text(config)
    return root


def snakemake(root: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [*SNAKEMAKE, "--directory", str(root), *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    if ok:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc


def jobs(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """rule -> jobs of a dry run's `Job stats`; {} when nothing is to be done."""
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in table.splitlines()[3:]]
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[0] != "total"}


# --- the `render` section, resolved against the sweep ----------------------------------------


@pytest.fixture
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> sweep.Plan:
    project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return sweep.plan(yaml.safe_load(TINY))


@pytest.mark.parametrize(
    ("entry", "run"),
    [
        ({"content": "cat", "style": "Great_Wave", "setting": SETTINGS[0]}, 0),
        ({"content": "cat", "style": "Great Wave", "setting": SETTINGS[1]}, 1),  # a file stem
    ],
)
def test_a_listed_run_is_named_by_its_ids_or_its_files_stems(plan, entry, run):
    assert render.resolve_runs([entry, entry], plan) == (("cat", "Great_Wave", SETTINGS[run]),)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"content": "dog"}, "render.runs[1]: unknown content 'dog'; the sweep's are cat"),
        ({"style": "wave"}, "render.runs[1]: unknown style 'wave'; the sweep's are Great_Wave"),
        ({"setting": "default"}, "render.runs[1]: unknown setting 'default'; the sweep's are"),
    ],
)
def test_a_run_the_sweep_does_not_have_is_named_in_one_line(plan, entry, message):
    good = {"content": "cat", "style": "Great_Wave", "setting": SETTINGS[0]}
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        render.read_config({"runs": [good, {**good, **entry}]}, plan)


def test_all_best_and_no_section(plan):
    assert render.read_config(None, plan) == render.RenderConfig()
    assert render.read_config({"runs": "all"}, plan).runs == tuple(
        ("cat", "Great_Wave", s) for s in SETTINGS
    )
    best = render.read_config({"runs": "best"}, plan)
    assert best.best and best.runs == ()


@pytest.mark.parametrize(
    ("section", "scales", "iterations"),
    [
        ({"size": 4096}, (256, 512, 1024, 2048), (1000, 500, 200, 100)),  # the print recipe
        ({"size": 2048, "scales": [300, 600]}, (300, 600), (50, 50)),  # 50 off the table
        ({"size": 512}, (128, 256), (200,)),  # up to 1024 px: the run's own counts
        # the run's own counts (3) do not fit the render's scales (2): the recipe's
        (
            {"size": 512, "run": {"scales": [32, 48, 64], "scale_iterations": [5, 6, 7]}},
            (128, 256),
            (50, 1000),  # 50 off the table at 128 px
        ),
        ({"size": 64}, (), defaults()["scale_iterations"]),  # no scale of 64 px or more below
        ({"size": 512, "scales": [256], "scale_iterations": [7]}, (256,), (7,)),
    ],
)
def test_scales_auto_is_the_print_recipe(plan, section, scales, iterations):
    own = section.get("run", {})
    config = render.read_config(
        {"runs": "all", **{k: v for k, v in section.items() if k != "run"}}, plan
    )
    options = render.render_options({**plan.options_for(plan.settings[0]), **own}, config)
    assert (options["scales"], options["scale_iterations"]) == (scales, iterations)


@pytest.mark.parametrize(
    ("section", "changed"),
    [
        ({}, {"image_size": 2048, "init": "image", "output_depth": 8, "num_iterations": 4}),
        ({"format": "png16", "num_iterations": 9}, {"output_depth": 16, "num_iterations": 9}),
        ({"format": "tiff16", "max_memory": "6G"}, {"output_depth": 16, "max_memory": "6G"}),
    ],
)
def test_a_render_is_its_runs_setting_at_the_render_size(plan, section, changed):
    config = render.read_config({"runs": "all", **section}, plan)
    run = plan.options_for(plan.settings[1])
    options = render.render_options(run, config)
    assert options["style_weight"] == run["style_weight"] == 1000.0
    assert {k: options[k] for k in changed} == changed


def test_a_render_the_engine_refuses_stops_at_start(plan):
    with pytest.raises(ConfigError, match=r"^render \(setting .*\): scales: each must be below"):
        render.read_config({"runs": "all", "size": 96, "scales": [64, 128]}, plan)


def test_best_is_each_content_and_styles_rank_1_and_survives_its_file(tmp_path):
    rows = [
        {"content": "cat", "style": "wave", "setting": "a", "rank": 2},
        {"content": "cat", "style": "wave", "setting": "b", "rank": 1},
        {"content": "dog", "style": "wave", "setting": "a", "rank": 1},
    ]
    picks = render.best_runs(rows)
    assert picks == [("cat", "wave", "b"), ("dog", "wave", "a")]
    (tmp_path / "picks.tsv").write_text(render.picks_tsv(picks))
    assert render.read_picks(tmp_path / "picks.tsv") == picks


def test_the_memory_request_follows_the_plan(plan):
    def needs(size: int, max_memory: str) -> tuple[int, int, int]:
        config = render.read_config({"runs": "all", "size": size, "max_memory": max_memory}, plan)
        options = render.render_options(plan.options_for(plan.settings[0]), config)
        opts = sweep.build_options(
            options, content_image="inputs/content/cat.png", style=plan.styles["Great_Wave"]
        )
        memory_plan = render.render_plan(opts)
        runtime = render.render_runtime_min(opts, memory_plan)
        return render.render_mem_mb(memory_plan), runtime, memory_plan.scales[-1].tiles

    small, large, capped = needs(256, "1000G"), needs(2048, "1000G"), needs(2048, "3G")
    assert small[0] < large[0] and small[1] < large[1]
    assert large[2] == 1 and capped[2] > 1  # within 3 GiB the last scale runs in tiles
    assert capped[0] <= 3072 * 1.048576 * 1.25 + 100 < large[0]
    assert capped[1] >= large[1]  # the overlaps cost time


@pytest.mark.parametrize(
    ("max_memory", "device", "mem_mb", "expected"),
    [
        (None, "cpu", 2097, "2000M"),  # MB -> MiB
        ("6G", "cpu", 2097, "6G"),
        (None, "cuda", 2097, None),  # the GPU's memory is the engine's to find
        (None, "cpu", None, None),
    ],
)
def test_a_cpu_render_plans_within_its_jobs_memory(max_memory, device, mem_mb, expected):
    opts = sweep.build_options({"max_memory": max_memory}, content_image="c", style=["s"])
    assert render.job_max_memory(opts, device, mem_mb).max_memory == expected


def test_the_schema_takes_a_render_section_and_nothing_unknown_in_it():
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["render"]
    assert schema["properties"]["format"]["enum"] == list(render.FORMATS)
    base = {"content": "c", "styles": "s"}
    good = {"runs": [{"content": "c", "style": "s", "setting": "x"}], "size": 4096}
    for section in (good, {"runs": "best", "scales": "auto", "format": "tiff16"}):
        validate(copy.deepcopy({**base, "render": section}), str(SCHEMA))
    for bad in ({**good, "colour": 1}, {**good, "format": "gif"}, {"runs": "some"}, {}):
        with pytest.raises(Exception, match="render"):
            validate(copy.deepcopy({**base, "render": bad}), str(SCHEMA))


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sweep run with `render: best` as 16-bit PNGs."""
    root = project(tmp_path_factory.mktemp("render"))
    (root / "config/best.yaml").write_text(f"render: {{runs: best, format: png16, {RENDER}}}\n")
    snakemake(
        root, "--cores", "2", "--configfile", str(root / "config/best.yaml"), "--quiet", "rules"
    )
    return root


def renders_of(root: Path, suffix: str) -> dict[tuple[str, ...], Path]:
    return {
        p.relative_to(root / "results/renders").parts[:3]: p
        for p in (root / "results/renders").glob(f"*/*/*/64px.{suffix}")
    }


@pytest.mark.slow
def test_best_renders_the_summarys_pick_as_a_16_bit_png(rendered):
    rows = pick.read_summary(rendered / "results/summary.tsv")
    best = [(r["content"], r["style"], r["setting"]) for r in rows if r["rank"] == 1]
    assert list(renders_of(rendered, "png")) == best
    (image,) = renders_of(rendered, "png").values()
    pixels = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
    assert pixels.dtype == np.uint16 and pixels.shape == (43, 64, 3)
    stem = str(image)[: -len(".png")]
    gif = Image.open(f"{stem}.gif")
    assert gif.size == RENDER_SIZE and gif.n_frames == 2  # iteration 2 (32 px) and 4 (64 px)
    scales = [line.split("\t")[-2] for line in Path(f"{stem}.losses.tsv").read_text().splitlines()]
    assert scales == ["scale_px", "32", "32", "64", "64"]
    assert not Path(f"{stem}.frames").exists() and not Path(f"{stem}.checkpoint.pt").exists()


@pytest.mark.slow
def test_run_json_names_the_init_image_and_the_plan(rendered):
    ((content, style, setting), image) = next(iter(renders_of(rendered, "png").items()))
    record = json.loads(image.with_suffix(".run.json").read_text())
    init = f"results/runs/{content}/{style}/{setting}/final.png"
    assert record["inputs"]["init_image"]["path"] == init
    assert record["options"]["init"] == "image" and record["options"]["image_size"] == 64
    plan = record["memory_plan"]
    assert [(s["width"], s["height"]) for s in plan["scales"]] == [(32, 22), RENDER_SIZE]
    # Without max_memory a CPU render plans within its job's request.
    assert plan["max_memory_mb"] >= plan["estimate_mb"] > 0
    assert record["options"]["max_memory"].endswith("M")


@pytest.mark.slow
def test_a_second_run_has_nothing_to_do(rendered):
    proc = snakemake(rendered, "-n", "--configfile", str(rendered / "config/best.yaml"))
    assert jobs(proc) == {}


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "suffix"), [("tiff16", "tif"), ("jpg", "jpg")])
def test_a_listed_run_in_tiff16_and_jpg(rendered, fmt, suffix):
    # The run best did not render (its files stay as they are), its style named by its stem.
    rows = pick.read_summary(rendered / "results/summary.tsv")
    (setting,) = [r["setting"] for r in rows if r["rank"] == 2]
    run = f"{{content: cat, style: Great Wave, setting: {setting}}}"
    config = rendered / f"config/{fmt}.yaml"
    config.write_text(f"render: {{runs: [{run}], format: {fmt}, {RENDER}}}\n")
    snakemake(rendered, "--cores", "2", "--configfile", str(config), "--quiet", "rules")
    image = rendered / f"results/renders/cat/Great_Wave/{setting}/64px.{suffix}"
    if fmt == "tiff16":
        pixels = tifffile.imread(image)
        assert pixels.dtype == np.uint16 and pixels.shape == (43, 64, 3)
    else:
        with Image.open(image) as img:
            assert img.format == "JPEG" and img.size == RENDER_SIZE


def test_without_a_render_section_no_render_is_scheduled(tmp_path):
    counts = jobs(snakemake(project(tmp_path), "-n", "--quiet", "rules"))
    assert counts["stylize"] == 1 and "render" not in counts and "render_picks" not in counts


def test_a_bad_render_run_stops_at_start_in_one_line(tmp_path):
    bad = "render: {runs: [{content: nothere, style: Great_Wave, setting: style_weight-100}]}\n"
    proc = snakemake(project(tmp_path, TINY + bad), "-n", ok=False)
    lines = (proc.stdout + proc.stderr).splitlines()
    assert proc.returncode != 0
    assert "render.runs[0]: unknown content 'nothere'; the sweep's are cat" in lines
    assert not (tmp_path / "results").exists()
