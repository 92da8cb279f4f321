"""Scores of a finished image with one fixed yardstick: independent of the run's loss weights."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from . import colour, images, tensors
from .losses import content_loss, gram
from .models import FeatureExtractor, build_extractor, preprocess
from .objective import style_targets
from .options import Options, check_range, defaults
from .pick import SCORE_NAMES, SCORE_SIZE  # the columns of scores.json; the default size
from .registry import get_spec
from .runner import STAND_IN_NOTE, check_size, resolve_device, weights_file

# neural-style's layers, whatever the run used: the yardstick must not move with the settings.
CONTENT_LAYER = defaults()["content_layers"][0]  # relu4_2
STYLE_LAYERS: tuple[str, ...] = defaults()["style_layers"]  # relu1_1 ... relu5_1
# SSIM as Wang et al. (2004): an 11-tap Gaussian window of sigma 1.5, K1 0.01, K2 0.03.
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


class Scorer:
    """One content and style (or blend) with the model, set up once; scores any number of
    images against them (see README.md, "Scores", for the definitions).

    Build it with `Scorer.load`; `score` and `score_file` return {name: value} in
    SCORE_NAMES order.
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        convention: str,
        content: Tensor,
        styles: Sequence[Tensor],
        blend_weights: Sequence[float],
        *,
        stand_in: bool = False,
        score_size: int = SCORE_SIZE,
    ):
        """Targets from `content` (1, 3, h, w) and `styles` (1, 3, h_i, w_i), RGB in [0, 1],
        already at score_size; `blend_weights` sum to 1."""
        self.extractor = extractor
        self.convention = convention
        self.stand_in = stand_in
        self.score_size = score_size
        self.device = next(extractor.parameters()).device
        self.size = (int(content.shape[-2]), int(content.shape[-1]))  # (H, W)
        with torch.no_grad():
            content = content.to(self.device)
            feats = extractor(preprocess(content, convention))
            self.content_features = feats[CONTENT_LAYER]  # (1, C, H', W')
            self.content_luminance = _luminance(content)  # (1, 1, H, W), float64
            styles = [s.to(self.device) for s in styles]
            self.grams = style_targets(
                extractor, styles, tuple(blend_weights), STYLE_LAYERS, convention
            )  # layer -> (1, C, C)
        self.colour = _blend_stats([_lab_stats(s) for s in styles], blend_weights)

    @classmethod
    def load(
        cls,
        model: str,
        *,
        content: str | os.PathLike[str],
        styles: Sequence[str | os.PathLike[str]],
        blend_weights: Sequence[float] | None = None,
        score_size: int = SCORE_SIZE,
        device: str = "auto",
        weights_dir: str | None = None,
        model_file: str | None = None,
    ) -> Scorer:
        """Read the content and styles, find the weights and build the model, as a run does.

        Args:
            model: a registry name (`vgg19`, `random`, ...).
            content, styles: image files; one style, or several blended by `blend_weights`
                (None: equal; normalised to sum 1, as the engine blends Gram targets).
            score_size: the longest side every image is scored at, in pixels.
            device: auto, cpu, cuda, cuda:N or mps.
            weights_dir, model_file: where the registry's weight file lives (fetched there on
                first use), or a file to use instead.
        Raises:
            ImageError, ModelError, OptionError: one line naming the file or option.
        """
        # Options checks the blend weights, device and model file as it does for a run.
        opts = Options(
            content_image=str(content),
            style_image=tuple(str(s) for s in styles),
            style_blend_weights=tuple(blend_weights) if blend_weights is not None else None,
            model=model,
            device=device,
            model_file=model_file,
        )
        check_range("score_size", score_size, {"minimum": 16, "unit": "pixels"})
        spec = get_spec(model)
        torch_device = resolve_device(opts.device)
        paths = (opts.content_image, *opts.style_image)
        read = [_load(p, score_size) for p in paths]
        weights = weights_file(opts, spec, None, weights_dir)
        extractor = build_extractor(spec, (CONTENT_LAYER, *STYLE_LAYERS), weights=weights)
        for path, picture in zip(paths, read, strict=True):
            check_size(path, picture, extractor.min_side, f"score_size {score_size}")
        return cls(
            extractor.to(torch_device),
            spec.convention,
            read[0],
            read[1:],
            opts.blend_weights(),
            stand_in=spec.stand_in,
            score_size=score_size,
        )

    def score(self, image: Tensor) -> dict[str, float]:
        """The scores of one image (1, 3, H, W), RGB in [0, 1] (clamped), any size: it is
        resized to the content's score size first."""
        with torch.no_grad():
            x = _resize(image.to(self.device).float().clamp(0, 1), self.size)
            feats = self.extractor(preprocess(x, self.convention))
            content = content_loss(feats[CONTENT_LAYER], self.content_features)
            style = [
                torch.linalg.matrix_norm(gram(feats[k].float()) - t) / torch.linalg.matrix_norm(t)
                for k, t in self.grams.items()
            ]
            values = (
                float(content[0]),
                float(torch.stack(style).mean()),
                frechet_distance(*_lab_stats(x), *self.colour),
                float(ssim(_luminance(x), self.content_luminance)[0]),
                float(noise(x)[0]),
            )
        return dict(zip(SCORE_NAMES, values, strict=True))

    def score_file(self, path: str | os.PathLike[str]) -> dict[str, float]:
        """The scores of an image file (ImageError naming it if it cannot be read)."""
        return self.score(tensors.load_tensor(path))


