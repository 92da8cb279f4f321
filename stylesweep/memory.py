"""How much memory a run needs, estimated from its sizes and the layer table; no torch."""

from __future__ import annotations

from .options import Options
from .registry import ARCHITECTURES, ModelSpec, layer_names


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
