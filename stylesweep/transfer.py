"""The optimization: set up targets, init and optimizer, then one flat loop; no file I/O."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from . import images
from .errors import NumericalError
from .losses import content_loss, gram, style_loss, tv_loss
from .models import FeatureExtractor, deprocess, preprocess
from .options import Options


@dataclass(frozen=True)
class Progress:
    """What the loop reports at a print, save or final iteration.

    Attributes:
        iteration: 1-based; the losses and image are those evaluated at this iteration.
        num_iterations: the run's total.
        names: the loss names, in the order of each row's values.
        rows: (iteration, values, elapsed seconds) for every iteration since the last report.
        elapsed: seconds since the loop started.
        image: the current image, RGB in [0, 1], (1, 3, H, W) on the CPU, when a save is due.
        is_print: whether print_iter (or the last iteration) asks for a progress line.
    """

    iteration: int
    num_iterations: int
    names: tuple[str, ...]
    rows: tuple[tuple[int, tuple[float, ...], float], ...]
    elapsed: float
    image: Tensor | None
    is_print: bool

    @property
    def losses(self) -> dict[str, float]:
        """This iteration's losses by name."""
        return dict(zip(self.names, self.rows[-1][1], strict=True))


@dataclass(frozen=True)
class Result:
    """The outcome of a run: the final image and every iteration's losses."""

    image: Tensor  # (1, 3, H, W) RGB in [0, 1], on the CPU
    names: tuple[str, ...]
    rows: tuple[tuple[int, tuple[float, ...], float], ...]
    elapsed: float

    @property
    def final_losses(self) -> dict[str, float]:
        return dict(zip(self.names, self.rows[-1][1], strict=True))


