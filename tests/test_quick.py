"""config/quick.yaml, the first thing a user runs, at a smaller size: it completes and shows
the content in every run with the stand-in model."""

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
    quick = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    for image in [*quick["content"], *quick["styles"]]:
        (tmp_path / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / image, tmp_path / image)
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config/config.yaml", tmp_path / "config/config.yaml")
    quick["stylize"].update(image_size=48, num_iterations=30)  # smaller and shorter, for time
    (tmp_path / "config/quick.yaml").write_text(yaml.safe_dump(quick))
    snakemake(tmp_path, "--cores", "2", "--configfile", "config/quick.yaml",
              "--config", "model=random")  # fmt: skip
    runs = sorted((tmp_path / "results/runs").glob("*/*/*/final.png"))
    assert len(runs) == 2 * 2 * 2
    for final in runs:
        content = next(tmp_path.glob(f"inputs/content/{final.parents[2].name}.*"))
        r = np.corrcoef(_luminance(final), _luminance(content))[0, 1]
        assert r >= 0.5, f"{final.relative_to(tmp_path)}: luminance correlation {r:.2f}"
    assert list((tmp_path / "results").glob("**/*.gif"))
