"""The optimization: set up targets, init and optimizer, then one flat loop; no file I/O."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from . import colour, images
from .errors import NumericalError, OptionError
from .lbfgs import Optimizer, make_optimizer
from .models import FeatureExtractor, deprocess, preprocess
from .objective import Weights, loss_names, objective, style_targets
from .options import BATCH_FIELDS, Options, batch_key, ladder

log = logging.getLogger(__name__)

# (iteration, loss values in the order of `names`, elapsed seconds)
Row = tuple[int, tuple[float, ...], float]


@dataclass(frozen=True)
class Scale:
    """One rung of the coarse-to-fine ladder: iterations `first`..`last` at `size`."""

    index: int
    size: tuple[int, int]  # (H, W)
    first: int  # 1-based, numbered continuously across scales
    last: int


@dataclass(frozen=True, kw_only=True)
class Progress:
    """What the loop reports to one setting at a print, save or final iteration.

    Attributes:
        iteration: 1-based, continuous across scales; the losses and image are those evaluated
            at this iteration.
        num_iterations: the run's total over every scale.
        names: the loss names, in the order of each row's values.
        rows: every iteration's row since the last report.
        elapsed: seconds since the loop started.
        image: the current image, RGB in [0, 1], (1, 3, H, W) at the final size on the CPU,
            when a save is due.
        is_print: whether print_iter (or the last iteration) asks for a progress line.
        scale: the index of this iteration's scale (0 for a single-scale run).
        num_scales: how many scales the run has (1 for a single-scale run).
    """

    iteration: int
    num_iterations: int
    names: tuple[str, ...]
    rows: tuple[Row, ...]
    elapsed: float
    image: Tensor | None
    is_print: bool
    scale: int = 0
    num_scales: int = 1

    @property
    def losses(self) -> dict[str, float]:
        """This iteration's losses by name."""
        return dict(zip(self.names, self.rows[-1][1], strict=True))


@dataclass(frozen=True)
class Result:
    """The outcome of one setting: the final image and every iteration's losses."""

    image: Tensor  # (1, 3, H, W) RGB in [0, 1], on the CPU
    names: tuple[str, ...]
    rows: tuple[Row, ...]
    elapsed: float
    scales: tuple[Scale, ...] = ()

    @property
    def final_losses(self) -> dict[str, float]:
        return dict(zip(self.names, self.rows[-1][1], strict=True))

    def scale_of(self, iteration: int) -> Scale | None:
        """The scale an iteration ran at (None when the run recorded none)."""
        return next((s for s in self.scales if s.first <= iteration <= s.last), None)


@dataclass(frozen=True)
class Checkpoint:
    """The loop's whole state after iteration `iteration`'s step: enough to resume exactly."""

    iteration: int
    image: Tensor  # (B, 3, h, w) in the network's input space at scale `scale`, on the CPU
    optimizer_state: dict[str, Any]
    rng_state: Tensor
    rows: tuple[tuple[Row, ...], ...]  # each setting's rows so far
    elapsed: float
    seed: int
    scale: int = 0


