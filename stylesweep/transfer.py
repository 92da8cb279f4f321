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
from torch import Tensor, nn

from . import colour, images
from .errors import NumericalError, OptionError
from .losses import content_loss, gram, style_loss, tv_loss
from .models import FeatureExtractor, deprocess, preprocess
from .options import BATCH_FIELDS, Options, batch_key, ladder

log = logging.getLogger(__name__)

Rows = tuple[tuple[int, tuple[float, ...], float], ...]


@dataclass(frozen=True)
class Scale:
    """One rung of the coarse-to-fine ladder: iterations `first`..`last` at `size`."""

    index: int
    size: tuple[int, int]  # (H, W)
    first: int  # 1-based, numbered continuously across scales
    last: int


@dataclass(frozen=True)
class Progress:
    """What the loop reports at a print, save or final iteration.

    Attributes:
        iteration: 1-based, continuous across scales; the losses and image are those evaluated
            at this iteration.
        num_iterations: the run's total over every scale.
        names: the loss names, in the order of each row's values.
        rows: (iteration, values, elapsed seconds) for every iteration since the last report.
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
    rows: Rows
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
    """The outcome of a run: the final image and every iteration's losses."""

    image: Tensor  # (1, 3, H, W) RGB in [0, 1], on the CPU
    names: tuple[str, ...]
    rows: Rows
    elapsed: float
    scales: tuple[Scale, ...] = ()

    @property
    def final_losses(self) -> dict[str, float]:
        return dict(zip(self.names, self.rows[-1][1], strict=True))

    def scale_of(self, iteration: int) -> Scale | None:
        """The scale an iteration ran at (None when the run recorded none)."""
        return next((s for s in self.scales if s.first <= iteration <= s.last), None)


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


def loss_names(opts: Options) -> tuple[str, ...]:
    """Column names of the loss rows: total, content, style, style_<layer>..., tv."""
    return ("total", "content", "style", *(f"style_{n}" for n in opts.style_layers), "tv")


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


def initial_image(opts: Options, content_pre: Tensor, init_pre: Tensor | None, seed: int) -> Tensor:
    """neural-style's init: randn x 0.001 in the network's input space, or the (init) image."""
    if opts.init == "image":
        return (init_pre if init_pre is not None else content_pre).clone()
    # The noise is drawn on the CPU from a private generator: the same seed gives the same
    # start on every device, and the global RNG is left alone.
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(content_pre.shape, generator=gen) * 0.001
    return noise.to(content_pre.device, content_pre.dtype)


@dataclass(frozen=True)
class Checkpoint:
    """The loop's whole state after iteration `iteration`'s step: enough to resume exactly.

    For a batch of B settings (`batch` > 1) `image` holds all B images, `rows` is a tuple of
    each member's rows, and `optimizer_state` that of the one batched optimizer.
    """

    iteration: int
    image: Tensor  # (B, 3, h, w) in the network's input space at scale `scale`, on the CPU
    optimizer_state: dict[str, Any]
    rng_state: Tensor
    rows: Any
    elapsed: float
    seed: int
    scale: int = 0
    batch: int = 1


@dataclass
class Problem:
    """Everything the loop needs, set up once: the image being optimized and its objective.

    `closure()` evaluates the losses at `img`, fills `img.grad`, and returns
    (objective, loss row); `output()` is the current image as RGB in [0, 1] on the CPU. For a
    batch (see `setup_batch`) the objective is (B,) and the rows (B, K).
    """

    img: Tensor  # (B, 3, H, W) in the network's input space, contiguous NCHW
    names: tuple[str, ...]
    closure: Callable[[], tuple[Tensor, Tensor]]
    output: Callable[[], Tensor]


def setup(
    opts: Options,
    extractor: FeatureExtractor,
    convention: str,
    content: Tensor,
    styles: list[Tensor],
    *,
    init_image: Tensor | None = None,
    seed: int = 0,
    device: torch.device | None = None,
) -> Problem:
    """Targets, initial image and objective for `opts` at image_size (see `stylize`)."""
    problem = setup_batch(
        [opts],
        extractor,
        convention,
        content,
        styles,
        init_image=init_image,
        seed=seed,
        device=device,
    )
    batched = problem.closure

    def closure() -> tuple[Tensor, Tensor]:
        objective, rows = batched()
        return objective[0], rows[0]

    return Problem(img=problem.img, names=problem.names, closure=closure, output=problem.output)


