"""The options of one style transfer and their defaults: the single place a default lives."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import OptionError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("random", "image")
POOLINGS = ("max", "avg")
PRECISIONS = ("fp32", "tf32", "bf16")
# What settings may differ by and still be optimized together as one batch (transfer.stylize_batch).
BATCH_FIELDS = ("content_weight", "style_weight", "tv_weight")


@dataclass(frozen=True)
class Options:
    """Every option of a run, with neural-style's names, meanings and defaults.

    Where a default departs from neural-style the field's comment says so.
    """

    content_image: str
    style_image: tuple[str, ...]
    # None = equal weights; always normalised to sum 1.
    style_blend_weights: tuple[float, ...] | None = None
    # Longest side of the output, in pixels.
    image_size: int = 512
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 1e-3
    num_iterations: int = 1000
    normalize_gradients: bool = False
    init: str = "random"
    init_image: str | None = None
    optimizer: str = "lbfgs"
    learning_rate: float = 10.0
    # neural-style's 0 means optim's default history of 100; we state the 100.
    lbfgs_num_correction: int = 100
    print_iter: int = 50
    save_iter: int = 100
    output_image: str = "out.png"
    # The style image's longest side is style_scale x image_size.
    style_scale: float = 1.0
    original_colors: bool = False
    pooling: str = "max"
    # None = the registry's file for `model`.
    model_file: str | None = None
    # Departure: neural-style's default is -1 (random); ours is fixed so reruns repeat. -1 still
    # means a fresh random seed, which is recorded.
    seed: int = 0
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    # stylesweep additions: a registry name and the device (auto|cpu|cuda|cuda:N|mps).
    model: str = "vgg19"
    device: str = "auto"
    # stylesweep addition, coarse-to-fine: longest sides (px, ascending, each below image_size)
    # optimized before image_size, each starting from the previous result upsampled. Empty is
    # neural-style's single scale. `scale_iterations`: one count per scale, or one for all.
    scales: tuple[int, ...] = ()
    scale_iterations: tuple[int, ...] = (200,)
    # stylesweep addition, GPU fast path: fp32 (IEEE, as neural-style), tf32 (TF32 tensor cores
    # for convolutions and matmuls on GPUs that have them), bf16 (the network under bfloat16
    # autocast; losses and optimizer state stay fp32). fp32 until measured on a GPU (bench/).
    precision: str = "fp32"
    # cuDNN's autotuner (neural-style's -cudnn_autotune); off by default: it may pick
    # nondeterministic algorithms.
    cudnn_benchmark: bool = False
    # L-BFGS with no host syncs (torch's syncs about 2 x history times per step); the same
    # trajectory as torch's within float rounding. Batched settings always use it.
    lbfgs_sync_free: bool = False

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)

    def blend_weights(self) -> tuple[float, ...]:
        """The style blend weights normalised to sum 1, one per style image."""
        raw = self.style_blend_weights or tuple(1.0 for _ in self.style_image)
        total = sum(raw)
        return tuple(w / total for w in raw)

    def to_dict(self) -> dict[str, Any]:
        """The options as plain JSON-ready data (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def defaults() -> dict[str, Any]:
    """The default of every option that has one, read from the dataclass."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Options):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
    return out


def option_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Options))


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise OptionError(message)


def validate(o: Options) -> None:
    """Raise OptionError naming the first option whose value cannot work."""
    _require(bool(o.content_image), "content_image: a content image is required")
    _require(len(o.style_image) > 0, "style_image: at least one style image is required")
    if o.style_blend_weights is not None:
        _require(
            len(o.style_blend_weights) == len(o.style_image),
            f"style_blend_weights: {len(o.style_blend_weights)} weights given for "
            f"{len(o.style_image)} style images",
        )
        _require(
            all(w >= 0 for w in o.style_blend_weights) and sum(o.style_blend_weights) > 0,
            "style_blend_weights: weights must be >= 0 and not all zero",
        )
    _require(o.image_size >= 16, f"image_size: {o.image_size} is below the minimum of 16 pixels")
    for name in ("content_weight", "style_weight", "tv_weight"):
        _require(getattr(o, name) >= 0, f"{name}: must be >= 0, got {getattr(o, name)}")
    _require(o.num_iterations >= 1, f"num_iterations: must be >= 1, got {o.num_iterations}")
    _require(o.init in INITS, f"init: must be one of {', '.join(INITS)}, got {o.init!r}")
    _require(
        o.optimizer in OPTIMIZERS,
        f"optimizer: must be one of {', '.join(OPTIMIZERS)}, got {o.optimizer!r}",
    )
    _require(o.learning_rate > 0, f"learning_rate: must be > 0, got {o.learning_rate}")
    _require(
        o.lbfgs_num_correction >= 1,
        f"lbfgs_num_correction: must be >= 1, got {o.lbfgs_num_correction}",
    )
    _require(o.print_iter >= 0, f"print_iter: must be >= 0, got {o.print_iter}")
    _require(o.save_iter >= 0, f"save_iter: must be >= 0, got {o.save_iter}")
    _require(o.style_scale > 0, f"style_scale: must be > 0, got {o.style_scale}")
    _require(o.pooling in POOLINGS, f"pooling: must be one of max, avg, got {o.pooling!r}")
    _require(o.seed >= -1, f"seed: must be >= 0, or -1 for a random seed, got {o.seed}")
    _require(len(o.content_layers) > 0 or len(o.style_layers) > 0, "no content or style layers")
    _require(
        o.device == "auto"
        or o.device in ("cpu", "cuda", "mps")
        or (o.device.startswith("cuda:") and o.device[5:].isdigit()),
        f"device: must be auto, cpu, cuda, cuda:N or mps, got {o.device!r}",
    )
    previous = 0
    for px in o.scales:
        _require(px >= 16, f"scales: {px} is below the minimum of 16 pixels")
        _require(px > previous, f"scales: must be ascending, got {list(o.scales)}")
        previous = px
    _require(
        previous < o.image_size,
        f"scales: each must be below image_size {o.image_size}, got {list(o.scales)}",
    )
    _require(
        len(o.scale_iterations) == 1 or len(o.scale_iterations) == len(o.scales),
        f"scale_iterations: give one count, or one per scale ({len(o.scales)}), "
        f"got {list(o.scale_iterations)}",
    )
    _require(
        all(n >= 1 for n in o.scale_iterations),
        f"scale_iterations: each must be >= 1, got {list(o.scale_iterations)}",
    )
    _require(
        o.precision in PRECISIONS,
        f"precision: must be one of {', '.join(PRECISIONS)}, got {o.precision!r}",
    )


def auto_scales(image_size: int) -> tuple[int, ...]:
    """The default ladder (`--scales auto`): image_size/4 and image_size/2, those >= 64 px."""
    return tuple(px for px in (image_size // 4, image_size // 2) if px >= 64)


def ladder(o: Options) -> tuple[tuple[int, int], ...]:
    """(longest side in px, iterations) of every scale in order; the last is image_size."""
    counts = (
        o.scale_iterations * len(o.scales) if len(o.scale_iterations) == 1 else o.scale_iterations
    )
    return (*zip(o.scales, counts, strict=True), (o.image_size, o.num_iterations))


def total_iterations(o: Options) -> int:
    """Iterations over every scale: what the loop numbers continuously."""
    return sum(n for _, n in ladder(o))


def batch_key(o: Options) -> tuple[Any, ...]:
    """Settings with equal keys differ only in loss weights and may run as one batch."""
    return tuple(
        (k, tuple(v) if isinstance(v, list) else v)
        for k, v in o.to_dict().items()
        if k not in BATCH_FIELDS and k != "output_image"
    )


def flag(name: str) -> str:
    """The readable command-line flag of an option: `style_weight` -> `--style-weight`."""
    return "--" + name.replace("_", "-")


def to_argv(o: Options, *, seed: int | None = None) -> list[str]:
    """`stylesweep stylize` arguments that reproduce `o`: inputs and every non-default option."""
    values = o.to_dict()
    if seed is not None:
        values["seed"] = seed
    base = defaults()
    argv: list[str] = []
    always = ("content_image", "style_image", "output_image", "seed")
    for name, value in values.items():
        if name not in always and name in base and _same(base[name], value):
            continue
        if value is None:
            continue
        if isinstance(value, bool):
            argv += [flag(name)] if value else [f"--no-{name.replace('_', '-')}"]
        elif isinstance(value, list):
            argv += [flag(name), *(str(v) for v in value)]
        else:
            argv += [flag(name), str(value)]
    return argv


def _same(default: Any, value: Any) -> bool:
    return (list(default) if isinstance(default, tuple) else default) == value
