"""How much memory and time a job needs, estimated from its sizes and the layer table; no torch."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ResourceError
from .images import scaled_size, size_of, style_size
from .options import Options, ladder, parse_memory, total_iterations
from .registry import ARCHITECTURES, ModelSpec, get_spec, layer_names


def estimate_memory_mb(
    spec: ModelSpec,
    opts: Options,
    size: tuple[int, int],
    style_sizes: list[tuple[int, int]],
    *,
    device: str = "cpu",
) -> float:
    """An estimate of a run's peak memory in MiB, from the image sizes and the architecture.

    The optimized image's forward pass keeps every layer's output for the backward pass (conv
    and ReLU outputs, float32), and the backward pass briefly holds two more of the largest;
    style targets are computed one image at a time without gradients; L-BFGS keeps
    2 x lbfgs_num_correction vectors of the image's size. On the CPU the interpreter, torch and
    the weights add about 1000 MiB (measured: 1054 MiB peak RSS at 64 px); on a GPU the CUDA
    context takes about 500 MiB of the device.
    """
    total, largest, weights = _activations(spec, opts, *size)
    style_peak = max((_activations(spec, opts, *s)[0] for s in style_sizes), default=0)
    pixels = 3 * size[0] * size[1]
    history = 2 * opts.lbfgs_num_correction * pixels if opts.optimizer == "lbfgs" else 2 * pixels
    floats = max(total + 2 * largest, style_peak) + history + 8 * pixels + weights
    base = 1000.0 if device == "cpu" else 500.0
    return base + floats * 4 / 2**20


def _activations(spec: ModelSpec, opts: Options, w: int, h: int) -> tuple[int, int, int]:
    """(floats kept for backward, largest layer, weights) of the cut network at w x h."""
    names = layer_names(spec.arch)
    depth = max(names.index(n) for n in opts.content_layers + opts.style_layers) + 1
    total = largest = weights = 0
    channels, index = 3, 0
    for v in ARCHITECTURES[spec.arch]:
        if index >= depth:
            break
        if v == "M":
            w, h, index = w // 2, h // 2, index + 1
            total += channels * w * h
        else:
            weights += int(v) * (channels * 9 + 1)
            channels, index = int(v), index + 2
            total += 2 * channels * w * h  # conv and ReLU outputs
            largest = max(largest, channels * w * h)
    return total, largest, weights


# Measured with the random model (VGG-19's cost, no weight file) on 2 cores of a shared VM,
# torch 2.14.1 CPU: 0.57 s per L-BFGS iteration at 256 px, about 2.8 s at 512 px (square images).
CPU_SECONDS_PER_MEGAPIXEL_ITERATION = 11.0
# Not measured here (no GPU): a generous bound for a recent GPU, for the scheduler only.
GPU_SECONDS_PER_MEGAPIXEL_ITERATION = 0.5
# Head room on the engine's own memory estimate, for the scheduler.
MEMORY_MARGIN = 1.25


def batch_memory_mb(
    spec: ModelSpec,
    opts: Options,
    size: tuple[int, int],
    style_sizes: list[tuple[int, int]],
    *,
    device: str = "cpu",
    batch: int = 1,
) -> float:
    """estimate_memory_mb for `batch` images optimized at once: the interpreter and the
    weights once, the per-image part (activations, optimizer history) `batch` times."""
    one = estimate_memory_mb(spec, opts, size, style_sizes, device=device)
    fixed = estimate_memory_mb(spec, opts, (0, 0), [], device=device)
    return fixed + batch * (one - fixed)


def scaled_size_or_square(path: str, longest: int) -> tuple[int, int]:
    """An image file's size scaled to `longest`; a square if the file cannot be read (that is
    the stylize job's to report, with its name: here it must not stop the whole sweep)."""
    try:
        return scaled_size(size_of(path), longest)
    except Exception:
        return longest, longest


