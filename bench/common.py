"""Shared pieces of the benchmarks: inputs, the model, a plain eager loop, timing."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from stylesweep import images, tensors
from stylesweep.losses import content_loss, gram, style_loss, tv_loss
from stylesweep.models import FeatureExtractor, build_extractor, get_spec, preprocess
from stylesweep.options import Options

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "inputs/content/chelsea.png"
STYLE = ROOT / "inputs/styles/vangogh_cafe_terrace_at_night.png"
LAYERS = ("relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def model(weights: str | None, device: torch.device) -> tuple[FeatureExtractor, str, str]:
    """(extractor, convention, name): the random stand-in unless a vgg19 weight file is given."""
    spec = get_spec("vgg19" if weights else "random")
    return build_extractor(spec, LAYERS, weights=weights).to(device), spec.convention, spec.name


def inputs(size: int, style_scale: float = 1.0) -> tuple[Tensor, list[Tensor]]:
    """The bundled content and style at `size` (longest side), as the runner would load them."""
    content = tensors.load_tensor(CONTENT, size)
    return content, [tensors.load_tensor(STYLE, images.style_size(size, style_scale))]


def options(size: int, **kw) -> Options:
    base = dict(
        content_image=str(CONTENT),
        style_image=(str(STYLE),),
        image_size=size,
        print_iter=0,
        save_iter=0,
        model="random",
    )
    return Options(**{**base, **kw})


def plain_loop(
    opts: Options,
    extractor: FeatureExtractor,
    convention: str,
    content: Tensor,
    styles: list[Tensor],
    device: torch.device,
) -> Callable[[int], float]:
    """The same computation written plainly: NCHW network, same losses, torch's L-BFGS.

    Returns run(n) -> seconds for n iterations (synchronised on a GPU).
    """
    extractor = extractor.to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        c_feats = extractor(preprocess(content.to(device), convention))
        s_feats = extractor(preprocess(styles[0].to(device), convention))
    c_target = {n: c_feats[n] for n in opts.content_layers}
    s_target = {n: gram(s_feats[n]) for n in opts.style_layers}
    gen = torch.Generator().manual_seed(0)
    img = (torch.randn(content.shape, generator=gen) * 0.001).to(device).requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [img], lr=1, max_iter=1, history_size=100, tolerance_grad=-1, tolerance_change=-1
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        feats = extractor(img)
        loss = sum(
            opts.content_weight * content_loss(feats[n], c_target[n]).sum() for n in c_target
        )
        loss = loss + sum(
            opts.style_weight * style_loss(feats[n], s_target[n]).sum() for n in s_target
        )
        loss = loss + opts.tv_weight * tv_loss(img).sum()
        loss.backward()
        return loss

    def run(n: int) -> float:
        sync(device)
        start = time.perf_counter()
        for _ in range(n):
            optimizer.step(closure)
        sync(device)
        return time.perf_counter() - start

    return run


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_s_per_iteration(run: Callable[[int], float], n: int, repeats: int) -> float:
    """Median over `repeats` of run(n) / n, after one warm-up run of 2 iterations."""
    run(2)
    return statistics.median(run(n) / n for _ in range(repeats))