def score_finals(
    model: str,
    finals: Mapping[str, str | os.PathLike[str]],
    *,
    content: str | os.PathLike[str],
    styles: Sequence[str | os.PathLike[str]],
    blend_weights: Sequence[float] | None,
    model_file: str | None,
    score_size: int,
) -> dict[str, Any]:
    """The workflow's scores record of `finals` ({setting: image file}), with the model's name,
    whether it is a stand-in, and the score size.

    Measured on the CPU with one thread, wherever it runs (a stylize job after its runs, or
    publish scoring a run again): a GPU or another thread count would round otherwise, and
    every run's scores must compare.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scorer = Scorer.load(
            model,
            content=content,
            styles=styles,
            blend_weights=blend_weights,
            score_size=score_size,
            device="cpu",
            model_file=model_file,
        )
        scores = {name: scorer.score_file(path) for name, path in finals.items()}
    finally:
        torch.set_num_threads(threads)
    return {
        "model": model,
        "stand_in": scorer.stand_in,
        "note": STAND_IN_NOTE if scorer.stand_in else "",
        "score_size": scorer.score_size,
        "scores": scores,
    }


def _load(path: str | os.PathLike[str], longest: int) -> Tensor:
    # Read at full size, then resized as `score` resizes an output: the content scored as an
    # output is then the content target exactly.
    x = tensors.load_tensor(path)
    w, h = images.scaled_size((int(x.shape[-1]), int(x.shape[-2])), longest)
    return _resize(x, (h, w))


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, C, H, W) -> (B, C, *size), bilinear with antialiasing; unchanged when equal.

    Always contiguous NCHW: a picture read from a file is channels-last in memory, and the
    network's rounding depends on the layout (the content scored as an output must give 0).
    """
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.contiguous()


def _luminance(rgb: Tensor) -> Tensor:
    """BT.601 luma Y in [0, 1] (neural-style's YUV): (B, 1, H, W)."""
    return colour.luminance(rgb.float(), "yuv")


def _lab_stats(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (3,) and covariance (3, 3) of an image's pixels in CIELAB, float64 on the CPU."""
    mean, cov = colour.colour_stats(colour.rgb_to_lab(rgb.float()).double())
    return mean.cpu(), cov.cpu()


def _blend_stats(
    stats: Sequence[tuple[Tensor, Tensor]], weights: Sequence[float]
) -> tuple[Tensor, Tensor]:
    """The mean and covariance of the styles' pixels pooled with the blend weights (the
    moments of the mixture); one style's own when there is one."""
    if len(stats) == 1:
        return stats[0]
    pairs = list(zip(stats, weights, strict=True))
    mean = torch.stack([w * m for (m, _), w in pairs]).sum(0)
    second = torch.stack([w * (c + torch.outer(m, m)) for (m, c), w in pairs]).sum(0)
    return mean, second - torch.outer(mean, mean)


def frechet_distance(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> float:
    """Frechet distance of two Gaussians: |m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)).

    tr((C1 C2)^(1/2)) is the sum of the square roots of C1 C2's eigenvalues, which are real and
    >= 0 for covariances (C1 C2 is similar to C1^(1/2) C2 C1^(1/2)); rounding is clamped away.
    """
    m1, c1, m2, c2 = (t.double().cpu() for t in (mean1, cov1, mean2, cov2))
    cross = torch.linalg.eigvals(c1 @ c2).real.clamp_min(0).sqrt().sum()
    value = float((m1 - m2).pow(2).sum() + torch.trace(c1 + c2) - 2 * cross)
    return max(value, 0.0)


def _gaussian_window(size: int, sigma: float, like: Tensor) -> Tensor:
    """The normalised 1-D Gaussian of `size` taps, (size,)."""
    r = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """Mean structural similarity (Wang et al. 2004) of (B, C, H, W) images: (B,).

    Local means, variances and covariance under an 11-tap Gaussian window (sigma 1.5),
    population (not sample) statistics, K1 = 0.01, K2 = 0.03; the map is averaged over the
    positions where the window lies inside the image (skimage's structural_similarity with
    gaussian_weights=True, use_sample_covariance=False crops the same border).
    """
    b, c, h, w = x.shape
    g = _gaussian_window(SSIM_WINDOW, SSIM_SIGMA, x)
    # The five maps blurred in one separable, "valid" convolution: (5, B C, H - 10, W - 10).
    maps = torch.stack([x, y, x * x, y * y, x * y]).reshape(5 * b * c, 1, h, w)
    blurred = F.conv2d(F.conv2d(maps, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
    mu_x, mu_y, xx, yy, xy = blurred.reshape(5, b, c, *blurred.shape[-2:])
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(1, 2, 3))


def noise(x: Tensor) -> Tensor:
    """Mean squared difference of neighbouring pixels, (B, C, H, W) -> (B,): the mean of
    (x[i, j+1] - x[i, j])^2 over every horizontal pair and (x[i+1, j] - x[i, j])^2 over every
    vertical pair, all channels pooled."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2)  # (B, C, H, W-1)
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2)  # (B, C, H-1, W)
    total = dx.sum(dim=(1, 2, 3)) + dy.sum(dim=(1, 2, 3))
    return total / (dx[0].numel() + dy[0].numel())


def format_tsv(paths: Sequence[str | os.PathLike[str]], rows: Sequence[dict[str, float]]) -> str:
    """The `stylesweep score` table: a header (`image`, then SCORE_NAMES) and one row a file."""
    lines = ["\t".join(("image", *SCORE_NAMES))]
    for path, row in zip(paths, rows, strict=True):
        lines.append("\t".join((str(path), *(f"{row[k]:.9g}" for k in SCORE_NAMES))))
    return "\n".join(lines) + "\n"
