"""Colour maths on tensors: RGB <-> YUV and neural-style's original_colors."""

from __future__ import annotations

import torch
from torch import Tensor

# RGB <-> YUV with the BT.601 coefficients of Torch's image.rgb2yuv, which neural-style uses for
# original_colors.
_RGB2YUV = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.14713, -0.28886, 0.436],
        [0.615, -0.51499, -0.10001],
    ]
)


def rgb_to_yuv(rgb: Tensor) -> Tensor:
    """(B, 3, H, W) RGB -> YUV (Y in [0, 1], U and V centred on 0)."""
    m = _RGB2YUV.to(rgb.device, rgb.dtype)
    return torch.einsum("ij,bjhw->bihw", m, rgb)


def yuv_to_rgb(yuv: Tensor) -> Tensor:
    """The inverse of rgb_to_yuv."""
    m = torch.linalg.inv(_RGB2YUV.double()).to(yuv.device, yuv.dtype)
    return torch.einsum("ij,bjhw->bihw", m, yuv)


def original_colors(content: Tensor, stylized: Tensor) -> Tensor:
    """The stylized image's luminance (Y) with the content's chroma (U, V); (B, 3, H, W)."""
    y = rgb_to_yuv(stylized)[:, :1]
    uv = rgb_to_yuv(content)[:, 1:]
    return yuv_to_rgb(torch.cat([y, uv], dim=1))