def estimate_mem_mb(opts: Options, *, model: str = "vgg19", batch: int = 1) -> int:
    """A job's peak host memory in MB, for `resources: mem_mb`: batch_memory_mb for the real
    image sizes of `batch` settings like `opts`, with head room, in 100s."""
    size = scaled_size_or_square(opts.content_image, opts.image_size)
    longest = style_size(opts.image_size, opts.style_scale)
    styles = [scaled_size_or_square(p, longest) for p in opts.style_image]
    mib = batch_memory_mb(get_spec(model), opts, size, styles, device="cpu", batch=batch)
    return int(math.ceil(MEMORY_MARGIN * mib * 1.048576 / 100) * 100)


def estimate_runtime_min(opts: Options, *, gpu: bool = False, batch: int = 1) -> int:
    """A generous bound of a job's wall time in minutes (for `resources: runtime`), summed
    over every scale of a coarse-to-fine ladder; a batch of B counts B times the pixels."""
    rate = GPU_SECONDS_PER_MEGAPIXEL_ITERATION if gpu else CPU_SECONDS_PER_MEGAPIXEL_ITERATION
    work = batch * sum(px**2 / 1e6 * n for px, n in ladder(opts))
    return max(1, math.ceil((30 + 1.5 * rate * work) / 60))


# --- the memory plan: which scales run in tiles, and with what optimizer state ---------------
# The smallest tile: VGG-19's four poolings leave it 4 px at relu5_1.
MIN_TILE = 64
# The tile kept before the L-BFGS history is lowered: smaller tiles spend most of their pixels
# in the overlaps and in the network's zero padding.
PREFERRED_TILE = 256
# Below this many pairs L-BFGS is no better than Adam: the scale moves to Adam instead.
MIN_HISTORY = 5
# Floats per image pixel (x 3 channels) held at full size by a tiled scale besides the
# optimizer: the image, its gradient, the content, its preprocessed copy, a tile's blend
# weights, the output and the frames (one more than untiled's 8: the gradient is built apart).
TILED_BUFFERS = 9