@dataclass
class Problem:
    """Everything the loop needs at one scale, set up once: the images and their objective.

    `evaluate()` computes the losses at `img`, fills `img.grad`, and returns the objective
    (B,) and the loss rows (B, K) on the device; `output()` is the current images as RGB in
    [0, 1] on the CPU, (B, 3, H, W).
    """

    img: Tensor  # (B, 3, H, W) in the network's input space, contiguous NCHW
    evaluate: Callable[[], tuple[Tensor, Tensor]]
    output: Callable[[], Tensor]


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
) -> Problem:
    """The objective of B settings that differ only in loss weights, at one scale.

    Args:
        settings: B options with equal `batch_key`s.
        content, styles, init_image: at image_size and style_scale x image_size, as `stylize`.
        size: (H, W) of this scale; None is the content's own size. Content, styles and init
            are downsampled (antialiased) to it.
        start: (B, 3, H', W') in the network's input space to start from, resized to `size`
            (the previous scale's result); None is the run's init.
    """
    opts = settings[0]
    device = device or next(extractor.parameters()).device
    extractor.to(memory_format=torch.channels_last)
    # bf16: the network runs under autocast, targets included, so that the content loss is 0
    # at the content; Gram matrices, losses and the optimizer stay in fp32.
    autocast = functools.partial(
        torch.autocast, device.type, dtype=torch.bfloat16, enabled=opts.precision == "bf16"
    )

    # Everything at this scale's size.
    size = size or (content.shape[-2], content.shape[-1])
    content = _resized(content.to(device), size)
    styles = [_resized(s.to(device), _style_size(s, size, opts.style_scale)) for s in styles]
    init_image = _resized(init_image.to(device), size) if init_image is not None else None

    # Targets, computed once without gradients.
    content_pre = preprocess(content, convention)
    with torch.no_grad(), autocast():
        feats = extractor(content_pre.contiguous(memory_format=torch.channels_last))
        content_targets = {k: feats[k].detach().float() for k in opts.content_layers}
        del feats
        grams = style_targets(
            extractor,
            [s.contiguous(memory_format=torch.channels_last) for s in styles],
            opts.blend_weights(),
            opts.style_layers,
            convention,
        )
    init_pre = preprocess(init_image, convention) if init_image is not None else None

    # The optimized images stay contiguous NCHW (the optimizers work on flat views). Every
    # member of a batch starts from the same image, as separate runs would.
    b = len(settings)
    if start is None:
        first = initial_image(opts, content_pre, init_pre, seed).expand(b, -1, -1, -1)
    else:
        first = F.interpolate(start.to(device), size=size, mode="bilinear", align_corners=False)
    img = first.contiguous().requires_grad_(True)  # (B, 3, H, W)
    weights = Weights.of(settings, device)

    def evaluate() -> tuple[Tensor, Tensor]:
        if img.grad is not None:
            img.grad.zero_()
        with autocast():
            feats = extractor(img.contiguous(memory_format=torch.channels_last))
        return objective(opts, feats, content_targets, grams, img, weights)

    def output() -> Tensor:
        rgb = deprocess(img.detach(), convention).clamp(0, 1)
        if opts.original_colors:
            rgb = colour.original_colors(content, rgb).clamp(0, 1)
        return rgb.cpu()

    return Problem(img=img, evaluate=evaluate, output=output)


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
            the last one with that setting's own losses and image.
        on_checkpoint: called after the step of every save iteration with the full state.
        resume: a state from on_checkpoint to continue from; the continued run's images and
            losses equal an uninterrupted run's.
    Returns:
        One Result per setting, in order: the final image (the one evaluated at the last
        iteration) and the losses of every iteration, numbered continuously across scales.
    """
    opts = _shared_options(settings)
    device = device or next(extractor.parameters()).device
    scales = scale_ladder(opts, content.shape, extractor.min_side)
    record = _Record(settings, scales, callbacks, resume, device)
    problem: Problem | None = None
    start: Tensor | None = None
    with backend_flags(opts, device):
        for scale in scales[record.scale :]:
            # Set up this scale: targets at its size, the previous scale's result upsampled,
            # a fresh optimizer (curvature pairs of another size do not carry over).
            problem = setup(settings, extractor, convention, content, styles, init_image=init_image,
                            seed=seed, device=device, size=scale.size, start=start)  # fmt: skip
            optimizer = make_optimizer(opts, problem.img)
            if resume is not None and resume.scale == scale.index:
                _restore(resume, problem, optimizer)
            for i in range(max(scale.first, record.done + 1), scale.last + 1):
                due = _Due.at(opts, i, record.num_iterations)
                # Evaluate the images of iteration i: losses and gradients.
                objective = record.add(i, *problem.evaluate())
                # Stop at once on NaN/inf; on a GPU only where we sync anyway.
                if device.type == "cpu" or due.report:
                    _check_finite(objective, i)
                # Report the losses since the last report, and the images if a save is due.
                if due.report:
                    record.report(i, scale, problem.output() if due.image else None, due.print)
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


@dataclass(frozen=True)
class _Due:
    """What iteration i owes: a progress line, a saved image, a checkpoint."""

    print: bool  # a progress line: print_iter, or the last iteration
    save: bool  # save_iter: a frame, and a checkpoint after the step
    image: bool  # an image for the callbacks: a save, or the last iteration
    report: bool  # anything for the callbacks at all

    @classmethod
    def at(cls, opts: Options, i: int, n: int) -> _Due:
        is_print = opts.print_iter > 0 and i % opts.print_iter == 0
        is_save = opts.save_iter > 0 and i % opts.save_iter == 0
        last = i == n
        return cls(is_print or last, is_save, is_save or last, is_print or is_save or last)


class _Record:
    """Every setting's loss rows: kept on the device as they come, synced at a report, split
    per setting and handed to each setting's callback."""

    def __init__(
        self,
        settings: Sequence[Options],
        scales: list[Scale],
        callbacks: Sequence[Callable[[Progress], None] | None] | None,
        resume: Checkpoint | None,
        device: torch.device,
    ):
        b = len(settings)
        self.names = loss_names(settings[0])
        self.scales = scales
        self.num_iterations = n = scales[-1].last
        self.callbacks = list(callbacks) if callbacks is not None else [None] * b
        self.rows: list[list[Row]] = [[] for _ in range(b)]
        self.done, self.scale, offset = 0, 0, 0.0
        if resume is not None:
            if len(resume.rows) != b or resume.iteration >= n:
                raise OptionError(
                    f"resume: a checkpoint of another run (iteration {resume.iteration})"
                )
            self.rows = [list(r) for r in resume.rows]
            self.done, self.scale, offset = resume.iteration, resume.scale, resume.elapsed
        self.history = torch.zeros(n, b, len(self.names), device=device)  # no host sync
        self.times = [0.0] * n
        self.reported = self.done
        self.start = time.perf_counter() - offset

    def add(self, i: int, objective: Tensor, rows: Tensor) -> Tensor:
        """Keep iteration i's rows (B, K) and time; returns the objective (B,)."""
        self.history[i - 1] = rows
        self.times[i - 1] = time.perf_counter() - self.start
        return objective

    def report(self, i: int, scale: Scale, image: Tensor | None, is_print: bool) -> None:
        """Sync the rows since the last report; call each setting's callback with its own."""
        values = self.history[self.reported : i].tolist()  # (iterations, B, K)
        if image is not None and scale.size != self.scales[-1].size:
            # Every scale's frames at the final size, so that they make one animation.
            image = F.interpolate(
                image, size=self.scales[-1].size, mode="bilinear", align_corners=False
            )
        for j, callback in enumerate(self.callbacks):
            new = tuple(
                (k + 1, tuple(values[k - self.reported][j]), self.times[k])
                for k in range(self.reported, i)
            )
            self.rows[j].extend(new)
            if callback is not None:
                callback(
                    Progress(
                        iteration=i,
                        num_iterations=self.num_iterations,
                        names=self.names,
                        rows=new,
                        elapsed=self.times[i - 1],
                        image=image[j : j + 1] if image is not None else None,
                        is_print=is_print,
                        scale=scale.index,
                        num_scales=len(self.scales),
                    )
                )
        self.reported = i

    def snapshot(
        self, i: int, img: Tensor, optimizer: Optimizer, seed: int, scale: Scale
    ) -> Checkpoint:
        """The state after iteration i's step, copied to the CPU."""
        return Checkpoint(
            iteration=i,
            image=img.detach().cpu().clone(),
            optimizer_state=_to_cpu(optimizer.state_dict()),
            rng_state=torch.get_rng_state(),
            rows=tuple(tuple(r) for r in self.rows),
            elapsed=self.times[i - 1],
            seed=seed,
            scale=scale.index,
        )

    def results(self, final: Tensor) -> list[Result]:
        """One Result per setting from the final images (B, 3, H, W)."""
        elapsed = self.times[self.num_iterations - 1]
        return [
            Result(final[j : j + 1], self.names, tuple(rows), elapsed, tuple(self.scales))
            for j, rows in enumerate(self.rows)
        ]


def _restore(resume: Checkpoint, problem: Problem, optimizer: Optimizer) -> None:
    # Put back exactly the state after iteration `resume.iteration`'s step.
    with torch.no_grad():
        problem.img.copy_(resume.image.to(problem.img.device))
    optimizer.load_state_dict(resume.optimizer_state)
    torch.set_rng_state(resume.rng_state)


def _to_cpu(value: Any) -> Any:
    # A deep copy on the CPU: the optimizer keeps changing its own tensors in place.
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _check_finite(objective: Tensor, iteration: int) -> None:
    # objective: (B,); the sum of non-negative losses is finite exactly when each one is.
    value = float(objective.sum())
    if not math.isfinite(value):
        raise NumericalError(
            f"the loss became {value} at iteration {iteration}; likely causes: content, style "
            "or tv weights or learning_rate too large, or a broken weight file"
        )
