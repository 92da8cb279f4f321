"""The temporal maths of Ruder et al. 2016: warping, the consistency mask, the temporal loss."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_options, tiny_tensors

from stylesweep import objective, transfer
from stylesweep.memory import ScalePlan, tile_overlap
from stylesweep.temporal import TEMPORAL_WEIGHT, Temporal, consistency, temporal_loss, warp


def _shift(dx: float, dy: float, h: int = 24, w: int = 32) -> torch.Tensor:
    """A constant flow (1, 2, H, W)."""
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


@pytest.mark.parametrize("dx, dy", [(2, 0), (0, -3), (-1, 2)])
def test_warping_by_a_whole_pixel_shift_is_a_roll_in_the_interior(dx, dy):
    image = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(0))
    # out(x) = image(x + flow): rolling by -flow moves image(x + d) to x.
    rolled = torch.roll(image, shifts=(-dy, -dx), dims=(2, 3))
    out = warp(image, _shift(dx, dy))
    m = 3  # past the largest shift: where the roll wraps and the warp clamps
    assert torch.allclose(out[..., m:-m, m:-m], rolled[..., m:-m, m:-m], atol=1e-5)


def test_the_mask_is_1_for_a_consistent_pair_and_0_where_it_leaves_the_frame():
    mask = consistency(_shift(2, 1), _shift(-2, -1))
    assert mask.shape == (1, 1, 24, 32)
    assert torch.all(mask[..., 5:-5, 5:-5] == 1)  # the blur reaches 2 px past the edge rows
    # x + w beyond the right and bottom edges: no previous pixel there (before the blur).
    sharp = consistency(_shift(2, 1), _shift(-2, -1), sigma=0)
    assert torch.all(sharp[..., :, -2:] == 0) and torch.all(sharp[..., -1, :] == 0)
    assert torch.all(sharp[..., :-1, :-2] == 1)


def test_the_mask_is_0_where_the_forward_and_backward_flows_disagree():
    backward, forward = _shift(2, 0), _shift(-2, 0)
    forward[..., 8:16, 8:20] = 3.0  # the round trip misses by 5 pixels here
    mask = consistency(backward, forward, sigma=0)
    # Pixels whose x + w lands in the bad block: x in 6..17, y in 8..15.
    assert torch.all(mask[..., 8:16, 6:18] == 0)
    assert torch.all(mask[..., 2:6, 2:28] == 1)
    blurred = consistency(backward, forward)
    assert torch.all(blurred[..., 9:15, 7:17] == 0)  # the blur spreads zeros, never ones


def test_the_mask_is_0_on_motion_boundaries():
    backward = _shift(0, 0)
    backward[..., :, 16:] = 4.0  # one half moves: a motion boundary at column 16
    forward = _shift(0, 0)
    forward[..., :, 20:] = -4.0  # consistent on both sides
    mask = consistency(backward, forward, sigma=0)
    assert torch.all(mask[..., 2:-2, 15:17] == 0)
    assert torch.all(mask[..., 2:-2, 2:12] == 1)


def test_the_temporal_loss_is_0_at_the_target_and_its_gradient_is_2c_x_minus_w_over_d():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(1, 3, 8, 10, generator=g)
    mask = torch.rand(1, 1, 8, 10, generator=g)
    assert temporal_loss(target, target, mask).item() == 0
    x = torch.rand(2, 3, 8, 10, generator=g, requires_grad=True)
    loss = temporal_loss(x, target, mask)
    assert loss.shape == (2,)
    loss.sum().backward()
    d = 3 * 8 * 10
    assert torch.allclose(x.grad, 2 * mask * (x.detach() - target) / d, atol=1e-7)


def test_the_default_weight_is_artistic_videos():
    assert TEMPORAL_WEIGHT == 1e3
    assert Temporal(torch.zeros(1, 3, 2, 2), torch.ones(1, 1, 2, 2)).weight == TEMPORAL_WEIGHT


def test_the_temporal_term_joins_the_total_and_pulls_towards_its_target(
    tiny_images, random_extractor
):
    content, styles = tiny_tensors(tiny_images)
    opts = tiny_options(tiny_images, num_iterations=5, init="image")
    target = torch.zeros_like(content)  # a black frame: far from the content
    mask = torch.ones(1, 1, *content.shape[-2:])
    free = transfer.stylize([opts], random_extractor, "caffe", content, styles[:1])[0]
    term = Temporal(target, mask, weight=10.0)
    tied = transfer.stylize([opts], random_extractor, "caffe", content, styles[:1], temporal=term)[
        0
    ]
    # A column of its own after tv, only where there is a temporal term; a part of the total.
    assert free.names == objective.loss_names(opts) and "temporal" not in free.names
    assert tied.names == (*free.names, "temporal")
    row = tied.final_losses
    assert row["temporal"] > 0
    parts = row["content"] + row["style"] + row["tv"] + row["temporal"]
    assert row["total"] == pytest.approx(parts, rel=1e-5)
    assert tied.image.mean() < free.image.mean()


def test_a_tiled_frame_keeps_tv_and_temporal_each_in_its_own_column(tiny_images, random_extractor):
    # One tile over the whole image: the tiled rows are the untiled ones, column by column.
    content, styles = tiny_tensors(tiny_images, 48)
    opts = tiny_options(tiny_images, image_size=48, init="image", content_layers=("relu2_1",),
                        style_layers=("relu1_1", "relu2_1"))  # fmt: skip
    term = Temporal(torch.zeros_like(content), torch.ones(1, 1, *content.shape[-2:]), weight=10.0)
    one_tile = ScalePlan(48, 32, 48, tile_overlap(48), 1, None, "lbfgs", 100, 0.0)
    whole, tiled = (
        transfer.setup([opts], random_extractor, "caffe", content, styles, seed=3,
                       temporal=term, plan=plan).evaluate()[1][0]
        for plan in (None, one_tile)
    )  # fmt: skip
    names = objective.loss_names(opts, temporal=True)
    assert len(whole) == len(names) and whole[names.index("temporal")] > 0
    torch.testing.assert_close(tiled, whole, rtol=1e-4, atol=1e-3)
