"""Coarse to fine: scales, continuous numbering, frames at the final size, exact resume."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import stylize_one, tiny_options, tiny_tensors

from stylesweep import cli, transfer
from stylesweep.errors import OptionError
from stylesweep.options import Options, auto_scales, total_iterations

_tensors = functools.partial(tiny_tensors, size=64)


def _opts(tiny_images, **kw) -> Options:
    base = dict(image_size=64, scales=(32,), scale_iterations=(8,), num_iterations=8, save_iter=4)
    return tiny_options(tiny_images, **{**base, **kw})


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_scales_number_iterations_continuously_and_frames_reach_the_final_size(
    tiny_images, random_extractor, optimizer
):
    content, styles = _tensors(tiny_images)
    seen: list[transfer.Progress] = []
    opts = _opts(tiny_images, optimizer=optimizer, num_iterations=12)
    result = stylize_one(opts, random_extractor, "caffe", content, styles, callback=seen.append)
    assert total_iterations(opts) == 20
    assert [it for it, _, _ in result.rows] == list(range(1, 21))
    assert [(s.first, s.last) for s in result.scales] == [(1, 8), (9, 20)]
    assert result.scales[0].size == (22, 32) and result.scales[1].size == content.shape[-2:]
    assert [(p.iteration, p.scale, p.num_scales) for p in seen] == [
        (4, 0, 2),
        (8, 0, 2),
        (12, 1, 2),
        (16, 1, 2),
        (20, 1, 2),
    ]
    assert all(p.image is not None and p.image.shape == content.shape for p in seen)
    assert result.image.shape == content.shape
    # the loss at the final scale falls (the best of the last 4: L-BFGS without line search
    # spikes now and then on the random model, as in a single-scale run)
    final = [values[0] for it, values, _ in result.rows if it >= 9]
    assert min(final[-4:]) < 0.9 * final[0]


def test_the_final_scale_starts_from_the_coarse_result(tiny_images, random_extractor):
    content, styles = _tensors(tiny_images)
    opts = _opts(tiny_images, num_iterations=1, optimizer="adam")
    coarse = stylize_one(opts, random_extractor, "caffe", content, styles)
    single = stylize_one(
        opts.replace(scales=(), num_iterations=1), random_extractor, "caffe", content, styles
    )
    # one evaluation at 64 px: from the coarse result the loss is far below the noise start's
    assert coarse.final_losses["total"] < 0.7 * single.final_losses["total"]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
@pytest.mark.parametrize("stop_at", [4, 12])
def test_resume_across_scales_gives_the_same_bytes(
    tiny_images, random_extractor, optimizer, stop_at
):
    content, styles = _tensors(tiny_images)
    opts = _opts(tiny_images, optimizer=optimizer)
    saved: dict[int, transfer.Checkpoint] = {}
    ref = stylize_one(
        opts,
        random_extractor,
        "caffe",
        content,
        styles,
        on_checkpoint=lambda c: saved.setdefault(c.iteration, c),
    )
    assert sorted(saved) == [4, 12]  # no checkpoint at a scale's last iteration
    assert saved[stop_at].scale == (0 if stop_at < 9 else 1)
    again = stylize_one(opts, random_extractor, "caffe", content, styles, resume=saved[stop_at])
    assert torch.equal(again.image, ref.image)
    assert [r[:2] for r in again.rows] == [r[:2] for r in ref.rows]


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(scales=(32, 32)), "scales: must be ascending"),
        (dict(scales=(64,)), "scales: each must be below image_size"),
        (dict(scales=(8,)), "scales: 8 is below the minimum"),
        (dict(scales=(24, 32), scale_iterations=(1, 2, 3)), "scale_iterations: give one count"),
        (dict(precision="fp16"), "precision: must be one of"),
    ],
)
def test_bad_ladders_are_refused(tiny_images, changes, message):
    with pytest.raises(OptionError, match=message):
        _opts(tiny_images, **changes)


def test_a_scale_too_small_for_the_network_is_refused(tiny_images, random_extractor):
    content, styles = _tensors(tiny_images)
    with pytest.raises(OptionError, match="needs at least 16 pixels"):
        transfer.scale_ladder(
            _opts(tiny_images, scales=(16,)), content.shape, random_extractor.min_side
        )


def test_scales_auto_is_a_quarter_and_a_half_of_image_size():
    assert auto_scales(512) == (128, 256)
    assert auto_scales(200) == (100,)
    ns = cli.build_parser().parse_args(
        ["stylize", "-content_image", "c.png", "-style_image", "s.png", "-image_size", "1024"]
        + ["--scales", "auto", "--scale-iterations", "300", "150"]
    )
    opts = cli.options_from_args(ns)
    assert opts.scales == (256, 512) and opts.scale_iterations == (300, 150)
