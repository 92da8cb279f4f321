"""The optimization: set up targets, init and optimizer, then one flat loop; no file I/O."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from . import images
from .canvas import Canvas, colour_inputs
from .errors import NumericalError, OptionError
from .lbfgs import Optimizer, make_optimizer
from .memory import MemoryPlan, ScalePlan
from .models import FeatureExtractor
from .objective import Weights, objective, style_targets
from .options import BATCH_FIELDS, Options, batch_key, ladder
from .record import (  # noqa: F401 - Row and Stop re-exported: the loop's records are its API
    Checkpoint,
    Due,
    Progress,
    Record,
    Result,
    Row,
    Scale,
    Stop,
)
from .temporal import Temporal
from .tiles import Tiling, tiled_evaluator, tiled_style_targets

log = logging.getLogger(__name__)


@dataclass
class Problem:
    """Everything the loop needs at one scale, set up once: the images and their objective.

    `evaluate()` computes the losses at `img`, fills `img.grad`, and returns the objective
    (B,) and the loss rows (B, K) on the device; `output()` is the current images as RGB in
    [0, 1] on the CPU, (B, 3, H, W). On a tiled scale (`tiles.tiled_evaluator`) the gradient
    is the tiles' blended, and the losses are the tiles' weighted by their share of the blend.
    """

    img: Tensor  # (B, C, H, W), contiguous NCHW: the network's input, or its grey (Canvas)
    evaluate: Callable[[], tuple[Tensor, Tensor]]
    output: Callable[[], Tensor]
    tiling: Tiling | None = None  # the moving tile grid of a tiled scale


def initial_image(opts: Options, content_pre: Tensor, init_pre: Tensor | None, seed: int) -> Tensor:
    """neural-style's init: randn x 0.001 in the network's input space, or the (init) image."""
    if opts.init == "image":
        return (init_pre if init_pre is not None else content_pre).clone()
    # The noise is drawn on the CPU from a private generator: the same seed gives the same
    # start on every device, and the global RNG is left alone.
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(content_pre.shape, generator=gen) * 0.001
    return noise.to(content_pre.device, content_pre.dtype)


def scale_ladder(opts: Options, shape: Sequence[int], min_side: int = 1) -> list[Scale]:
    """The coarse-to-fine ladder as Scales, for content of `shape` (.., H, W) at image_size.

    Raises OptionError when a scale's shorter side is below `min_side`, the smallest that
    reaches the network's deepest layer (registry.min_side).
    """
    h, w = int(shape[-2]), int(shape[-1])
    out: list[Scale] = []
    first = 1
    rungs = ladder(opts)
    for index, (px, n) in enumerate(rungs):
        sw, sh = (w, h) if index == len(rungs) - 1 else images.scaled_size((w, h), px)
        if min(sw, sh) < min_side:
            raise OptionError(
                f"scales: {px} px makes the content {sw}x{sh}; the model needs at least "
                f"{min_side} pixels on each side for its deepest layer"
            )
        out.append(Scale(index, (sh, sw), first, first + n - 1))
        first += n
    return out


def setup(
    settings: Sequence[Options],
    extractor: FeatureExtractor,
    convention: str,
    content: Tensor,
    styles: list[Tensor],
    *,
    init_image: Tensor | None = None,
    seed: int = 0,
    device: torch.device | None = None,
    size: tuple[int, int] | None = None,
    start: Tensor | None = None,
    temporal: Temporal | None = None,
    plan: ScalePlan | None = None,
    scale: int = 0,
) -> Problem:
    """The objective of B settings that differ only in loss weights, at one scale.

    Args:
        settings: B options with equal `batch_key`s.
        content, styles, init_image: at image_size and style_scale x image_size, as `stylize`.
        size: (H, W) of this scale; None is the content's own size. Content, styles and init
            are downsampled (antialiased) to it.
        start: (B, 3, H', W') in the network's input space to start from, resized to `size`
            (the previous scale's result); None is the run's init.
        temporal: a video frame's temporal term, as `stylize`.
        plan: this scale's memory plan; with a tile the image is evaluated in tiles (and the
            style's Grams summed over tiles with a style_tile); None or no tile: whole.
        scale: this scale's index (the tile grid's offsets are drawn per scale).
    """
    opts = settings[0]
    device = device or next(extractor.parameters()).device
    extractor.to(memory_format=torch.channels_last)
    # bf16: the network runs under autocast, targets included, so that the content loss is 0
    # at the content; Gram matrices, losses and the optimizer stay in fp32.
    autocast = functools.partial(
        torch.autocast, device.type, dtype=torch.bfloat16, enabled=opts.precision == "bf16"
    )

    # Everything at this scale's size, then as color_control has the network see it.
    size = size or (content.shape[-2], content.shape[-1])
    content = _resized(content.to(device), size)
    styles = [_resized(s.to(device), _style_size(s, size, opts.style_scale)) for s in styles]
    init_image = _resized(init_image.to(device), size) if init_image is not None else None
    seen, styles, init_image = colour_inputs(opts, content, styles, init_image)
    canvas = Canvas.of(opts, convention, content)

    # Targets, computed once without gradients (a tiled scale's content targets: per tile).
    content_pre = canvas.encode(seen)
    tiled = plan is not None and plan.tile is not None
    with torch.no_grad(), autocast():
        content_targets: dict[str, Tensor] = {}
        if not tiled:
            x = canvas.network(content_pre).contiguous(memory_format=torch.channels_last)
            feats = extractor(x)
            content_targets = {k: feats[k].detach().float() for k in opts.content_layers}
            del feats, x
        grams = _style_targets(opts, extractor, styles, convention, plan)
    init_pre = canvas.encode(init_image) if init_image is not None else None
    if temporal is not None:
        # The warped previous frame (Ruder et al. 2016), seen as an init image is.
        warped = colour_inputs(opts, content, [], _resized(temporal.target.to(device), size))[2]
        assert warped is not None
        mask = _resized(temporal.mask.to(device), size)
        temporal = temporal.replace(target=canvas.network(canvas.encode(warped)), mask=mask)

    # The optimized images stay contiguous NCHW (the optimizers work on flat views). Every
    # member of a batch starts from the same image, as separate runs would.
    b = len(settings)
    if start is None:
        first = initial_image(opts, content_pre, init_pre, seed).expand(b, -1, -1, -1)
    else:
        first = F.interpolate(start.to(device), size=size, mode="bilinear", align_corners=False)
    img = first.contiguous().requires_grad_(True)  # (B, C, H, W): C = 1 under luminance
    weights = Weights.of(settings, device)

    def evaluate() -> tuple[Tensor, Tensor]:
        if img.grad is not None:
            img.grad.zero_()
        x = canvas.network(img)  # (B, 3, H, W); img itself unless luminance
        with autocast():
            feats = extractor(x.contiguous(memory_format=torch.channels_last))
        return objective(opts, feats, content_targets, grams, x, weights, temporal)

    def output() -> Tensor:
        return canvas.rgb(img.detach()).cpu()

    if plan is None or plan.tile is None:
        return Problem(img=img, evaluate=evaluate, output=output)
    tiling = Tiling(size, plan.tile, plan.overlap, seed, scale)
    tiled_evaluate = tiled_evaluator(opts, extractor, canvas, autocast, content_pre, grams, img,
                                     weights, tiling, temporal)  # fmt: skip
    return Problem(img=img, evaluate=tiled_evaluate, output=output, tiling=tiling)


def _style_targets(
    opts: Options,
    extractor: FeatureExtractor,
    styles: list[Tensor],
    convention: str,
    plan: ScalePlan | None,
) -> dict[str, Tensor]:
    # The blended Gram targets: each style passed whole, or summed over tiles when the plan
    # says it would not fit at once.
    styles = [s.contiguous(memory_format=torch.channels_last) for s in styles]
    weights, layers = opts.blend_weights(), opts.style_layers
    if plan is None or plan.style_tile is None:
        return style_targets(extractor, styles, weights, layers, convention)
    return tiled_style_targets(extractor, styles, weights, layers, convention, plan.style_tile)


def _resized(x: Tensor, size: tuple[int, int]) -> Tensor:
    # Departure: neural-style has one scale. Smaller scales take the image_size tensors
    # downsampled with antialiasing (bilinear, as images.resize_longest).
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def _style_size(style: Tensor, size: tuple[int, int], style_scale: float) -> tuple[int, int]:
    # The style image's longest side is style_scale x this scale's longest side (never larger
    # than the tensor the runner gave, made at style_scale x image_size).
    h, w = style.shape[-2:]
    longest = min(images.style_size(max(size), style_scale), max(h, w))
    sw, sh = images.scaled_size((w, h), longest)
    return sh, sw


@contextlib.contextmanager
def backend_flags(opts: Options, device: torch.device) -> Iterator[None]:
    """The precision and cuDNN switches for one run, put back afterwards.

    On a CUDA device, fp32 means IEEE fp32 in convolutions and matmuls (PyTorch's own default
    lets cuDNN use TF32), tf32 allows TF32 in both. Elsewhere only bf16 has an effect.
    """
    if device.type != "cuda":
        if opts.precision == "tf32" or opts.cudnn_benchmark:
            log.info(
                "precision tf32 and cudnn_benchmark have no effect on %s; running fp32",
                device.type,
            )
        yield
        return
    mode = "tf32" if opts.precision == "tf32" else "ieee"
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv  # type: ignore[attr-defined]
    saved = (matmul.fp32_precision, conv.fp32_precision, torch.backends.cudnn.benchmark)
    matmul.fp32_precision, conv.fp32_precision = mode, mode
    torch.backends.cudnn.benchmark = saved[2] or opts.cudnn_benchmark
    try:
        yield
    finally:
        matmul.fp32_precision, conv.fp32_precision, torch.backends.cudnn.benchmark = saved


def stylize(
    settings: Sequence[Options],
    extractor: FeatureExtractor,
    convention: str,
    content: Tensor,
    styles: list[Tensor],
    *,
    init_image: Tensor | None = None,
    seed: int = 0,
    device: torch.device | None = None,
    callbacks: Sequence[Callable[[Progress], None] | None] | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    resume: Checkpoint | None = None,
    temporal: Temporal | None = None,
    plan: MemoryPlan | None = None,
) -> list[Result]:
    """Run neural-style's optimization for one or more settings (coarse to fine when
    `scales` is set); settings that differ only in loss weights share one forward pass.

    Each setting keeps its own optimizer state (L-BFGS's per-image history, or Adam's
    per-element state), so each result equals its separate run up to float rounding
    (batched convolutions; tests/test_batch.py states the tolerance).

    Args:
        settings: B options with equal `options.batch_key` (only content_weight,
            style_weight, tv_weight and output_image may differ).
        extractor: the frozen feature network, on `device`.
        convention: the model's input convention (`caffe` or `torchvision`).
        content: (1, 3, H, W) RGB in [0, 1] at image_size.
        styles: one (1, 3, h, w) RGB tensor per style image, at style_scale x image_size.
        init_image: (1, 3, H, W) RGB in [0, 1] for init `image`; None means the content.
        seed: the resolved seed (>= 0).
        device: where to compute; the extractor's device by default.
        callbacks: one per setting (or None), called at every print or save iteration and at
            its last one (`Progress.is_last`) with that setting's own losses and image.
        on_checkpoint: called after the step of every save iteration with the full state.
        resume: a state from on_checkpoint to continue from; the continued run's images and
            losses equal an uninterrupted run's.
        temporal: a video frame's temporal loss (Ruder et al. 2016): its target, the previous
            stylized frame warped to this one, RGB (1, 3, H, W) at the content's size.
        plan: the memory plan (memory.plan_memory), one ScalePlan per scale: which run in
            tiles, and with what optimizer state; None runs every scale whole, as the options say.
    Returns:
        One Result per setting, in order: the final image (the one evaluated at the last
        iteration) and the losses of every iteration, numbered continuously across scales.

    With tol_loss_relative each setting may stop early on its own (`record.Record.settled`); a batch
    goes on while any member runs, the stopped ones' results kept as they were at their stop
    (their images are still stepped, unreported: the optimizers step every image together).
    """
    opts = _shared_options(settings)
    device = device or next(extractor.parameters()).device
    scales = scale_ladder(opts, content.shape, extractor.min_side)
    record = Record(settings, scales, callbacks, resume, device, temporal is not None)
    problem: Problem | None = None
    start: Tensor | None = None
    with backend_flags(opts, device):
        for scale in scales[record.scale :]:
            # Set up this scale: targets at its size, the previous scale's result upsampled,
            # a fresh optimizer (curvature pairs of another size do not carry over).
            planned = plan.scales[scale.index] if plan is not None else None
            problem = setup(settings, extractor, convention, content, styles, init_image=init_image,
                            seed=seed, device=device, size=scale.size, start=start,
                            temporal=temporal, plan=planned, scale=scale.index)  # fmt: skip
            optimizer = make_optimizer(_planned_options(opts, planned), problem.img)
            if resume is not None and resume.scale == scale.index:
                _restore(resume, problem, optimizer, scale)
            for i in range(max(scale.first, record.done + 1), scale.last + 1):
                due = Due.at(opts, i, record.num_iterations)
                # Evaluate the images of iteration i: losses and gradients.
                objective = record.add(i, *problem.evaluate())
                # Stop at once on NaN/inf; on a GPU only where we sync anyway.
                if device.type == "cpu" or due.report:
                    _check_finite(record.running(objective), i)
                # Which settings' losses have settled (tol_loss_relative): they end here.
                ending = record.settled(opts, i, scale)
                # Report the losses since the last report, and the images if a save is due.
                if due.report or ending:
                    image = problem.output() if due.image or ending else None
                    record.report(i, scale, image, due, ending)
                if record.finished:
                    break
                # Step, except after a scale's last evaluation: as in neural-style, a scale's
                # result is the image whose losses were reported last.
                if i < scale.last:
                    optimizer.step()
                if i < scale.last and due.save and on_checkpoint is not None:
                    on_checkpoint(record.snapshot(i, problem.img, optimizer, seed, scale))
            start = problem.img.detach()
    assert problem is not None
    return record.results(problem.output())


def _shared_options(settings: Sequence[Options]) -> Options:
    """The options every setting shares (all but the loss weights); refuses a mixed batch."""
    opts = settings[0]
    for other in settings[1:]:
        if batch_key(other) != batch_key(opts):
            raise OptionError(
                f"a batch may differ only in {', '.join(BATCH_FIELDS)}; "
                f"{other.output_image} differs from {opts.output_image} in more"
            )
    return opts


def _planned_options(opts: Options, plan: ScalePlan | None) -> Options:
    # The optimizer the memory plan leaves room for at this scale (said in the log).
    if plan is None or not plan.change:
        return opts
    log.info("%s", plan.change)
    if plan.optimizer == "adam":
        return opts.replace(optimizer="adam")
    return opts.replace(lbfgs_num_correction=plan.history)


def _restore(resume: Checkpoint, problem: Problem, optimizer: Optimizer, scale: Scale) -> None:
    # Put back exactly the state after iteration `resume.iteration`'s step; a tiled scale's
    # grid goes on from the evaluations already made at this scale.
    if problem.tiling is not None:
        problem.tiling.calls = resume.iteration - scale.first + 1
    with torch.no_grad():
        problem.img.copy_(resume.image.to(problem.img.device))
    optimizer.load_state_dict(resume.optimizer_state)
    torch.set_rng_state(resume.rng_state)


def _check_finite(objective: Tensor, iteration: int) -> None:
    # objective: (B,); the sum of non-negative losses is finite exactly when each one is.
    value = float(objective.sum())
    if not math.isfinite(value):
        raise NumericalError(
            f"the loss became {value} at iteration {iteration}; likely causes: content, style "
            "or tv weights or learning_rate too large, or a broken weight file"
        )