class _NormalizeGrad(torch.autograd.Function):
    """Identity forward; backward L1-normalises the incoming gradient, then scales it.

    This is neural-style's normalize_gradients: each loss module divides its gradient by its L1
    norm (+1e-8) and multiplies by its weight; the reported loss is unchanged.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: float) -> Tensor:  # type: ignore[override]
        ctx.weight = weight
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
            g = gram(feats[name]) * w  # (1, C, C)
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
    """The loop's whole state after iteration `iteration`'s step: enough to resume exactly."""

    iteration: int
    image: Tensor  # (1, 3, H, W) in the network's input space, on the CPU
    optimizer_state: dict[str, Any]
    rng_state: Tensor
    rows: tuple[tuple[int, tuple[float, ...], float], ...]
    elapsed: float
    seed: int


@dataclass
class Problem:
    """Everything the loop needs, set up once: the image being optimized and its objective.

    `closure()` evaluates the losses at `img`, fills `img.grad`, and returns
    (objective, loss row); `output()` is the current image as RGB in [0, 1] on the CPU.
    """

    img: Tensor  # (1, 3, H, W) in the network's input space, contiguous NCHW
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
    """Targets, initial image and objective for `opts` (see `stylize` for the arguments)."""
    device = device or next(extractor.parameters()).device
    channels_last = torch.channels_last
    extractor.to(memory_format=channels_last)

    # Targets, computed once without gradients.
    content = content.to(device)
    content_pre = preprocess(content, convention)
    with torch.no_grad():
        content_feats = extractor(content_pre.contiguous(memory_format=channels_last))
        content_targets = {k: content_feats[k].detach() for k in opts.content_layers}
        del content_feats
        grams = style_targets(
            extractor,
            [s.to(device).contiguous(memory_format=channels_last) for s in styles],
            opts.blend_weights(),
            opts.style_layers,
            convention,
        )
    init_pre = preprocess(init_image.to(device), convention) if init_image is not None else None

    # The optimized image stays contiguous NCHW: torch's L-BFGS refuses a channels_last parameter.
    img = initial_image(opts, content_pre, init_pre, seed).contiguous().requires_grad_(True)
    weights = {"content": opts.content_weight, "style": opts.style_weight}
    tap = _NormalizeGrad.apply if opts.normalize_gradients else None

    def closure() -> tuple[Tensor, Tensor]:
        if img.grad is not None:
            img.grad.zero_()
        feats = extractor(img.contiguous(memory_format=channels_last))
        terms: dict[str, list[Tensor]] = {"content": [], "style": []}
        objective = img.new_zeros(())
        for kind, layers in (("content", opts.content_layers), ("style", opts.style_layers)):
            w = weights[kind]
            for name in layers:
                f = tap(feats[name], w) if tap else feats[name]
                raw = (
                    content_loss(f, content_targets[name])
                    if kind == "content"
                    else style_loss(f, grams[name])
                )[0]
                terms[kind].append(raw * w)
                # With normalize_gradients the weight is applied inside the gradient tap.
                objective = objective + (raw if tap else raw * w)
        tv = tv_loss(img)[0] * opts.tv_weight
        objective = objective + tv
        objective.backward()
        c = torch.stack(terms["content"]).sum() if terms["content"] else img.new_zeros(())
        s = torch.stack(terms["style"]).sum() if terms["style"] else img.new_zeros(())
        row = torch.stack([c + s + tv, c, s, *terms["style"], tv]).detach()
        return objective.detach(), row

    def output() -> Tensor:
        rgb = deprocess(img.detach(), convention).clamp(0, 1)
        if opts.original_colors:
            rgb = images.original_colors(content, rgb).clamp(0, 1)
        return rgb.cpu()

    return Problem(img=img, names=loss_names(opts), closure=closure, output=output)


def make_optimizer(opts: Options, img: Tensor) -> torch.optim.Optimizer:
    """neural-style's optimizers: L-BFGS without line search, step 1, tolerances off; or Adam."""
    if opts.optimizer == "lbfgs":
        # One step() per iteration with max_iter=1 keeps the history across calls and does
        # exactly one evaluation each, as neural-style's single optim.lbfgs call does in total.
        return torch.optim.LBFGS(
            [img],
            lr=1,
            max_iter=1,
            history_size=opts.lbfgs_num_correction,
            tolerance_grad=-1,
            tolerance_change=-1,
            line_search_fn=None,
        )
    return torch.optim.Adam([img], lr=opts.learning_rate)


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
    """Run neural-style's optimization.

    Args:
        opts: the options (the image sizes are already applied to the tensors).
        extractor: the frozen feature network, on `device`.
        convention: the model's input convention (`caffe` or `torchvision`).
        content: (1, 3, H, W) RGB in [0, 1].
        styles: one (1, 3, h, w) RGB tensor per style image.
        init_image: (1, 3, H, W) RGB in [0, 1] for init `image`; None means the content.
        seed: the resolved seed (>= 0).
        device: where to compute; the extractor's device by default.
        callback: called at every print or save iteration and at the last one.
        on_checkpoint: called after the step of every save iteration with the full state.
        resume: a state from on_checkpoint to continue from; the continued run's images and
            losses equal an uninterrupted run's.
    Returns:
        The final image (the one evaluated at the last iteration) and the losses of every
        iteration.
    """
    device = device or next(extractor.parameters()).device
    problem = setup(
        opts,
        extractor,
        convention,
        content,
        styles,
        init_image=init_image,
        seed=seed,
        device=device,
    )
    optimizer = make_optimizer(opts, problem.img)
    n = opts.num_iterations
    rows: list[tuple[int, tuple[float, ...], float]] = []
    done, offset = 0, 0.0
    if resume is not None:
        # Put back exactly the state after iteration `resume.iteration`'s step.
        with torch.no_grad():
            problem.img.copy_(resume.image.to(problem.img.device))
        optimizer.load_state_dict(resume.optimizer_state)
        torch.set_rng_state(resume.rng_state)
        rows, done, offset = list(resume.rows), resume.iteration, resume.elapsed
    history = torch.zeros(n, len(problem.names), device=device)  # filled without a host sync
    times = [0.0] * n
    reported = done
    start = time.perf_counter() - offset
    for i in range(done + 1, n + 1):
        # Evaluate the image of iteration i: losses and gradient.
        objective, history[i - 1] = problem.closure()
        times[i - 1] = time.perf_counter() - start
        is_print = opts.print_iter > 0 and i % opts.print_iter == 0
        is_save = opts.save_iter > 0 and i % opts.save_iter == 0
        # Stop at once on NaN/inf; on a GPU only where we sync anyway.
        if device.type == "cpu" or is_print or is_save or i == n:
            _check_finite(objective, i)
        # Report: sync the loss rows since the last report, hand over the image if saving.
        if is_print or is_save or i == n:
            values = history[reported:i].tolist()
            new = tuple((k + 1, tuple(values[k - reported]), times[k]) for k in range(reported, i))
            rows.extend(new)
            reported = i
            if callback is not None:
                image = problem.output() if is_save or i == n else None
                callback(
                    Progress(i, n, problem.names, new, times[i - 1], image, is_print or i == n)
                )
        # Step, except after the last evaluation: as in neural-style, the result is the image
        # whose losses were reported last.
        if i < n:
            optimizer.step(functools.partial(_return, objective))  # type: ignore[arg-type]
            if on_checkpoint is not None and is_save:
                on_checkpoint(_snapshot(i, problem.img, optimizer, rows, times[i - 1], seed))
    return Result(problem.output(), problem.names, tuple(rows), times[n - 1])


def _snapshot(
    iteration: int,
    img: Tensor,
    optimizer: torch.optim.Optimizer,
    rows: list[tuple[int, tuple[float, ...], float]],
    elapsed: float,
    seed: int,
) -> Checkpoint:
    return Checkpoint(
        iteration=iteration,
        image=img.detach().cpu().clone(),
        optimizer_state=_to_cpu(optimizer.state_dict()),
        rng_state=torch.get_rng_state(),
        rows=tuple(rows),
        elapsed=elapsed,
        seed=seed,
    )


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
    value = float(objective)
    if not math.isfinite(value):
        raise NumericalError(
            f"the loss became {value} at iteration {iteration}; likely causes: content, style "
            "or tv weights or learning_rate too large, or a broken weight file"
        )
