"""Colour control: exact colour spaces, colour matching, luminance-only transfer, the options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import stylize_one, tiny_options, tiny_tensors
from PIL import Image
from skimage import color as skcolor
from test_workflow import job_counts, make_image, snakemake

from stylesweep import canvas, colour, options, present
from stylesweep.errors import OptionError

SPACES = options.COLOR_SPACES


def pixels(seed: int = 0, size: tuple[int, int] = (24, 32)) -> torch.Tensor:
    """Random RGB (2, 3, H, W) with the gamut's corners, greys and near-black in the first row."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, *size, generator=gen)
    corners = torch.tensor([[r, g, b] for r in (0, 1) for g in (0, 1) for b in (0, 1)])
    greys = torch.linspace(0, 1, 11)[:, None].expand(-1, 3)
    dark = torch.tensor([[1e-4, 0, 0], [0, 2e-3, 0], [0.01, 0.02, 0.03]])
    special = torch.cat([corners, greys, dark])  # (22, 3)
    x[0, :, 0, : len(special)] = special.T
    return x


def test_every_option_space_has_a_conversion() -> None:
    assert tuple(colour.SPACES) == SPACES


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_round_trip_through_each_space_is_exact(space: str, dtype: torch.dtype) -> None:
    x = pixels().to(dtype)
    back = colour.from_space(colour.to_space(x, space), space)
    assert back.dtype == dtype
    assert (back - x).abs().max().item() < 1e-5


@pytest.mark.parametrize(("space", "reference"), [("lab", "rgb2lab"), ("luv", "rgb2luv")])
def test_lab_and_luv_match_scikit_image(space: str, reference: str) -> None:
    x = pixels(1)
    expected = getattr(skcolor, reference)(x.permute(0, 2, 3, 1).double().numpy())
    got = colour.to_space(x, space).permute(0, 2, 3, 1).numpy()
    assert np.abs(got - expected).max() < 1e-3


def test_ycbcr_is_jpegs_full_range_bt601() -> None:
    x = pixels(2)
    ycbcr = colour.to_space(x, "ycbcr")
    # scikit-image's YCbCr is the studio range (Y in 16-235, Cb and Cr in 16-240 of 255).
    studio = skcolor.rgb2ycbcr(x.permute(0, 2, 3, 1).double().numpy()) / 255
    y, c = studio[..., 0], studio[..., 1:] - 128 / 255
    assert np.abs(ycbcr[:, 0].numpy() - (y - 16 / 255) * 255 / 219).max() < 1e-3
    got = ycbcr[:, 1:].permute(0, 2, 3, 1).numpy() - 0.5
    assert np.abs(got - c * 255 / 224).max() < 1e-3
    assert torch.allclose(ycbcr[:, 0], colour.rgb_to_yuv(x)[:, 0], atol=1e-6)


@pytest.mark.parametrize("space", SPACES)
def test_a_grey_has_the_luminance_it_is_the_grey_of(space: str) -> None:
    grey = torch.linspace(0, 1, 21).view(1, 1, 1, 21)
    lum = colour.luminance(grey.expand(1, 3, 1, 21), space)
    assert torch.allclose(colour.grey_to_luminance(grey, space), lum, atol=1e-4)
    assert torch.allclose(colour.luminance_to_grey(lum, space), grey, atol=1e-5)


def test_original_colors_in_yuv_is_neural_styles() -> None:
    content, stylized = pixels(3)[:1], pixels(4)[:1]
    # neural-style: image.rgb2yuv, Y of the output with U and V of the content, image.yuv2rgb.
    m = colour._RGB2YUV
    y = torch.einsum("ij,bjhw->bihw", m, stylized)[:, :1]
    uv = torch.einsum("ij,bjhw->bihw", m, content)[:, 1:]
    inverse = torch.linalg.inv(m.double()).float()
    expected = torch.einsum("ij,bjhw->bihw", inverse, torch.cat([y, uv], 1))
    assert torch.equal(colour.original_colors(content, stylized), expected)


# --- colour matching --------------------------------------------------------------------------


@pytest.mark.parametrize("method", options.HISTOGRAM_MATCHES)
def test_matching_gives_the_style_the_contents_mean_and_covariance(method: str) -> None:
    gen = torch.Generator().manual_seed(5)
    style = torch.rand(1, 3, 40, 30, generator=gen) ** 2 * torch.tensor([1.0, 0.6, 0.3]).view(
        1, 3, 1, 1
    )
    content = 0.2 + 0.5 * torch.rand(1, 3, 32, 48, generator=gen)
    content[:, 2] = 0.7 * content[:, 0] + 0.1  # correlated channels
    matched = colour.match_histogram(style, content, method)
    mean, cov = colour.colour_stats(matched)
    c_mean, c_cov = colour.colour_stats(content)
    assert matched.shape == style.shape
    assert (mean - c_mean).abs().max().item() < 1e-3
    assert (cov - c_cov).abs().max().item() < 1e-3


