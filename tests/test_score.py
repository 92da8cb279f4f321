"""Scores measure an image with one yardstick: 0 or 1 at the content and style, by construction."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from conftest import make_image
from skimage.metrics import structural_similarity

from stylesweep import cli, score
from stylesweep.errors import OptionError
from stylesweep.score import SCORE_NAMES, Scorer

SIZE = 32  # score_size of the tiny images


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """content (48x32), a style of the content's shape, another style (40x40)."""
    folder = tmp_path_factory.mktemp("score")
    return {
        "content": make_image(folder / "content.png", (48, 32), 1),
        "style": make_image(folder / "style.png", (48, 32), 2),
        "other": make_image(folder / "other.png", (40, 40), 3),
    }


@pytest.fixture(scope="module")
def scorer(files) -> Scorer:
    return Scorer.load(
        "random", content=files["content"], styles=[files["style"]], score_size=SIZE, device="cpu"
    )


def test_the_content_against_itself(scorer, files):
    got = scorer.score_file(files["content"])
    assert list(got) == list(SCORE_NAMES)
    assert got["content_distance"] == 0
    assert got["structure"] == pytest.approx(1, abs=1e-12)


def test_the_style_against_itself(scorer, files):
    got = scorer.score_file(files["style"])
    assert got["style_distance"] == pytest.approx(0, abs=1e-6)
    assert got["color_distance"] == pytest.approx(0, abs=1e-6)


def test_identical_images_score_identically_and_others_do_not(scorer, files, tmp_path):
    copy = shutil.copy(files["other"], tmp_path / "copy.png")
    assert scorer.score_file(copy) == scorer.score_file(files["other"])
    assert scorer.score_file(files["other"]) != scorer.score_file(files["content"])
    assert scorer.stand_in


def test_a_blend_of_one_style_with_itself_is_that_style(scorer, files):
    blend = Scorer.load(
        "random",
        content=files["content"],
        styles=[files["style"], files["style"]],
        blend_weights=[1, 3],
        score_size=SIZE,
        device="cpu",
    )
    for name, value in blend.score_file(files["other"]).items():
        assert value == pytest.approx(scorer.score_file(files["other"])[name], rel=1e-5), name


@pytest.mark.parametrize(
    "seed, shape, mix", [(0, (40, 50), 0.3), (1, (16, 16), 0.8), (2, (33, 20), 0.0)]
)
def test_ssim_agrees_with_scikit_image(seed, shape, mix):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, *shape, generator=gen)
    y = (1 - mix) * x + mix * torch.rand(1, 1, *shape, generator=gen)
    ours = float(score.ssim(x, y)[0])
    theirs = structural_similarity(
        x[0, 0].double().numpy(),
        y[0, 0].double().numpy(),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
    )
    assert ours == pytest.approx(theirs, abs=1e-6)


def test_noise_is_the_mean_squared_neighbour_difference():
    flat = torch.full((1, 3, 8, 8), 0.4)
    checker = torch.from_numpy(np.indices((8, 8)).sum(0) % 2).float().expand(1, 3, 8, 8)
    assert float(score.noise(flat)[0]) == 0
    assert float(score.noise(checker)[0]) == 1  # every neighbour pair differs by 1


def test_frechet_distance_of_gaussians():
    cov = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]])
    mean = torch.tensor([1.0, 2.0, 3.0])
    assert score.frechet_distance(mean, cov, mean, cov) == pytest.approx(0, abs=1e-9)
    shifted = mean + torch.tensor([3.0, 4.0, 0.0])
    assert score.frechet_distance(mean, cov, shifted, cov) == pytest.approx(25)
    # isotropic: tr(C1 + C2 - 2 (C1 C2)^(1/2)) = 3 (s1 - s2)^2 for C = s^2 I
    assert score.frechet_distance(mean, 4 * torch.eye(3), mean, torch.eye(3)) == pytest.approx(3)


def test_a_score_size_below_the_model_s_minimum_is_refused(files):
    with pytest.raises(OptionError, match="score_size: 8 is below the minimum of 16 pixels"):
        Scorer.load("random", content=files["content"], styles=[files["style"]], score_size=8)


def _argv(files, *images) -> list[str]:
    return [
        "score", *map(str, images), "--content-image", str(files["content"]),
        "--style-image", str(files["style"]), "--model", "random",
        "--score-size", str(SIZE), "--device", "cpu",
    ]  # fmt: skip


def test_the_cli_prints_one_row_per_image_in_order(files, capsys, scorer):
    assert cli.main(_argv(files, files["content"], files["other"])) == 0
    lines = capsys.readouterr().out.splitlines()
    # the stand-in's scores are labelled as its images are
    assert lines[0].startswith("# ") and "stand-in" in lines[0]
    assert lines[1].split("\t") == ["image", *SCORE_NAMES]
    rows = [line.split("\t") for line in lines[2:]]
    assert [r[0] for r in rows] == [str(files["content"]), str(files["other"])]
    expected = scorer.score_file(files["other"])
    assert [float(v) for v in rows[1][1:]] == pytest.approx([expected[k] for k in SCORE_NAMES])
    # swapping the images swaps the rows
    assert cli.main(_argv(files, files["other"], files["content"])) == 0
    swapped = capsys.readouterr().out.splitlines()[2:]
    assert swapped == [lines[3], lines[2]]


@pytest.mark.parametrize("bad", ["missing.png", "corrupt.png"])
def test_a_bad_image_is_one_line_naming_it(files, tmp_path, capsys, bad):
    path = tmp_path / bad
    if bad == "corrupt.png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert cli.main(_argv(files, files["content"], path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and err[0].startswith("stylesweep score: error:")
