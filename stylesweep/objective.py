"""The objective: Gram targets, the loss weights, and each image's losses and gradient."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .losses import content_loss, gram, style_loss, tv_loss
from .models import FeatureExtractor, preprocess
from .options import Options
from .temporal import Temporal, temporal_loss

# content_loss or style_loss: (features, target) -> (B,)
Loss = Callable[[Tensor, Tensor], Tensor]


def loss_names(opts: Options, temporal: bool = False) -> tuple[str, ...]:
    """Column names of the loss rows: total, content, style, style_<layer>..., tv, and for a
    video frame with a temporal term, temporal."""
    styles = (f"style_{n}" for n in opts.style_layers)
    return ("total", "content", "style", *styles, "tv", *(("temporal",) if temporal else ()))


def style_targets(
    extractor: FeatureExtractor,
    styles: list[Tensor],
    weights: tuple[float, ...],
    layers: tuple[str, ...],
    convention: str,
) -> dict[str, Tensor]:
    """Blended Gram targets: sum_i w_i gram(style_i) per layer, weights summing to 1."""
    targets: dict[str, Tensor] = {}
    for style, w in zip(styles, weights, strict=True):
        feats = extractor(preprocess(style, convention))
        for name in layers:
            g = gram(feats[name].float()) * w  # (1, C, C)
            targets[name] = targets[name] + g if name in targets else g
    return targets


@dataclass(frozen=True)
class Weights:
    """The loss weights of a job: a number shared by every setting, or one per setting, (B,)."""

    content_weight: float | Tensor
    style_weight: float | Tensor
    tv_weight: float | Tensor

    @classmethod
    def of(cls, settings: Sequence[Options], device: torch.device) -> Weights:
        def weight(values: list[float]) -> float | Tensor:
            same = all(v == values[0] for v in values)
            return values[0] if same else torch.tensor(values, device=device)

        return cls(
            content_weight=weight([o.content_weight for o in settings]),
            style_weight=weight([o.style_weight for o in settings]),
            tv_weight=weight([o.tv_weight for o in settings]),
        )


def objective(
    opts: Options,
    feats: dict[str, Tensor],
    content_targets: dict[str, Tensor],
    grams: dict[str, Tensor],
    img: Tensor,
    weights: Weights,
    temporal: Temporal | None = None,
) -> tuple[Tensor, Tensor]:
    """neural-style's objective for each image of a batch; its gradient lands in `img.grad`.

    `temporal` (a video frame's, its target in the network's input space) adds artistic-videos'
    temporal loss on the network's input, img: its weighted value is the rows' last column,
    and a part of their `total`.

    Returns:
        The objective (B,) and the weighted loss rows (B, K) in `loss_names(opts, temporal)`
        order, detached.
    """
    zero = img.new_zeros(img.shape[0])
    # normalize_gradients: the weight is applied inside the gradient tap, not to the loss.
    tapped = opts.normalize_gradients

    def term(f: Tensor, weight: float | Tensor, loss: Loss, target: Tensor) -> Tensor:
        x = f.float()
        return loss(_NormalizeGrad.apply(x, weight) if tapped else x, target)  # (B,)

    content_terms, style_terms = [], []
    total = zero
    for name in opts.content_layers:
        raw = term(feats[name], weights.content_weight, content_loss, content_targets[name])
        content_terms.append(raw * weights.content_weight)
        total = total + (raw if tapped else content_terms[-1])
    for name in opts.style_layers:
        raw = term(feats[name], weights.style_weight, style_loss, grams[name])
        style_terms.append(raw * weights.style_weight)
        total = total + (raw if tapped else style_terms[-1])
    tv = tv_loss(img) * weights.tv_weight
    total = total + tv
    temporal_term = zero
    if temporal is not None:
        mask = temporal.mask

        def masked(x: Tensor, target: Tensor) -> Tensor:
            return temporal_loss(x, target, mask)

        raw = term(img, temporal.weight, masked, temporal.target)
        temporal_term = raw * temporal.weight
        total = total + (raw if tapped else temporal_term)
    # The images are independent, so the gradient of the sum is each image's own.
    total.sum().backward()
    c = torch.stack(content_terms).sum(0) if content_terms else zero
    s = torch.stack(style_terms).sum(0) if style_terms else zero
    everything = c + s + tv + temporal_term  # + 0 exactly when there is no temporal term
    extra = [temporal_term] if temporal is not None else []
    rows = torch.stack([everything, c, s, *style_terms, tv, *extra], dim=1).detach()  # (B, K)
    return total.detach(), rows


class _NormalizeGrad(torch.autograd.Function):
    """Identity forward; backward L1-normalises the incoming gradient, then scales it.

    This is neural-style's normalize_gradients: each loss module divides its gradient by its L1
    norm (+1e-8) and multiplies by its weight; the reported loss is unchanged. The weight is a
    number, or one per image of a batch, (B,).
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: float | Tensor) -> Tensor:  # type: ignore[override]
        ctx.weight = weight.view(-1, 1, 1, 1) if isinstance(weight, Tensor) else weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        norm = grad.abs().sum(dim=(1, 2, 3), keepdim=True) + 1e-8
        return grad / norm * ctx.weight, None
