"""How much memory and time a job needs, estimated from its sizes and the layer table; no torch."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .images import scaled_size, size_of, style_size
from .options import Options, ladder, total_iterations
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
    names = layer_names(spec.arch)
    depth = max(names.index(n) for n in opts.content_layers + opts.style_layers) + 1

    def activations(w: int, h: int) -> tuple[int, int, int]:
        """(floats kept for backward, largest layer, weights) of the cut network at w x h."""
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

    total, largest, weights = activations(*size)
    style_peak = max((activations(*s)[0] for s in style_sizes), default=0)
    pixels = 3 * size[0] * size[1]
    history = 2 * opts.lbfgs_num_correction * pixels if opts.optimizer == "lbfgs" else 2 * pixels
    floats = max(total + 2 * largest, style_peak) + history + 8 * pixels + weights
    base = 1000.0 if device == "cpu" else 500.0
    return base + floats * 4 / 2**20


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


def _scaled_size_of(path: str, longest: int) -> tuple[int, int]:
    """An image file's size scaled to `longest`; a square if the file cannot be read (that is
    the stylize job's to report, with its name: here it must not stop the whole sweep)."""
    try:
        return scaled_size(size_of(path), longest)
    except Exception:
        return longest, longest


def estimate_mem_mb(opts: Options, *, model: str = "vgg19", batch: int = 1) -> int:
    """A job's peak host memory in MB, for `resources: mem_mb`: batch_memory_mb for the real
    image sizes of `batch` settings like `opts`, with head room, in 100s."""
    size = _scaled_size_of(opts.content_image, opts.image_size)
    longest = style_size(opts.image_size, opts.style_scale)
    styles = [_scaled_size_of(p, longest) for p in opts.style_image]
    mib = batch_memory_mb(get_spec(model), opts, size, styles, device="cpu", batch=batch)
    return int(math.ceil(MEMORY_MARGIN * mib * 1.048576 / 100) * 100)


def estimate_runtime_min(opts: Options, *, gpu: bool = False, batch: int = 1) -> int:
    """A generous bound of a job's wall time in minutes (for `resources: runtime`), summed
    over every scale of a coarse-to-fine ladder; a batch of B counts B times the pixels."""
    rate = GPU_SECONDS_PER_MEGAPIXEL_ITERATION if gpu else CPU_SECONDS_PER_MEGAPIXEL_ITERATION
    work = batch * sum(px**2 / 1e6 * n for px, n in ladder(opts))
    return max(1, math.ceil((30 + 1.5 * rate * work) / 60))


# --- the small jobs that go with a run (publish, gif, loss_plot) and the contact sheets -------
# On a cluster a run's small jobs share its stylize job's submission, and Snakemake sizes that
# group by its busiest stage (jobs side by side in a stage add up; the stages' runtimes add up),
# so each states its own small needs instead of the profile's defaults (2000 MB, 30 minutes).
# Measured with Snakemake's benchmark directive (peak RSS, CPU-only, 2 busy shared cores): the
# loss plot 80 MB; a GIF of 101 frames of 256 x 171 px 122 MB in 13.5 s; a sweep sheet with a
# 3000 x 2000 px header 94 MB. The figures below are those with head room.
SCRIPT_BASE_MB = 200  # a rule's script before any image: Python, Snakemake's preamble, Pillow
PUBLISH_MEM_MB = SCRIPT_BASE_MB  # hard links only
PUBLISH_RUNTIME_MIN = 1
PLOT_MEM_MB = 300  # matplotlib
PLOT_RUNTIME_MIN = 1
SHEET_RUNTIME_MIN = 5
# Bytes per output pixel a GIF holds per frame at its peak (loaded, resized, labelled, stacked).
GIF_BYTES_PER_PIXEL = 16
# Seconds per megapixel of frames to label and encode (measured 3 on the busy cores above).
GIF_SECONDS_PER_MEGAPIXEL = 5.0


def output_size(opts: Options) -> tuple[int, int]:
    """The final image's size: the content's upright size scaled to image_size."""
    return _scaled_size_of(opts.content_image, opts.image_size)


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
