"""Pictures as tensors: PIL RGB <-> (1, 3, H, W) floats in [0, 1], and a file at a size."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .images import load_image, resize_longest


def to_tensor(img: Image.Image) -> Tensor:
    """PIL RGB -> float32 tensor in [0, 1], (1, 3, H, W)."""
    a = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(a.copy()).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def to_image(x: Tensor) -> Image.Image:
    """Tensor in [0, 1], (3, H, W) or (1, 3, H, W) -> PIL RGB (clamped and rounded)."""
    if x.dim() == 4:
        x = x[0]
    a = x.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(a, mode="RGB")


def load_tensor(
    path: str | os.PathLike[str], longest: int | None = None, *, size: tuple[int, int] | None = None
) -> Tensor:
    """An image file as (1, 3, H, W): resized so that its longest side is `longest`, or to
    exactly `size` (width, height), bilinear as neural-style's image.scale."""
    img = load_image(path)
    if size is not None:
        return to_tensor(img.resize(size, Image.Resampling.BILINEAR))
    return to_tensor(resize_longest(img, longest) if longest is not None else img)
