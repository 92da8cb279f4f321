"""config/quick.yaml as shipped, the first thing a user runs: it completes and shows the content
in every run with the stand-in model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from test_workflow import snakemake

ROOT = Path(__file__).resolve().parents[1]


def _luminance(path: Path) -> np.ndarray:
    """The image's luminance at 32 px (longest side), flattened."""
    image = Image.open(path).convert("L")
    image.thumbnail((32, 32), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=float).ravel()


@pytest.mark.slow
def test_the_quick_experiment_runs_and_keeps_the_content_recognisable(tmp_path: Path) -> None:
    quick = ROOT / "config/quick.yaml"
    config = yaml.safe_load(quick.read_text())
    for image in [*config["content"], *config["styles"]]:
        (tmp_path / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / image, tmp_path / image)
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config/config.yaml", tmp_path / "config/config.yaml")
    # The README's command, with the stand-in; one torch thread per job lets the two cores run
    # two jobs at once (threads are the command line's, not the config's).
    snakemake(tmp_path, "--cores", "2", "--configfile", str(quick), "--config", "model=random",
              "--set-threads", "stylize=1")  # fmt: skip
    runs = sorted((tmp_path / "results/runs").glob("*/*/*/final.png"))
    assert len(runs) == 2 * 2 * 2
    for final in runs:
        assert max(Image.open(final).size) == config["stylize"]["image_size"]  # as shipped
        content = next(tmp_path.glob(f"inputs/content/{final.parents[2].name}.*"))
        r = np.corrcoef(_luminance(final), _luminance(content))[0, 1]
        assert r >= 0.5, f"{final.relative_to(tmp_path)}: luminance correlation {r:.2f}"
    assert list((tmp_path / "results").glob("**/*.gif"))
