"""The loss terms of Gatys et al. in neural-style's normalisation; one value per image."""

from __future__ import annotations

from torch import Tensor


def gram(features: Tensor) -> Tensor:
    """Gram matrix F F^T / (C H W): (B, C, H, W) -> (B, C, C), as neural-style's StyleLoss."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Mean squared error between activations: (B, C, H, W) x (1|B, C, H, W) -> (B,)."""
    return (features - target).pow(2).mean(dim=(1, 2, 3))


def style_loss(features: Tensor, target_gram: Tensor) -> Tensor:
    """Mean squared error over the C^2 Gram entries: (B, C, H, W) x (1|B, C, C) -> (B,)."""
    return (gram(features) - target_gram).pow(2).mean(dim=(1, 2))


def tv_loss(image: Tensor) -> Tensor:
    """Total variation, neural-style's squared-L2 form over the cropped grid: (B, C, H, W) -> (B,).

    Both differences are taken at x[..., :-1, :-1]. The factor 1/2 is ours: neural-style's TVLoss
    only defines a gradient, and 1/2 x sum of squares is the loss whose gradient that is.
    """
    x = image[..., :-1, :-1]
    dx = x - image[..., :-1, 1:]
    dy = x - image[..., 1:, :-1]
    return 0.5 * (dx.pow(2) + dy.pow(2)).sum(dim=(1, 2, 3))
