"""Batches in the workflow: settings that differ only in loss weights run as one job, and each
still gets the run folder, GIF and run.json a separate run gets."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import killed_after_checkpoint
from PIL import Image
from test_workflow import PICKS, job_counts, make_image, snakemake
from test_workflow import TINY as WORKFLOW_TINY

from stylesweep import runner, sweep
from stylesweep.options import Options

# --- the plan: which settings batch together ----------------------------------------------

PLAN_CASES = [
    # (sweep, batch, the groups of two or more as id -> setting ids; the rest are groups of one)
    ({"style_weight": [10, 100]}, False, {}),
    ({"style_weight": [10, 100]}, True, {"default": ["style_weight-10", "style_weight-100"]}),
    (
        {"image_size": [32, 64], "tv_weight": [0, 0.01]},
        True,
        {
            "image_size-32": ["image_size-32_tv_weight-0", "image_size-32_tv_weight-0.01"],
            "image_size-64": ["image_size-64_tv_weight-0", "image_size-64_tv_weight-0.01"],
        },
    ),
    ({"image_size": [32, 64]}, True, {}),  # nothing shares all but the weights
    (  # colour options change the targets or the image: never batched across their values
        {"color_control": ["none", "luminance"], "style_weight": [10, 100]},
        True,
        {
            "color_control-none": [
                "color_control-none_style_weight-10",
                "color_control-none_style_weight-100",
            ],
            "color_control-luminance": [
                "color_control-luminance_style_weight-10",
                "color_control-luminance_style_weight-100",
            ],
        },
    ),  # fmt: skip
]


@pytest.mark.parametrize(("swept", "batch", "expected"), PLAN_CASES)
def test_plan_batches(tmp_path: Path, swept, batch, expected) -> None:
    make_image(tmp_path / "content/cat.png", (48, 32), 0)
    make_image(tmp_path / "styles/wave.png", (40, 40), 1)
    config = {"content": "content", "styles": "styles", "sweep": swept, "batch": batch}
    groups = sweep.plan(config, root=tmp_path).groups()
    assert {g.id: g.setting_ids for g in groups if len(g.settings) > 1} == expected
    alone = [g for g in groups if len(g.settings) == 1]
    assert all(g.setting_ids == [g.id] for g in alone)  # a group of one is named as its setting
    assert sorted(s for g in groups for s in g.setting_ids) == sorted(
        s.id for s in sweep.plan(config, root=tmp_path).settings
    )


# --- runner.run of several settings: files to files, equal to separate runs --------------

WEIGHTS = [(5.0, 100.0, 1e-3), (5.0, 300.0, 1e-3)]  # (content, style, tv) weights per member


def _members(tiny_images, tmp_path: Path) -> tuple[list[Options], list[runner.RunOutputs]]:
    settings, outputs = [], []
    for i, (c, s, t) in enumerate(WEIGHTS):
        folder = tmp_path / f"run{i}"
        settings.append(
            Options(
                content_image=str(tiny_images["content"]),
                style_image=(str(tiny_images["style_a"]),),
                image_size=32,
                num_iterations=8,
                save_iter=4,
                print_iter=0,
                optimizer="adam",
                model="random",
                device="cpu",
                content_weight=c,
                style_weight=s,
                tv_weight=t,
                output_image=str(folder / "final.png"),
            )
        )
        outputs.append(
            runner.RunOutputs(
                str(folder / "frames/{iteration:04d}.png"),
                str(folder / "losses.tsv"),
                str(folder / "run.json"),
            )
        )
    return settings, outputs


def _pixels(path: str | Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float64) / 255


def test_a_job_of_several_settings_writes_each_runs_files_as_a_separate_run(
    tiny_images, tmp_path
) -> None:
    settings, outputs = _members(tiny_images, tmp_path / "batch")
    results = runner.run(settings, outputs, final_frame=True)
    for i, (opts, out, result) in enumerate(zip(settings, outputs, results, strict=True)):
        alone = tmp_path / f"alone{i}.png"
        ref = runner.run_one(opts.replace(output_image=str(alone)))
        # The tolerance of tests/test_batch.py: losses within 2%, pixels within 0.02 on average.
        assert result.final_losses == pytest.approx(ref.final_losses, rel=2e-2)
        assert np.abs(_pixels(opts.output_image) - _pixels(alone)).mean() < 0.02
        frames = sorted(p.name for p in Path(opts.output_image).parent.glob("frames/*.png"))
        assert frames == ["0004.png", "0008.png"]
        assert len(Path(out.losses_tsv).read_text().splitlines()) == 1 + 8
        record = json.loads(Path(out.run_json).read_text())
        assert set(ref.record) | {"batched_with"} == set(record)
        assert record["options"]["style_weight"] == opts.style_weight
        assert record["batched_with"] == [str(tmp_path / f"batch/run{1 - i}")]
        assert record["frames"] == [str(Path(out.frames).parent / n) for n in frames]


def test_a_killed_batch_resumes_with_every_members_frames(tiny_images, tmp_path, monkeypatch):
    settings, outputs = _members(tiny_images, tmp_path)
    ckpt = str(tmp_path / "batch.ckpt")
    ref = runner.run(settings, outputs, final_frame=True)
    finals = [Path(o.output_image).read_bytes() for o in settings]
    with killed_after_checkpoint(monkeypatch, lambda _, state: state.iteration == 4):
        runner.run(settings, outputs, final_frame=True, checkpoint=ckpt)
    for opts in settings:  # as Snakemake removes a killed job's outputs
        shutil.rmtree(Path(opts.output_image).parent)
    again = runner.run(settings, outputs, final_frame=True, checkpoint=ckpt)
    for opts, first, result, final in zip(settings, ref, again, finals, strict=True):
        assert result.record["resumed_from"] == 4
        assert Path(opts.output_image).read_bytes() == final
        assert len(result.record["frames"]) == len(first.record["frames"]) == 2
        assert all(
            Path(f).parent == Path(opts.output_image).parent / "frames"
            for f in result.record["frames"]
        )
    assert not Path(ckpt).exists()


# --- the workflow ---------------------------------------------------------------------------

# The workflow test's tiny config, without its blend, batched.
TINY = WORKFLOW_TINY.replace("blends:\n  mix: {wave: 1, cafe: 3}\n", "") + "batch: true\n"
SETTINGS = ["style_weight-100", "style_weight-1000"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    make_image(root / "inputs/content/cat.png", (48, 32), 0)
    make_image(root / "inputs/styles/wave.png", (40, 40), 10)
    (root / "config").mkdir()
    (root / "config/config.yaml").write_text(TINY)
    return root


def test_a_batch_is_one_job_for_its_settings(project: Path) -> None:
    assert job_counts(snakemake(project, "-n", "--quiet", "rules")) == {
        "stylize": 1,
        "publish": 2,
        "gif": 2,  # and no score job: the stylize job scores its runs, the model loaded once
        "setting_sheet": 2,
        "sweep_sheet": 1,
        "settings_table": 1,
        "inputs_table": 1,
        **PICKS,
        "all": 1,
    }
    off = project / "config/off.yaml"
    off.write_text(TINY.replace("batch: true", "batch: false"))
    out = snakemake(project, "-n", "--quiet", "rules", "--configfile", str(off))
    assert job_counts(out)["stylize"] == 2


def test_set_threads_reaches_a_batchs_job(project: Path) -> None:
    out = snakemake(project, "-n", "--cores", "8", "--set-threads", "stylize=3")
    # A dry run lists a run's jobs under their cluster group's heading, indented.
    jobs = re.findall(r"^ *rule stylize:\n((?: {4,}.*\n)+)", out, flags=re.M)
    assert jobs and all(re.search(r"^ +threads: 3$", job, flags=re.M) for job in jobs)


@pytest.mark.slow
def test_a_batch_writes_every_run_folder(project: Path) -> None:
    # Only the runs and their GIFs: the sheets are the same rules as without batches.
    targets = [f"results/runs/cat/wave/{s}/progress.gif" for s in SETTINGS]
    snakemake(project, *targets, "--cores", "2", "--quiet", "rules")
    for setting in SETTINGS:
        run = project / "results/runs/cat/wave" / setting
        assert max(Image.open(run / "final.png").size) == 32
        frames = sorted(p.name for p in (run / "frames").glob("*.png"))
        assert frames == ["0002.png", "0004.png", "0006.png"]
        assert iio.imread(run / "progress.gif", index=None).shape[0] == 3
        record = json.loads((run / "run.json").read_text())
        assert record["options"]["style_weight"] == float(setting.split("-")[1])
        (other,) = set(SETTINGS) - {setting}
        assert record["batched_with"] == [f"results/runs/cat/wave/{other}"]
        assert not list(run.glob("*.pt"))
        job = project / "results/jobs/cat/wave/default" / setting
        assert os.path.samefile(run / "final.png", job / "final.png")
    assert not (project / "results/jobs/cat/wave/default.checkpoint.pt").exists()
    # The job scored both runs with the model loaded once; each run's folder has its own.
    scored = json.loads((project / "results/jobs/cat/wave/default/scores.json").read_text())
    assert sorted(scored["scores"]) == SETTINGS and scored["score_size"] == 48
    log = (project / "logs/stylize/cat/wave/default.log").read_text()
    assert log.count("runs scored") == 1 and "2 runs scored at 48 px" in log
    for setting in SETTINGS:
        record = json.loads(
            (project / "results/runs/cat/wave" / setting / "scores.json").read_text()
        )
        assert record["setting"] == setting and record["scores"] == scored["scores"][setting]
    assert job_counts(snakemake(project, *targets, "-n", "--quiet", "rules")) == {}
