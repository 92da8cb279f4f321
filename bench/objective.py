"""The objective's figures: closure vs the network alone, the L-BFGS step, the profile's shares."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import common
import torch
from torch import Tensor

from stylesweep import transfer
from stylesweep.lbfgs import LBFGS
from stylesweep.models import preprocess

# The profile's leaf ops by part. The network's own work is its convolutions, ReLUs and pools;
# everything else in the closure is the objective's (or waste).
PARTS = {
    "convolution": ("convolution",),
    "relu": ("clamp_min", "relu", "threshold_backward"),
    "pool": ("pool",),
    "gram (bmm)": ("bmm",),
    "copies": ("copy_", "clone", "contiguous", "_to_copy"),
}
ACCUMULATION = ("aten::add", "aten::add_")  # autograd's sums of gradients from two consumers


def part_of(op: str) -> str:
    """The part of the closure a profiled op belongs to."""
    if op in ACCUMULATION:
        return "accumulation (add)"
    return next((p for p, keys in PARTS.items() if any(k in op for k in keys)), "other")


def closure_vs_network(
    size: int, device: torch.device, repeats: int, batch: int = 1
) -> tuple[float, float, Callable[[], object]]:
    """(closure s, network-only forward+backward s, the closure) at `size`, interleaved.

    The network alone: the same extractor, channels-last, forward to the deepest layer and
    backward from it to the image, with no loss terms: the floor the closure works above.
    `batch` > 1 evaluates that many settings at once (style weights 10, 20, ...).
    """
    extractor, convention, name = common.model(None, device)
    content, styles = common.inputs(size)
    opts = common.options(size, model=name)
    settings = [opts.replace(style_weight=10.0 * (i + 1)) for i in range(batch)]
    problem = transfer.setup(settings, extractor, convention, content, styles, device=device)
    x = preprocess(content.to(device), convention).expand(batch, -1, -1, -1)
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    deepest = extractor.names[len(extractor.features) - 1]

    def network() -> None:
        x.grad = None
        out = extractor(x)[deepest]
        out.backward(torch.ones_like(out))

    def closure() -> None:
        problem.evaluate()

    # Alternate the two so that a neighbour's load hits both alike; the median of each.
    c, n = [], []
    for fn in (network, closure, network, closure):  # warm-up
        fn()
    for _ in range(repeats):
        n.append(_timed(network, device))
        c.append(_timed(closure, device))
    return statistics.median(c), statistics.median(n), closure


def profile_shares(closure: Callable[[], object], device: torch.device) -> dict[str, float]:
    """Each part's share of the closure's op time, from one profiled call (CPU self time, or
    the device time of the kernels each op launched on CUDA)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        closure()
        common.sync(device)
    times: dict[str, float] = {}
    for event in prof.key_averages():
        if not event.key.startswith("aten::"):
            continue  # the profiler's and autograd's own bookkeeping
        t = event.self_device_time_total if device.type == "cuda" else event.self_cpu_time_total
        part = part_of(event.key)
        times[part] = times.get(part, 0.0) + t
    total = sum(times.values()) or 1.0
    return {p: t / total for p, t in sorted(times.items(), key=lambda kv: -kv[1])}


def lbfgs_step(size: int, device: torch.device, history: int = 100) -> tuple[float, float]:
    """(engine s, torch.optim.LBFGS s) for one step with a full history at `size` (one image).

    Both start from the same synthetic state (random pairs with y.s > 0), so only the
    two-loop and the update are timed.
    """
    n = 3 * size * size
    gen = torch.Generator().manual_seed(0)
    ys = [torch.randn(n, generator=gen).to(device) for _ in range(history)]
    ss = [y * (0.5 + torch.rand(n, generator=gen).to(device)) for y in ys]
    g = torch.randn(n, generator=gen).to(device)
    img = torch.zeros(1, 3, size, size, device=device, requires_grad=True)
    img.grad = g.view_as(img).clone()

    ours = LBFGS(img, history_size=history)
    ours.load_state_dict(
        {
            "n_iter": history + 1,
            "dirs": torch.stack(ys)[:, None],
            "stps": torch.stack(ss)[:, None],
            "ro": torch.stack([1.0 / torch.dot(y, s) for y, s in zip(ys, ss, strict=True)])[
                :, None
            ],
            "head": torch.zeros(1, dtype=torch.long, device=device),
            "count": torch.full((1,), history, dtype=torch.long, device=device),
            "H_diag": torch.ones(1, device=device),
            "prev_flat_grad": g[None] * 0.9,
            "d": -g[None],
            "t": torch.ones(1, device=device),
        }
    )
    engine = min(_timed(ours.step, device) for _ in range(3))
    del ours

    theirs = torch.optim.LBFGS(
        [img], lr=1, max_iter=1, history_size=history, tolerance_grad=-1, tolerance_change=-1
    )
    theirs.state[img].update(
        func_evals=0, n_iter=history + 1, d=-g, t=1.0, old_dirs=list(ys), old_stps=list(ss),
        ro=[1.0 / torch.dot(y, s) for y, s in zip(ys, ss, strict=True)],
        H_diag=torch.tensor(1.0, device=device), prev_flat_grad=g * 0.9, prev_loss=1.0,
        al=[None] * history,
    )  # fmt: skip

    def closure() -> Tensor:
        img.grad = g.view_as(img).clone()
        return torch.zeros((), device=device)

    plain = min(_timed(lambda: theirs.step(closure), device) for _ in range(3))
    return engine, plain


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    common.sync(device)
    start = time.perf_counter()
    fn()
    common.sync(device)
    return time.perf_counter() - start
