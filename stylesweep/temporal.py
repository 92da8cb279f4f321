"""Temporal consistency (Ruder et al. 2016): flow warping, consistency masks, the temporal loss."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

# The temporal loss's default weight: artistic-videos' -temporal_weight 1e3. That code applies
# its loss to the network's input in neural-style's preprocessed space (BGR x 256 minus the mean
# pixel), as an MSE averaged over the 3 x H x W values, beside content_weight 5 and
# style_weight 100; our objective uses those same conventions (caffe models), so the same
# number means the same balance: a temporal term 200 x the content weight. With the
# torchvision convention the input is in ImageNet-normalised units (about 1/58 of caffe's), so
# the same weight counts for less there, as tv_weight does.
TEMPORAL_WEIGHT = 1e3

# The forward-backward check of Ruder et al. 2016, with artistic-videos'
# consistencyChecker constants: a pixel is disoccluded when
# |w + w_hat|^2 >= DISOCCLUSION_SCALE (|w|^2 + |w_hat|^2) + DISOCCLUSION_OFFSET, and on a motion
# boundary when |grad u|^2 + |grad v|^2 > BOUNDARY_SCALE |w|^2 + BOUNDARY_OFFSET.
DISOCCLUSION_SCALE, DISOCCLUSION_OFFSET = 0.01, 0.5
BOUNDARY_SCALE, BOUNDARY_OFFSET = 0.01, 0.002
# consistencyChecker blurs the mask (a Gaussian of this sigma, in pixels) after marking
# disocclusions with -1, so that the blur spreads the zeros outward, then clips to [0, 1].
MASK_SIGMA = 0.8


def _grid(flow: Tensor) -> Tensor:
    """Where each pixel lands, x + flow(x), as grid_sample's (B, H, W, 2) grid in [-1, 1]."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=flow.dtype, device=flow.device),
        torch.arange(w, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )
    px = xs + flow[:, 0]  # (B, H, W)
    py = ys + flow[:, 1]
    # align_corners=True: -1 and 1 are the centres of the first and last pixels.
    gx = 2 * px / max(w - 1, 1) - 1
    gy = 2 * py / max(h - 1, 1) - 1
    return torch.stack([gx, gy], dim=-1)


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """Backward warping: out(x) = image(x + flow(x)), bilinear; (B, C, H, W) x (B, 2, H, W).

    `flow` is in pixels, channel 0 horizontal (x) and 1 vertical (y). To bring the previous
    frame to frame i, `flow` is frame i's backward flow (from frame i to frame i-1). Samples
    outside the image take the nearest border pixel; the consistency mask gives them weight 0.
    """
    return F.grid_sample(
        image,
        _grid(flow.to(image.dtype)),
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )


def _gradient_energy(flow: Tensor) -> Tensor:
    """|grad u|^2 + |grad v|^2, central differences, edges replicated: (B, 2, H, W) -> (B, H, W)."""
    padded = F.pad(flow, (1, 1, 1, 1), mode="replicate")
    dx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    dy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    return (dx.pow(2) + dy.pow(2)).sum(dim=1)


def _gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """A separable Gaussian blur of (B, 1, H, W), edges replicated."""
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))


def consistency(backward: Tensor, forward: Tensor, sigma: float = MASK_SIGMA) -> Tensor:
    """The per-pixel weights c of frame i's temporal loss (Ruder et al. 2016).

    Args:
        backward: (B, 2, H, W) flow from frame i to frame i-1 (w, in frame i's pixels).
        forward: (B, 2, H, W) flow from frame i-1 to frame i (w_hat).
        sigma: the blur of the mask in pixels; 0 keeps it binary.
    Returns:
        (B, 1, H, W) in [0, 1]: 0 where x + w(x) leaves the frame, where the flows disagree
        (disocclusion) and on motion boundaries; 1 elsewhere.
    """
    _, _, h, w = backward.shape
    # w_hat at the point w leads to; the check is that the round trip comes back.
    back = warp(forward, backward)  # (B, 2, H, W)
    ys, xs = torch.meshgrid(
        torch.arange(h, device=backward.device),
        torch.arange(w, device=backward.device),
        indexing="ij",
    )
    px, py = xs + backward[:, 0], ys + backward[:, 1]  # (B, H, W)
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    w2 = backward.pow(2).sum(1)  # |w|^2, (B, H, W)
    round_trip = (backward + back).pow(2).sum(1)
    disoccluded = round_trip >= DISOCCLUSION_SCALE * (w2 + back.pow(2).sum(1)) + DISOCCLUSION_OFFSET
    boundary = _gradient_energy(backward) > BOUNDARY_SCALE * w2 + BOUNDARY_OFFSET
    mask = torch.ones_like(w2)
    mask = torch.where(boundary, torch.zeros_like(mask), mask)
    # As consistencyChecker: -1 before the blur spreads disocclusions to their neighbours.
    mask = torch.where(disoccluded, -torch.ones_like(mask), mask)
    mask = torch.where(inside, mask, torch.zeros_like(mask)).unsqueeze(1)  # (B, 1, H, W)
    if sigma > 0:
        mask = _gaussian_blur(mask, sigma)
    return mask.clamp(0, 1)


def temporal_loss(x: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """(1/D) sum c (x - target)^2 over the D = C H W values of each image (Ruder et al. 2016):
    (B, C, H, W) x (1|B, C, H, W) x (1|B, 1, H, W) -> (B,)."""
    return (mask * (x - target).pow(2)).mean(dim=(1, 2, 3))


@dataclass(frozen=True)
class Temporal:
    """Frame i's temporal term: the previous stylized frame warped to frame i, its mask and weight.

    `stylize` takes `target` as RGB in [0, 1], (1, 3, H, W), at the content's size; the engine
    resizes target and mask to each scale and moves the target into the network's input space.
    """

    target: Tensor  # (1, 3, H, W)
    mask: Tensor  # (1, 1, H, W) in [0, 1]: c
    weight: float = TEMPORAL_WEIGHT

    def replace(self, **changes: Any) -> Temporal:
        return dataclasses.replace(self, **changes)