def setup_batch(
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
    """The objective of B settings that differ only in loss weights, as one batch.

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
    channels_last = torch.channels_last
    extractor.to(memory_format=channels_last)
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
        content_feats = extractor(content_pre.contiguous(memory_format=channels_last))
        content_targets = {k: content_feats[k].detach().float() for k in opts.content_layers}
        del content_feats
        grams = style_targets(
            extractor,
            [s.contiguous(memory_format=channels_last) for s in styles],
            opts.blend_weights(),
            opts.style_layers,
            convention,
        )
    init_pre = preprocess(init_image, convention) if init_image is not None else None

    # The optimized images stay contiguous NCHW: torch's L-BFGS refuses a channels_last
    # parameter. Every member of a batch starts from the same image, as separate runs would.
    b = len(settings)
    if start is None:
        first = initial_image(opts, content_pre, init_pre, seed).expand(b, -1, -1, -1)
    else:
        first = F.interpolate(start.to(device), size=size, mode="bilinear", align_corners=False)
    img = first.contiguous().requires_grad_(True)  # (B, 3, H, W)
    # A weight shared by the whole batch stays a number; one that differs is (B,).
    weights = {k: _weight(settings, f"{k}_weight", device) for k in ("content", "style", "tv")}
    tap = _NormalizeGrad.apply if opts.normalize_gradients else None

    def closure() -> tuple[Tensor, Tensor]:
        if img.grad is not None:
            img.grad.zero_()
        with autocast():
            feats = extractor(img.contiguous(memory_format=channels_last))
        terms: dict[str, list[Tensor]] = {"content": [], "style": []}
        objective = img.new_zeros(b)
        for kind, layers in (("content", opts.content_layers), ("style", opts.style_layers)):
            w = weights[kind]
            for name in layers:
                f = feats[name].float()
                f = tap(f, w) if tap else f
                raw = (
                    content_loss(f, content_targets[name])
                    if kind == "content"
                    else style_loss(f, grams[name])
                )  # (B,)
                terms[kind].append(raw * w)
                # With normalize_gradients the weight is applied inside the gradient tap.
                objective = objective + (raw if tap else raw * w)
        tv = tv_loss(img) * weights["tv"]
        objective = objective + tv
        # The images are independent, so the gradient of the sum is each image's own.
        objective.sum().backward()
        zero = img.new_zeros(b)
        c = torch.stack(terms["content"]).sum(0) if terms["content"] else zero
        s = torch.stack(terms["style"]).sum(0) if terms["style"] else zero
        rows = torch.stack([c + s + tv, c, s, *terms["style"], tv], dim=1).detach()  # (B, K)
        return objective.detach(), rows

    def output() -> Tensor:
        rgb = deprocess(img.detach(), convention).clamp(0, 1)
        if opts.original_colors:
            rgb = colour.original_colors(content, rgb).clamp(0, 1)
        return rgb.cpu()

    return Problem(img=img, names=loss_names(opts), closure=closure, output=output)


def _weight(settings: Sequence[Options], name: str, device: torch.device) -> float | Tensor:
    values = [float(getattr(o, name)) for o in settings]
    if all(v == values[0] for v in values):
        return values[0]
    return torch.tensor(values, device=device)


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


def plan(opts: Options, shape: Sequence[int], extractor: nn.Module | None = None) -> list[Scale]:
    """The ladder as Scales for content of `shape` (.., H, W) at image_size.

    Raises OptionError when a scale is too small for the network's deepest layer.
    """
    h, w = int(shape[-2]), int(shape[-1])
    need = 1
    if extractor is not None:
        pools = sum(isinstance(m, nn.MaxPool2d | nn.AvgPool2d) for m in extractor.modules())
        need = 2**pools
    out: list[Scale] = []
    first = 1
    rungs = ladder(opts)
    for index, (px, n) in enumerate(rungs):
        sw, sh = (w, h) if index == len(rungs) - 1 else images.scaled_size((w, h), px)
        if min(sw, sh) < need:
            raise OptionError(
                f"scales: {px} px makes the content {sw}x{sh}; the model needs at least "
                f"{need} pixels on each side for its deepest layer"
            )
        out.append(Scale(index, (sh, sw), first, first + n - 1))
        first += n
    return out


class BatchLBFGS:
    """neural-style's L-BFGS (no line search, step 1, tolerances off) with no host sync.

    One history per image of a (B, ...) batch, updated together: the same arithmetic as
    torch.optim.LBFGS with max_iter=1, but every data-dependent branch (a pair skipped when
    y.s <= 1e-10, the ring of the last `history_size` pairs) is a mask or an index kept on the
    device, so the loop never waits for it (torch reads each two-loop coefficient back to the
    host: about 2 x history syncs per step).
    """

    def __init__(self, img: Tensor, history_size: int = 100, lr: float = 1.0):
        self.img = img
        self.m = history_size
        self.lr = lr
        self.state: dict[str, Any] = {"n_iter": 0}

    def step(self, closure: Callable[[], Any] | None = None) -> None:
        """One iteration from the gradient already in `img.grad`; `closure` is not called."""
        st, m, lr = self.state, self.m, self.lr
        assert self.img.grad is not None
        b = self.img.shape[0]
        g = self.img.grad.reshape(b, -1)  # (B, N)
        rows = torch.arange(b, device=g.device)
        st["n_iter"] += 1
        k = st["n_iter"]
        if k == 1:
            d = g.neg()
            st["dirs"] = g.new_zeros(m, *g.shape)  # y pairs, (m, B, N): one ring per image
            st["stps"] = g.new_zeros(m, *g.shape)  # s pairs
            st["ro"] = g.new_zeros(m, b)
            st["head"] = torch.zeros(b, dtype=torch.long, device=g.device)  # next slot
            st["count"] = torch.zeros(b, dtype=torch.long, device=g.device)  # pairs held
            st["H_diag"] = g.new_ones(b)
            t = (1.0 / g.abs().sum(1)).clamp(max=1.0) * lr  # (B,)
        else:
            dirs, stps, ro, head, count = (st[n] for n in ("dirs", "stps", "ro", "head", "count"))
            # Update the memory with the last step's pair, where y.s > 1e-10 (as torch).
            y = g - st["prev_flat_grad"]
            s = st["d"] * st["t"][:, None]
            ys = _dot(y, s)
            keep = ys > 1e-10
            dirs[head, rows] = torch.where(keep[:, None], y, dirs[head, rows])
            stps[head, rows] = torch.where(keep[:, None], s, stps[head, rows])
            ro[head, rows] = torch.where(keep, 1.0 / ys, ro[head, rows])
            st["head"] = head = torch.where(keep, (head + 1) % m, head)
            st["count"] = count = torch.where(keep, (count + 1).clamp(max=m), count)
            st["H_diag"] = torch.where(keep, ys / _dot(y, y), st["H_diag"])
            # Two-loop recursion, newest pair first; pairs an image does not hold weigh 0.
            slots = [((head - 1 - j) % m, j < count) for j in range(min(k - 1, m))]
            q = g.neg()
            al = []
            for slot, held in slots:
                a = torch.where(held, _dot(stps[slot, rows], q) * ro[slot, rows], 0.0)
                q.sub_(a[:, None] * dirs[slot, rows])
                al.append(a)
            d = q * st["H_diag"][:, None]
            for (slot, held), a in zip(reversed(slots), reversed(al), strict=True):
                be = torch.where(held, _dot(dirs[slot, rows], d) * ro[slot, rows], 0.0)
                d.add_((a - be)[:, None] * stps[slot, rows])
            t = g.new_full((b,), lr)
        st["prev_flat_grad"] = g.clone()
        st["d"], st["t"] = d, t
        # torch stops without a step when g.d > -tolerance_change (here 1): never for a descent
        # direction, kept for parity.
        move = torch.where(_dot(g, d) > 1.0, 0.0, t)
        with torch.no_grad():
            self.img.add_((d * move[:, None]).view_as(self.img))

    def state_dict(self) -> dict[str, Any]:
        """The state; only the part of the history written so far (a checkpoint stays small)."""
        st = dict(self.state)
        filled = min(max(st["n_iter"] - 1, 0), self.m)
        for key in ("dirs", "stps", "ro"):
            if key in st:
                st[key] = st[key][:filled]
        return st

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.img.device
        st = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in state.items()}
        for key in ("dirs", "stps", "ro"):
            if key in st and st[key].shape[0] < self.m:
                pad = st[key].new_zeros(self.m - st[key].shape[0], *st[key].shape[1:])
                st[key] = torch.cat([st[key], pad])
        self.state = st


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise dot products: (B, N) x (B, N) -> (B,)."""
    return torch.linalg.vecdot(a, b)


def make_optimizer(opts: Options, img: Tensor) -> torch.optim.Optimizer | BatchLBFGS:
    """neural-style's optimizers: L-BFGS without line search, step 1, tolerances off; or Adam.

    Every L-BFGS run gets BatchLBFGS (one history per image, no host syncs: torch's
    LBFGS follows the same trajectory within float rounding); Adam works element by element,
    so one Adam over the batch is B separate ones.
    """
    if opts.optimizer == "lbfgs":
        return BatchLBFGS(img, history_size=opts.lbfgs_num_correction)
    return torch.optim.Adam([img], lr=opts.learning_rate)


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
    opts: Options,
    extractor: FeatureExtractor,
    convention: str,
    content: Tensor,
    styles: list[Tensor],
    *,
    init_image: Tensor | None = None,
    seed: int = 0,
    device: torch.device | None = None,
    callback: Callable[[Progress], None] | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    resume: Checkpoint | None = None,
) -> Result:
    """Run neural-style's optimization (coarse to fine when `opts.scales` is set).

    Args:
        opts: the options (the image sizes are already applied to the tensors).
        extractor: the frozen feature network, on `device`.
        convention: the model's input convention (`caffe` or `torchvision`).
        content: (1, 3, H, W) RGB in [0, 1] at image_size.
        styles: one (1, 3, h, w) RGB tensor per style image, at style_scale x image_size.
        init_image: (1, 3, H, W) RGB in [0, 1] for init `image`; None means the content.
        seed: the resolved seed (>= 0).
        device: where to compute; the extractor's device by default.
        callback: called at every print or save iteration and at the last one.
        on_checkpoint: called after the step of every save iteration with the full state.
        resume: a state from on_checkpoint to continue from; the continued run's images and
            losses equal an uninterrupted run's.
    Returns:
        The final image (the one evaluated at the last iteration) and the losses of every
        iteration, numbered continuously across scales.
    """
    return stylize_batch(
        [opts],
        extractor,
        convention,
        content,
        styles,
        init_image=init_image,
        seed=seed,
        device=device,
        callbacks=[callback],
        on_checkpoint=on_checkpoint,
        resume=resume,
    )[0]