@pytest.mark.parametrize("method", options.HISTOGRAM_MATCHES)
def test_matching_an_image_to_itself_changes_nothing(method: str) -> None:
    x = pixels(6)[:1]
    assert torch.allclose(colour.match_histogram(x, x, method), x, atol=1e-4)


def test_sym_is_a_symmetric_map_and_pca_keeps_bright_bright() -> None:
    gen = torch.Generator().manual_seed(7)

    def ramp(low: float, high: float) -> torch.Tensor:
        # Greys from low to high with a little colour noise: brightness is the main axis.
        grey = torch.linspace(low, high, 64).view(1, 1, 1, 64).expand(1, 3, 4, 64)
        return grey + 0.05 * torch.rand(1, 3, 4, 64, generator=gen)

    a, b = ramp(0, 1), ramp(0.2, 0.5)
    m = colour.matching_map(colour.colour_stats(a)[1], colour.colour_stats(b)[1], "sym")
    assert torch.allclose(m, m.T, atol=1e-9)
    # No eigenvector's sign turns the ramp round: what was bright stays bright.
    out = colour.match_histogram(a, b, "pca").mean(1)
    assert out[..., -8:].mean() > out[..., :8].mean() + 0.2


# --- the engine -------------------------------------------------------------------------------


def _chroma_within_8_bit_rounding(out: torch.Tensor, content: torch.Tensor, space: str):
    """(share of pixels inside the gamut, whether those keep the content's chroma).

    The output is rounded to 8 bits as a saved frame is; a pixel's tolerance is what half an
    8-bit step in each channel can move its chroma (a finite-difference bound). Pixels with a
    channel at 0 or 1 are left out: a colour outside the RGB gamut is clamped there.
    """
    saved = (out * 255).round() / 255
    inside = ((saved > 0) & (saved < 1)).all(1)  # (1, H, W)
    chroma = colour.to_space(saved.double(), space)[:, 1:]
    expected = colour.to_space(content.double(), space)[:, 1:]
    step = 0.5 / 255
    slack = torch.zeros_like(chroma)
    for c in range(3):
        nudged = saved.double().clone()
        nudged[:, c] += step
        slack += (colour.to_space(nudged, space)[:, 1:] - chroma).abs()
    ok = ((chroma - expected).abs() <= 1.5 * slack + 1e-6).all(1)
    return inside.float().mean().item(), bool(ok[inside].all())


@pytest.mark.parametrize("space", SPACES)
def test_luminance_transfer_keeps_the_contents_chroma(tiny_images, random_extractor, space):
    content, styles = tiny_tensors(tiny_images)
    opts = tiny_options(
        tiny_images, num_iterations=5, init="image", color_control="luminance", color_space=space
    )
    result = stylize_one(opts, random_extractor, "caffe", content, styles)
    share, keeps = _chroma_within_8_bit_rounding(result.image, content, space)
    assert share > 0.8 and keeps
    # and the luminance is the transfer's, not the content's
    lum = colour.luminance(result.image, space)
    assert (lum - colour.luminance(content, space)).abs().mean() > 1e-3 * colour.SPACES[space][2]


def test_luminance_optimizes_one_grey_channel_and_shows_colour_frames(
    tiny_images, random_extractor
):
    content, styles = tiny_tensors(tiny_images)
    opts = tiny_options(tiny_images, num_iterations=2, save_iter=1, color_control="luminance")
    frames, states = [], []
    stylize_one(opts, random_extractor, "caffe", content, styles, callback=frames.append,
                on_checkpoint=states.append)  # fmt: skip
    assert states[0].image.shape == (1, 1, *content.shape[2:])
    for frame in frames:
        assert frame.image.shape == content.shape
        chroma = colour.rgb_to_yuv(frame.image)[:, 1:]
        assert (chroma - colour.rgb_to_yuv(content)[:, 1:]).abs().mean() < 0.02


def test_luminance_matches_the_styles_luminance_to_the_contents(tiny_images):
    content, styles = tiny_tensors(tiny_images, styles=("style_a", "style_b"))
    dark = [s * 0.3 for s in styles]
    opts = tiny_options(tiny_images, color_control="luminance", color_space="lab")
    seen, greys, init = canvas.colour_inputs(opts, content, dark, None)
    assert init is None
    target = colour.luminance(content, "lab")
    for grey in greys:
        assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 0], grey[:, 2])
        lum = colour.grey_to_luminance(grey[:, :1], "lab")
        assert lum.mean().item() == pytest.approx(target.mean().item(), abs=1.0)  # less clamping
        assert lum.std().item() == pytest.approx(target.std().item(), rel=0.1)
    assert torch.allclose(colour.grey_to_luminance(seen[:, :1], "lab"), target, atol=1e-3)