def tile_overlap(tile: int) -> int:
    """The overlap of two neighbouring tiles of side `tile`: a quarter, between 8 and 64 px."""
    return min(64, max(8, tile // 4))


def tiles_along(length: int, tile: int, overlap: int) -> int:
    """How many tiles of `tile` px with `overlap` cover `length` px (an unshifted grid)."""
    if tile >= length:
        return 1
    return math.ceil((length - overlap) / (tile - overlap))


def device_memory_mb() -> float:
    """This machine's physical memory in MiB (the CPU's device), torch-free."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


def default_max_memory_mb(total_mb: float, device: str) -> float:
    """max_memory's default: the device's memory less a margin (the CPU's OS and other
    processes: max(1 GiB, 10%); a GPU's: max(512 MiB, 5%))."""
    if device == "cpu":
        return total_mb - max(1024.0, 0.10 * total_mb)
    return total_mb - max(512.0, 0.05 * total_mb)


@dataclass(frozen=True)
class ScalePlan:
    """How one scale runs: whole or in tiles, with which optimizer, in how much memory."""

    width: int
    height: int
    tile: int | None  # the tiles' side in px; None: the whole image at once
    overlap: int  # px shared by neighbouring tiles (0 untiled)
    tiles: int  # tiles in the unshifted grid (1 untiled)
    style_tile: int | None  # the style's Gram summed over tiles of this side; None: whole
    optimizer: str
    history: int  # L-BFGS pairs kept (0 for Adam)
    estimate_mb: float
    change: str = ""  # what the plan changed in the optimizer and why ("" nothing)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "estimate_mb": round(self.estimate_mb, 1)}

    @property
    def megapixels(self) -> float:
        """What one iteration passes through the network: the image, or the tiles of the moving
        grid, which covers up to one more row and column of tiles than the unshifted one."""
        if self.tile is None:
            return self.width * self.height / 1e6
        counts = [tiles_along(n, self.tile, self.overlap) for n in (self.width, self.height)]
        across, down = (n + 1 if n > 1 else 1 for n in counts)
        return across * down * self.tile**2 / 1e6


@dataclass(frozen=True)
class MemoryPlan:
    """Every scale's ScalePlan within max_memory_mb."""

    max_memory_mb: float
    scales: tuple[ScalePlan, ...]

    @property
    def estimate_mb(self) -> float:
        """The peak over the scales."""
        return max(s.estimate_mb for s in self.scales)

    @property
    def changed(self) -> bool:
        """Whether any scale runs otherwise than the options alone say (tiles, optimizer)."""
        return any(s.tile is not None or s.style_tile is not None or s.change for s in self.scales)

    def describe(self) -> list[str]:
        """A log line per tiled scale."""
        return [
            f"{s.width}x{s.height} in {s.tiles} tiles of {s.tile} px (overlap {s.overlap}), "
            + ("Adam" if s.optimizer == "adam" else f"L-BFGS history {s.history}")
            + f": about {s.estimate_mb:,.0f} MiB of max_memory {self.max_memory_mb:,.0f} MiB"
            for s in self.scales
            if s.tile is not None
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_memory_mb": round(self.max_memory_mb, 1),
            "estimate_mb": round(self.estimate_mb, 1),
            "scales": [s.to_dict() for s in self.scales],
        }


def chain_work(opts: Options, plan: MemoryPlan) -> tuple[tuple[int, float], ...]:
    """(last iteration, megapixels an iteration evaluates) of every scale of a run's chain."""
    last, work = 0, []
    for (_, iterations), scale in zip(ladder(opts), plan.scales, strict=True):
        last += iterations
        work.append((last, scale.megapixels))
    return tuple(work)


def eta_seconds(
    work: Sequence[tuple[int, float]], since: tuple[int, float], now: tuple[int, float], total: int
) -> float:
    """Seconds to iteration `total` at the pace from `since` to `now` ((iteration, seconds)):
    in megapixels evaluated (`work`: chain_work), so that an ETA holds across a chain's scales
    and tiles."""

    def done(iteration: int) -> float:
        first, amount = 0, 0.0
        for last, megapixels in work:
            amount += megapixels * max(0, min(iteration, last) - first)
            first = last
        return amount

    pace = (done(now[0]) - done(since[0])) / max(now[1] - since[1], 1e-9)
    return (done(total) - done(now[0])) / pace if pace > 0 else 0.0


def scale_sizes(opts: Options, size: tuple[int, int]) -> list[tuple[int, int]]:
    """(width, height) of every scale of the ladder for content of `size` at image_size."""
    rungs = ladder(opts)
    return [scaled_size(size, px) for px, _ in rungs[:-1]] + [size]


def plan_memory(
    spec: ModelSpec,
    opts: Options,
    size: tuple[int, int],
    style_sizes: list[tuple[int, int]],
    *,
    device: str = "cpu",
    device_mb: float | None = None,
    batch: int = 1,
) -> MemoryPlan:
    """Plan every scale of a run of content `size` (w, h) within max_memory.

    A scale runs whole when it fits (and tile_size does not ask for tiles). Otherwise in tiles:
    the optimizer state stays at the image's full size, so L-BFGS keeps as many pairs as leave
    room for a PREFERRED_TILE tile (its history lowered, or Adam below MIN_HISTORY pairs), and
    the tile is then the largest that fits. A style too large to pass at once has its Gram
    summed over tiles. Raises ResourceError, with the numbers, when not even a MIN_TILE tile
    with Adam fits.

    Args:
        size, style_sizes: (w, h) at image_size, and of each style at style_scale x image_size.
        device_mb: the device's memory; the machine's for the CPU when None.
    """
    total = device_mb if device_mb is not None else device_memory_mb()
    budget = (
        parse_memory(opts.max_memory)
        if opts.max_memory is not None
        else default_max_memory_mb(total, device)
    )
    plans = []
    for w, h in scale_sizes(opts, size):
        longest = max(w, h)
        styles = [
            scaled_size(s, min(style_size(longest, opts.style_scale), max(s))) for s in style_sizes
        ]
        plans.append(_plan_scale(spec, opts, (w, h), styles, device, batch, budget, total))
    return MemoryPlan(budget, tuple(plans))


def _plan_scale(
    spec: ModelSpec,
    opts: Options,
    size: tuple[int, int],
    styles: list[tuple[int, int]],
    device: str,
    batch: int,
    budget: float,
    total: float,
) -> ScalePlan:
    w, h = size
    longest = max(w, h)
    history = opts.lbfgs_num_correction if opts.optimizer == "lbfgs" else 0
    forced = 0 < (opts.tile_size or 0) < longest
    whole = batch_memory_mb(spec, opts, size, styles, device=device, batch=batch)
    if whole <= budget and not forced:
        return ScalePlan(w, h, None, 0, 1, None, opts.optimizer, history, whole)
    style_tile = _style_tile(spec, opts, styles, device, budget)

    def need(tile: int, optimizer: str, pairs: int) -> float:
        return _tiled_mb(
            spec, opts, size, tile, styles, style_tile, device, batch, optimizer, pairs
        )

    # The optimizer state first, at the tile we would rather keep.
    first = opts.tile_size if opts.tile_size and forced else min(PREFERRED_TILE, longest)
    optimizer, change = opts.optimizer, ""
    if optimizer == "lbfgs":
        pair_mb = batch * 2 * 3 * w * h * 4 / 2**20
        fits = int((budget - need(first, "lbfgs", 0)) // pair_mb)
        if fits < MIN_HISTORY:
            optimizer, history = "adam", 0
            change = (
                f"L-BFGS's history does not fit at {w}x{h} (room for {max(fits, 0)} pairs): Adam"
            )
        elif fits < history:
            change = f"L-BFGS history lowered from {history} to {fits} pairs to fit at {w}x{h}"
            history = fits
    # Then the largest tile that fits beside it.
    sizes = [opts.tile_size] if forced else range(longest - longest % 32, MIN_TILE - 1, -32)
    tile = next((t for t in sizes if t is not None and need(t, optimizer, history) <= budget), None)
    if tile is None:
        least = need(min(MIN_TILE, longest), "adam", 0)
        raise ResourceError(
            f"a {w}x{h} image (image_size {opts.image_size}) needs about {least:,.0f} MiB on "
            f"{device} even in {min(MIN_TILE, longest)} px tiles with optimizer adam, over "
            f"max_memory {budget:,.0f} MiB ({device}, which has {total:,.0f} MiB); try a "
            "smaller image_size or style_scale, or a larger max_memory"
        )
    estimate = need(tile, optimizer, history)
    if tile >= longest:  # one tile is the whole image: only the optimizer state changed
        return ScalePlan(w, h, None, 0, 1, style_tile, optimizer, history, estimate, change)
    overlap = tile_overlap(tile)
    count = tiles_along(w, tile, overlap) * tiles_along(h, tile, overlap)
    return ScalePlan(
        w,
        h,
        tile,
        overlap,
        count,
        style_tile,
        optimizer,
        history,
        estimate,
        change,
    )


def _network_floats(spec: ModelSpec, opts: Options, w: int, h: int) -> int:
    # The forward kept for the backward, and the backward's two largest layers.
    total, largest, _ = _activations(spec, opts, w, h)
    return total + 2 * largest


def _style_tile(
    spec: ModelSpec, opts: Options, styles: list[tuple[int, int]], device: str, budget: float
) -> int | None:
    """None when every style passes whole in half the budget, else the largest tile that does."""
    base = 1000.0 if device == "cpu" else 500.0
    room = (budget - base) / 2 * 2**20 / 4  # floats
    if all(_activations(spec, opts, *s)[0] <= room for s in styles):
        return None
    longest = max(max(s) for s in styles)
    for tile in range(longest - longest % 32, MIN_TILE - 1, -32):
        if _activations(spec, opts, tile, tile)[0] <= room:
            return tile
    return MIN_TILE


def _tiled_mb(
    spec: ModelSpec,
    opts: Options,
    size: tuple[int, int],
    tile: int,
    styles: list[tuple[int, int]],
    style_tile: int | None,
    device: str,
    batch: int,
    optimizer: str,
    history: int,
) -> float:
    """The peak of a tiled scale in MiB: a tile's network, or a style pass, beside the
    full-size image buffers and optimizer state."""
    w, h = size
    pixels = 3 * w * h
    net = batch * _network_floats(spec, opts, min(tile, w), min(tile, h))
    style = max(
        (
            _activations(
                spec,
                opts,
                *(s if style_tile is None else (min(style_tile, s[0]), min(style_tile, s[1]))),
            )[0]
            for s in styles
        ),
        default=0,
    )
    state = 2 * history * pixels if optimizer == "lbfgs" else 2 * pixels
    weights = _activations(spec, opts, 0, 0)[2]
    floats = max(net, style) + batch * (state + TILED_BUFFERS * pixels) + weights
    base = 1000.0 if device == "cpu" else 500.0
    return base + floats * 4 / 2**20


# --- the small jobs that go with a run (publish with its loss plot, gif) and the contact sheets -
# On a cluster a run's small jobs share its stylize job's submission, and Snakemake sizes that
# group by its busiest stage (jobs side by side in a stage add up; the stages' runtimes add up),
# so each states its own small needs instead of the profile's defaults (2000 MB, 30 minutes).
# Measured with Snakemake's benchmark directive (peak RSS, CPU-only, 2 busy shared cores): the
# loss plot 80 MB; a GIF of 101 frames of 256 x 171 px 122 MB in 13.5 s; a sweep sheet with a
# 3000 x 2000 px header 94 MB. The figures below are those with head room.
SCRIPT_BASE_MB = 200  # a rule's script before any image: Python, Snakemake's preamble, Pillow
PLOT_MEM_MB = 300  # matplotlib
PUBLISH_MEM_MB = PLOT_MEM_MB  # hard links, and the loss plot
PUBLISH_RUNTIME_MIN = 1
PLOT_RUNTIME_MIN = 1
SHEET_RUNTIME_MIN = 5
# Bytes per output pixel a GIF holds per frame at its peak (loaded, resized, labelled, stacked).
GIF_BYTES_PER_PIXEL = 16
# Seconds per megapixel of frames to label and encode (measured 3 on the busy cores above).
GIF_SECONDS_PER_MEGAPIXEL = 5.0


def output_size(opts: Options) -> tuple[int, int]:
    """The final image's size: the content's upright size scaled to image_size."""
    return scaled_size_or_square(opts.content_image, opts.image_size)


def estimate_gif_mem_mb(opts: Options) -> int:
    """A progress GIF's peak memory in MB: every frame (one each save_iter, plus the first and
    the last) held at the output size at once."""
    w, h = output_size(opts)
    frames = (total_iterations(opts) // opts.save_iter if opts.save_iter else 0) + 2
    mib = SCRIPT_BASE_MB + frames * w * h * GIF_BYTES_PER_PIXEL / 2**20
    return int(math.ceil(MEMORY_MARGIN * mib / 100) * 100)


def estimate_gif_runtime_min(opts: Options) -> int:
    """A generous bound of a progress GIF's wall time in minutes."""
    w, h = output_size(opts)
    frames = (total_iterations(opts) // opts.save_iter if opts.save_iter else 0) + 2
    return max(1, math.ceil(frames * w * h / 1e6 * GIF_SECONDS_PER_MEGAPIXEL / 60))


def estimate_sheet_mem_mb(headers: Sequence[str], cells: int, longest: int, cell: int) -> int:
    """A contact sheet's peak memory in MB: its header images as loaded (their files' full size),
    `cells` results of at most `longest` px square, and the sheet itself."""
    pixels = sum(w * h for w, h in map(_size_or_square, headers))
    pixels += cells * longest**2 + (cells + len(headers) + 1) * cell**2
    mib = SCRIPT_BASE_MB + pixels * 8 / 2**20  # RGB as loaded, and a converted copy
    return int(math.ceil(MEMORY_MARGIN * mib / 100) * 100)


def _size_or_square(path: str) -> tuple[int, int]:
    try:
        return size_of(path)
    except Exception:
        return 4096, 4096