def stylize_batch(
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
    """Optimize settings that differ only in loss weights together: one forward per iteration.

    Each setting keeps its own optimizer state (BatchLBFGS's per-image history, or Adam's
    per-element state), so each result equals its separate run up to float rounding (batched
    convolutions and the sync-free L-BFGS; tests/test_batch.py states the tolerance).

    Args:
        settings: B options with equal `options.batch_key` (only content_weight, style_weight,
            tv_weight and output_image may differ).
        callbacks: one per setting (or None), each seeing its own losses and image.
        on_checkpoint, resume: one Checkpoint for the whole batch.
        Others: as `stylize`.
    Returns:
        One Result per setting, in order.
    """
    opts = settings[0]
    for other in settings[1:]:
        if batch_key(other) != batch_key(opts):
            raise OptionError(
                f"a batch may differ only in {', '.join(BATCH_FIELDS)}; "
                f"{other.output_image} differs from {opts.output_image} in more"
            )
    device = device or next(extractor.parameters()).device
    b = len(settings)
    calls = list(callbacks) if callbacks is not None else [None] * b
    scales = plan(opts, content.shape, extractor)
    n, final_size = scales[-1].last, scales[-1].size
    names = loss_names(opts)
    rows: list[list[tuple[int, tuple[float, ...], float]]] = [[] for _ in range(b)]
    done, offset, first_scale = 0, 0.0, 0
    if resume is not None:
        if resume.batch != b or resume.iteration >= n:
            raise OptionError(f"resume: a checkpoint of another run (iteration {resume.iteration})")
        done, offset, first_scale = resume.iteration, resume.elapsed, resume.scale
        rows = [list(r) for r in (resume.rows if b > 1 else [resume.rows])]
    history = torch.zeros(n, b, len(names), device=device)  # filled without a host sync
    times = [0.0] * n
    reported = done
    start_img: Tensor | None = None
    problem: Problem | None = None
    start = time.perf_counter() - offset
    with backend_flags(opts, device):
        for scale in scales[first_scale:]:
            # Set up this scale: targets at its size, the previous scale's result upsampled,
            # a fresh optimizer (curvature pairs of another size do not carry over).
            problem = setup_batch(
                settings,
                extractor,
                convention,
                content,
                styles,
                init_image=init_image,
                seed=seed,
                device=device,
                size=scale.size,
                start=start_img,
            )
            optimizer = make_optimizer(opts, problem.img)
            if resume is not None and resume.scale == scale.index:
                # Put back exactly the state after iteration `resume.iteration`'s step.
                with torch.no_grad():
                    problem.img.copy_(resume.image.to(device))
                optimizer.load_state_dict(resume.optimizer_state)
                torch.set_rng_state(resume.rng_state)
            for i in range(max(scale.first, done + 1), scale.last + 1):
                # Evaluate the images of iteration i: losses and gradients.
                objective, history[i - 1] = problem.closure()
                times[i - 1] = time.perf_counter() - start
                is_print = opts.print_iter > 0 and i % opts.print_iter == 0
                is_save = opts.save_iter > 0 and i % opts.save_iter == 0
                # Stop at once on NaN/inf; on a GPU only where we sync anyway.
                if device.type == "cpu" or is_print or is_save or i == n:
                    _check_finite(objective, i)
                # Report: sync the loss rows since the last report, hand over the images if
                # saving (at the final size, so every scale's frames make one animation).
                if is_print or is_save or i == n:
                    values = history[reported:i].tolist()  # (iterations, B, K)
                    image = problem.output() if is_save or i == n else None
                    if image is not None and scale.size != final_size:
                        image = F.interpolate(
                            image, size=final_size, mode="bilinear", align_corners=False
                        )
                    for j in range(b):
                        new = tuple(
                            (k + 1, tuple(values[k - reported][j]), times[k])
                            for k in range(reported, i)
                        )
                        rows[j].extend(new)
                        if calls[j] is not None:
                            calls[j](  # type: ignore[misc]
                                Progress(
                                    i,
                                    n,
                                    names,
                                    new,
                                    times[i - 1],
                                    image[j : j + 1] if image is not None else None,
                                    is_print or i == n,
                                    scale.index,
                                    len(scales),
                                )
                            )
                    reported = i
                # Step, except after a scale's last evaluation: as in neural-style, a scale's
                # result is the image whose losses were reported last.
                if i < scale.last:
                    step = objective if b > 1 else objective[0]
                    optimizer.step(functools.partial(_return, step))  # type: ignore[arg-type]
                    if on_checkpoint is not None and is_save:
                        state = rows if b > 1 else rows[0]
                        on_checkpoint(
                            _snapshot(
                                i, problem.img, optimizer, state, times[i - 1], seed, scale, b
                            )
                        )
            start_img = problem.img.detach()
    assert problem is not None
    final = problem.output()
    return [
        Result(final[j : j + 1], names, tuple(rows[j]), times[n - 1], tuple(scales))
        for j in range(b)
    ]


def _snapshot(
    iteration: int,
    img: Tensor,
    optimizer: torch.optim.Optimizer | BatchLBFGS,
    rows: Any,
    elapsed: float,
    seed: int,
    scale: Scale,
    batch: int,
) -> Checkpoint:
    return Checkpoint(
        iteration=iteration,
        image=img.detach().cpu().clone(),
        optimizer_state=_to_cpu(optimizer.state_dict()),
        rng_state=torch.get_rng_state(),
        rows=_freeze(rows),
        elapsed=elapsed,
        seed=seed,
        scale=scale.index,
        batch=batch,
    )


def _freeze(rows: Any) -> Any:
    # Lists of rows become tuples: the checkpoint must not change as the loop goes on.
    if isinstance(rows, list):
        return tuple(_freeze(r) for r in rows)
    return rows


def _to_cpu(value: Any) -> Any:
    # A deep copy on the CPU: the optimizer keeps changing its own tensors in place.
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _return(value: Tensor) -> Tensor:
    # The "closure" handed to step(): the evaluation already happened above.
    return value


def _check_finite(objective: Tensor, iteration: int) -> None:
    # objective: (B,); the sum of non-negative losses is finite exactly when each one is.
    value = float(objective.sum())
    if not math.isfinite(value):
        raise NumericalError(
            f"the loss became {value} at iteration {iteration}; likely causes: content, style "
            "or tv weights or learning_rate too large, or a broken weight file"
        )
