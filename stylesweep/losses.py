"""The loss terms of Gatys et al. in neural-style's normalisation; one value per image."""

from __future__ import annotations

import torch
from torch import Tensor


def gram(features: Tensor) -> Tensor:
    """Gram matrix F F^T / (C H W): (B, C, H, W) -> (B, C, C), as neural-style's StyleLoss.

    Channels-last or NCHW features are read in place, and the gradient comes back in the
    features' own layout from one matrix product (see _Gram).
    """
    return _Gram.apply(features)


class _Gram(torch.autograd.Function):
    """G = F^T F / n with F the (B, HW, C) view of the features, n = C H W.

    Autograd's version of the same product spends a second product and a transpose on its
    backward (it differentiates both factors), and returns NCHW gradients into a
    channels-last network; here the backward is one product, dF = F (dG + dG^T) / n, written
    in the layout of the features it came from.
    """

    @staticmethod
    def forward(ctx, features: Tensor) -> Tensor:  # type: ignore[override]
        b, c, h, w = features.shape
        f = features.reshape(b, c, h * w)  # a view for NCHW and channels-last alike
        ctx.save_for_backward(f)
        ctx.shape = features.shape
        return f.bmm(f.transpose(1, 2)) / (c * h * w)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (f,) = ctx.saved_tensors
        b, c, h, w = ctx.shape
        sym = (grad + grad.transpose(1, 2)) / (c * h * w)  # (B, C, C)
        if f.stride(1) == 1:
            # Channels-last: f is (B, HW, C) in memory; the product's rows are its rows.
            out = f.transpose(1, 2).bmm(sym)  # (B, HW, C), contiguous
            return out.transpose(1, 2).reshape(b, c, h, w)  # channels-last, no copy
        return sym.bmm(f).reshape(b, c, h, w)  # NCHW: sym is symmetric, sym^T f = sym f


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