@pytest.mark.parametrize("method", options.HISTOGRAM_MATCHES)
def test_histogram_matches_each_style_of_a_blend_on_its_own(tiny_images, method):
    content, styles = tiny_tensors(tiny_images, styles=("style_a", "style_b"))
    opts = tiny_options(tiny_images, color_control="histogram", histogram_match=method)
    _, matched, _ = canvas.colour_inputs(opts, content, styles, None)
    for style, alone in zip(styles, matched, strict=True):
        assert torch.equal(alone, colour.match_histogram(style, content, method))
        assert (colour.colour_stats(alone)[0] - colour.colour_stats(content)[0]).abs().max() < 1e-3


def test_histogram_brings_the_outputs_mean_colour_to_the_contents(tiny_images, random_extractor):
    content, styles = tiny_tensors(tiny_images)
    styles = [s * torch.tensor([1.0, 0.4, 0.2]).view(1, 3, 1, 1) for s in styles]  # orange
    distance = {}
    for control in ("none", "histogram"):
        opts = tiny_options(tiny_images, num_iterations=5, init="image", color_control=control)
        out = stylize_one(opts, random_extractor, "caffe", content, styles).image
        distance[control] = (out.mean((2, 3)) - content.mean((2, 3))).norm().item()
    assert distance["histogram"] < 0.5 * distance["none"]


def test_original_colors_in_yuv_post_processes_the_plain_result(tiny_images, random_extractor):
    content, styles = tiny_tensors(tiny_images)
    plain = stylize_one(
        tiny_options(tiny_images, num_iterations=3), random_extractor, "caffe", content, styles
    )
    kept = stylize_one(
        tiny_options(tiny_images, num_iterations=3, original_colors=True),
        random_extractor,
        "caffe",
        content,
        styles,
    )
    expected = colour.original_colors(content, plain.image).clamp(0, 1)
    assert torch.equal(kept.image, expected)


@pytest.mark.parametrize("space", SPACES)
def test_original_colors_uses_color_space(tiny_images, random_extractor, space):
    content, styles = tiny_tensors(tiny_images)
    opts = tiny_options(
        tiny_images, num_iterations=3, init="image", original_colors=True, color_space=space
    )
    result = stylize_one(opts, random_extractor, "caffe", content, styles)
    share, keeps = _chroma_within_8_bit_rounding(result.image, content, space)
    assert share > 0.8 and keeps


# --- the options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("color_control", "grey", "color_control: must be one of none, luminance, histogram, "),
        ("color_space", "hsv", "color_space: must be one of yuv, ycbcr, lab, luv, got 'hsv'"),
        ("histogram_match", "mkl", "histogram_match: must be one of chol, pca, sym, got 'mkl'"),
    ],
)
def test_bad_colour_values_are_one_line_errors(tiny_images, name, value, message):
    with pytest.raises(OptionError) as error:
        tiny_options(tiny_images, **{name: value})
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_colour_options_never_batch_together(tiny_images):
    base = tiny_options(tiny_images)
    for change in (
        {"color_control": "luminance"},
        {"color_control": "histogram"},
        {"histogram_match": "pca"},
        {"color_space": "lab"},
    ):
        assert options.batch_key(base.replace(**change)) != options.batch_key(base)


# --- the workflow ------------------------------------------------------------------------------

COLOUR_SWEEP = """\
content: inputs/content
styles: inputs/styles
stylize:
  image_size: 32
  num_iterations: 4
  save_iter: 2
  print_iter: 2
  init: image
sweep:
  color_control: [none, luminance, histogram]
model: random
pick: {score_size: 48}
device: cpu
present:
  thumbnail: 48
"""
COLOUR_SETTINGS = ["color_control-none", "color_control-luminance", "color_control-histogram"]


@pytest.fixture
def colour_project(tmp_path: Path) -> Path:
    make_image(tmp_path / "inputs/content/cat.png", (48, 32), 0)
    make_image(tmp_path / "inputs/styles/wave.png", (40, 40), 10)
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text(COLOUR_SWEEP)
    return tmp_path


def test_a_colour_sweep_plans_one_readable_setting_per_value(colour_project: Path) -> None:
    out = snakemake(colour_project, "-n")
    assert job_counts(out)["stylize"] == 3
    for setting in COLOUR_SETTINGS:
        assert f"results/runs/cat/wave/{setting}/final.png" in out


@pytest.mark.slow
def test_a_colour_sweep_runs_through_the_workflow(colour_project: Path) -> None:
    snakemake(colour_project, "--cores", "2", "--set-threads", "stylize=1", "--quiet", "rules")
    for setting in COLOUR_SETTINGS:
        run = colour_project / "results/runs/cat/wave" / setting
        record = json.loads((run / "run.json").read_text())
        assert record["options"]["color_control"] == setting.split("-")[1]
        assert record["options"]["color_space"] == "yuv"
        assert Image.open(run / "frames/0002.png").mode == "RGB"
    sheet = Image.open(colour_project / "results/sheets/sweeps/cat/wave.png")
    assert sheet.size == present.sheet_size(1, 3, 48, 4)
