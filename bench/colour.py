"""The colour steps' cost: color_control and original_colors against the run they belong to."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import common
import torch

from stylesweep import transfer
from stylesweep.canvas import Canvas, colour_inputs

# (label, options) of each colour step measured.
CASES = (
    ("histogram sym", dict(color_control="histogram", histogram_match="sym")),
    ("histogram chol", dict(color_control="histogram", histogram_match="chol")),
    ("luminance yuv", dict(color_control="luminance", color_space="yuv")),
    ("luminance lab", dict(color_control="luminance", color_space="lab")),
    ("luminance luv", dict(color_control="luminance", color_space="luv")),
    ("original_colors lab", dict(original_colors=True, color_space="lab")),
)


def _seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """The median wall time of fn() over `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        common.sync(device)
        start = time.perf_counter()
        fn()
        common.sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_seconds(size: int, iterations: int, device: torch.device, repeats: int) -> float:
    """A run's cost without colour control: `iterations` x one evaluation (forward, losses,
    backward) at `size`. The L-BFGS step is left out, so the ratios are upper bounds."""
    extractor, convention, name = common.model(None, device)
    content, styles = common.inputs(size)
    opts = common.options(size, model=name)
    problem = transfer.setup([opts], extractor, convention, content, styles, device=device)
    return iterations * _seconds(problem.evaluate, device, repeats)


def colour_seconds(
    size: int, iterations: int, outputs: int, device: torch.device, repeats: int
) -> dict[str, float]:
    """Each case's colour work in one run: its set-up (colour_inputs), on every iteration the
    grey channel's way into the network and back (luminance), and `outputs` images shown
    (frames and the final one: the whole of Canvas.rgb, though a run without colour control
    spends part of it too, so again an upper bound)."""
    _, convention, name = common.model(None, device)
    content, styles = common.inputs(size)
    content, styles = content.to(device), [s.to(device) for s in styles]
    out = {}
    for label, changes in CASES:
        opts = common.options(size, model=name, **changes)
        canvas = Canvas.of(opts, convention, content)
        img = canvas.encode(colour_inputs(opts, content, styles, None)[0]).requires_grad_(True)

        def into_network(canvas: Canvas = canvas, img: torch.Tensor = img) -> None:
            img.grad = None
            x = canvas.network(img)
            x.backward(torch.ones_like(x))

        setup = _seconds(
            lambda opts=opts: colour_inputs(opts, content, styles, None), device, repeats
        )
        per_iteration = _seconds(into_network, device, repeats) if canvas.is_grey else 0.0
        still = img.detach()
        per_output = _seconds(lambda c=canvas, i=still: c.rgb(i), device, repeats)
        out[label] = setup + iterations * per_iteration + outputs * per_output
    return out
