"""The options of one style transfer: the single home of each option's default, help and range."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import OptionError
from .registry import REGISTRY

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("random", "image")
POOLINGS = ("max", "avg")
PRECISIONS = ("fp32", "tf32", "bf16")
COLOR_CONTROLS = ("none", "luminance", "histogram")
HISTOGRAM_MATCHES = ("chol", "pca", "sym")
COLOR_SPACES = ("yuv", "ycbcr", "lab", "luv")
# What settings may differ by and still be optimized together, one batch (transfer.stylize).
BATCH_FIELDS = ("content_weight", "style_weight", "tv_weight")
# A layer name of the VGG tables; the schema checks it, the model checks it against its layers.
LAYER_PATTERN = "^(conv|relu)[1-5]_[1-4]$|^pool[1-5]$"

# The keys of a field's metadata. validate() checks the ranges; the CLI and the schema read all.
# help: what the option does (the CLI's help and the schema's description).
# cli_help: words only the command line needs (spellings it alone accepts).
# minimum, exclusive_minimum: the value is >= or > this. unit: says it in the error ("pixels").
# choices: the value is one of these. item_minimum: each item of a tuple is >= this.
# schema: extra JSON-schema keywords for the config that validate() leaves to others (layer names
#   are checked against the model, with a better message; ascending scales in validate()).
RANGES = ("minimum", "exclusive_minimum", "choices", "item_minimum")
METADATA = ("help", "cli_help", "unit", "schema", *RANGES)


def _meta(text: str, **more: Any) -> dict[str, Any]:
    """A field's metadata: its help `text` and more; an unknown key is a typo, refused at import."""
    unknown = set(more) - set(METADATA)
    if unknown:
        raise TypeError(f"unknown option metadata {sorted(unknown)}")
    return {"help": text, **more}


_LAYERS = {"uniqueItems": True, "items": {"pattern": LAYER_PATTERN}}


@dataclass(frozen=True)
class Options:
    """Every option of a run, with neural-style's names, meanings and defaults.

    Where a default departs from neural-style the field's comment says so. Each field's metadata
    holds its help and range (see METADATA): the CLI's flags and the config schema come from it.
    """

    content_image: str = field(metadata=_meta("the content image"))
    style_image: tuple[str, ...] = field(metadata=_meta("one or more style images"))
    # None = equal weights; always normalised to sum 1.
    style_blend_weights: tuple[float, ...] | None = field(
        default=None,
        metadata=_meta(
            "one weight per style image, normalised to sum 1; None: equal weights",
            cli_help="neural-style's 'nil' means None",
        ),
    )
    # Longest side of the output, in pixels.
    image_size: int = field(
        default=512,
        metadata=_meta("longest side of the output, in pixels", minimum=16, unit="pixels"),
    )
    content_weight: float = field(
        default=5.0, metadata=_meta("weight of the content loss", minimum=0)
    )
    style_weight: float = field(
        default=100.0, metadata=_meta("weight of the style loss", minimum=0)
    )
    tv_weight: float = field(
        default=1e-3,
        metadata=_meta("weight of the total-variation loss (smoothness)", minimum=0),
    )
    num_iterations: int = field(
        default=1000,
        metadata=_meta("number of iterations (function evaluations)", minimum=1),
    )
    normalize_gradients: bool = field(
        default=False,
        metadata=_meta("L1-normalise each loss term's gradient (neural-style's meaning)"),
    )
    init: str = field(
        default="random",
        metadata=_meta(
            "start from random noise or from the image (init_image, else the content)",
            choices=INITS,
        ),
    )
    init_image: str | None = field(
        default=None, metadata=_meta("image to start from when init is image; None: the content")
    )
    optimizer: str = field(default="lbfgs", metadata=_meta("lbfgs or adam", choices=OPTIMIZERS))
    learning_rate: float = field(
        default=10.0, metadata=_meta("Adam's learning rate", exclusive_minimum=0)
    )
    # neural-style's 0 means optim's default history of 100; we state the 100.
    lbfgs_num_correction: int = field(default=100, metadata=_meta("L-BFGS history size", minimum=1))
    # stylesweep additions, artistic-videos' early stop (-tol_loss_relative and
    # -tol_loss_relative_interval, whose defaults there are 1e-4 and 50): every window
    # iterations of the final scale, stop when the total loss moved by less than tol x the
    # loss window iterations before. Off by default, as in neural-style, which always runs
    # num_iterations.
    tol_loss_relative: float = field(
        default=0.0,
        metadata=_meta(
            "stop when the total loss changed by less than this fraction of itself over the "
            "last tol_loss_window iterations (0: off, run num_iterations)",
            minimum=0,
        ),
    )
    tol_loss_window: int = field(
        default=50,
        metadata=_meta(
            "iterations between two checks of tol_loss_relative (artistic-videos' "
            "tol_loss_relative_interval)",
            minimum=1,
        ),
    )
    print_iter: int = field(
        default=50,
        metadata=_meta("print progress every N iterations (0: only the last)", minimum=0),
    )
    save_iter: int = field(
        default=100,
        metadata=_meta("save an intermediate image every N iterations (0: none)", minimum=0),
    )
    output_image: str = field(
        default="out.png",
        metadata=_meta("where the final image goes; the format follows the extension"),
    )
    # The style image's longest side is style_scale x image_size.
    style_scale: float = field(
        default=1.0,
        metadata=_meta("style images are resized to style_scale x image_size", exclusive_minimum=0),
    )
    original_colors: bool = field(
        default=False,
        metadata=_meta(
            "keep the content's colours: the result's luminance with the content's chroma in "
            "color_space, after the optimization"
        ),
    )
    # stylesweep additions, colour control (Gatys et al. 2017, "Controlling Perceptual Factors
    # in Neural Style Transfer"). luminance: content and style as their luminance (the style's
    # moved to the content's mean and std), the optimization on one luminance channel repeated
    # to three for the network, the content's chroma put back. histogram: each style's colours
    # mapped linearly onto the content's mean and covariance before its Gram targets.
    color_control: str = field(
        default="none",
        metadata=_meta(
            "none; luminance (transfer on luminance only, the content's chroma kept); "
            "histogram (each style's colours matched to the content's first)",
            choices=COLOR_CONTROLS,
        ),
    )
    # sym by default: unlike chol it does not depend on the order of R, G and B, and unlike pca
    # on the signs of eigenvectors; it is the linear map that moves the colours least.
    histogram_match: str = field(
        default="sym",
        metadata=_meta(
            "the linear colour map of color_control histogram: chol (Cholesky), pca (eigen) "
            "or sym (symmetric square root)",
            choices=HISTOGRAM_MATCHES,
        ),
    )
    # yuv is neural-style's space for original_colors (Torch's BT.601 YUV).
    color_space: str = field(
        default="yuv",
        metadata=_meta(
            "the space of original_colors and color_control luminance: yuv, ycbcr (both BT.601 "
            "luma), lab or luv (CIE, D65)",
            choices=COLOR_SPACES,
        ),
    )
    pooling: str = field(
        default="max", metadata=_meta("max or avg pooling in the network", choices=POOLINGS)
    )
    # None = the registry's file for `model`.
    model_file: str | None = field(
        default=None, metadata=_meta("a weight file to use instead of the registry's")
    )
    # Departure: neural-style's default is -1 (random); ours is fixed so reruns repeat. -1 still
    # means a fresh random seed, which is recorded.
    seed: int = field(
        default=0,
        metadata=_meta("random seed; -1 picks a random one (recorded in run.json)", minimum=-1),
    )
    content_layers: tuple[str, ...] = field(
        default=("relu4_2",),
        metadata=_meta("layers for the content loss", schema=_LAYERS),
    )
    style_layers: tuple[str, ...] = field(
        default=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        metadata=_meta("layers for the style loss", schema=_LAYERS),
    )
    # stylesweep additions: a registry name and the device (auto|cpu|cuda|cuda:N|mps).
    # The registry checks the model's name: tests and users may add models to it.
    model: str = field(
        default="vgg19", metadata=_meta(f"model from the registry: {', '.join(REGISTRY)}")
    )
    device: str = field(
        default="auto",
        metadata=_meta("auto, cpu, cuda, cuda:N or mps (auto: CUDA when present)"),
    )
    # stylesweep addition, coarse-to-fine: longest sides (px, ascending, each below image_size)
    # optimized before image_size, each starting from the previous result upsampled. Empty is
    # neural-style's single scale. `scale_iterations`: one count per scale, or one for all.
    scales: tuple[int, ...] = field(
        default=(),
        metadata=_meta(
            "coarse-to-fine: smaller longest sides (px, ascending) optimized before "
            "image_size, each from the previous result",
            cli_help="'auto' is image_size/4 and /2 (those >= 64); above 1024 px neural-style's "
            "print recipe, 256, 512, 1024, ... below image_size",
            item_minimum=16,
            unit="pixels",
            schema={"uniqueItems": True},
        ),
    )
    scale_iterations: tuple[int, ...] = field(
        default=(200,),
        metadata=_meta(
            "iterations at each of scales (one count for all, or one per scale)",
            cli_help="'auto' (the default with scales auto above 1024 px) is the print "
            "recipe's 1000 at 256 px falling to 50 at 4096 px",
            item_minimum=1,
            schema={"minItems": 1},
        ),
    )
    # stylesweep additions, print output: 16 bits per channel from the floats (neural-style
    # saves 8), and the content's alpha put back on a PNG or TIFF (it is composited on white
    # for the network). The content's ICC profile is always carried over.
    output_depth: int = field(
        default=8,
        metadata=_meta(
            "bits per channel of output_image: 8, or 16 (PNG or TIFF, straight from the floats)",
            choices=(8, 16),
        ),
    )
    keep_alpha: bool = field(
        default=True,
        metadata=_meta("put the content's alpha channel back on a PNG or TIFF output_image"),
    )
    # stylesweep additions, print sizes: a memory cap and the tiles that keep a scale under it
    # (memory.plan_memory); neural-style has neither and runs out of memory instead.
    max_memory: str | None = field(
        default=None,
        metadata=_meta(
            "memory a run may use, e.g. 6G or 512M (a bare number is MiB); a scale that does "
            "not fit runs in tiles, with less L-BFGS history or Adam; None: the device's "
            "memory less a margin",
            schema={"pattern": "^[0-9]+(\\.[0-9]+)?[ ]*([kKmMgGtT]i?[bB]?)?$"},
        ),
    )
    tile_size: int | None = field(
        default=None,
        metadata=_meta(
            "side of the tiles in px for every scale larger than it; None: tiles only where "
            "a scale does not fit in max_memory, as large as fit",
            minimum=32,
            unit="pixels",
        ),
    )
    # stylesweep addition, GPU fast path: fp32 (IEEE, as neural-style), tf32 (TF32 tensor cores
    # for convolutions and matmuls on GPUs that have them), bf16 (the network under bfloat16
    # autocast; losses and optimizer state stay fp32). fp32 until measured on a GPU (bench/).
    precision: str = field(
        default="fp32",
        metadata=_meta(
            "fp32, tf32 (TF32 tensor cores on CUDA) or bf16 (network under bfloat16 "
            "autocast; losses and optimizer in fp32)",
            choices=PRECISIONS,
        ),
    )
    # cuDNN's autotuner (neural-style's -cudnn_autotune); off by default: it may pick
    # nondeterministic algorithms.
    cudnn_benchmark: bool = field(
        default=False,
        metadata=_meta("let cuDNN autotune its convolution algorithms (may be nondeterministic)"),
    )

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


def check_range(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    """Raise OptionError if `value` is outside the range in option `name`'s metadata."""

    def below(low: Any, got: Any, shown: Any, each: str = "") -> None:
        # With a unit the message names the bad value itself: "8 is below the minimum of 16 pixels".
        if got < low:
            unit = meta.get("unit")
            words = f"{got} is below the minimum of {low} {unit}" if unit else ""
            raise OptionError(f"{name}: {words or f'{each}must be >= {low}, got {shown}'}")

    if "minimum" in meta:
        below(meta["minimum"], value, value)
    if "exclusive_minimum" in meta and not value > meta["exclusive_minimum"]:
        raise OptionError(f"{name}: must be > {meta['exclusive_minimum']}, got {value}")
    if "choices" in meta and value not in meta["choices"]:
        choices = ", ".join(map(str, meta["choices"]))
        raise OptionError(f"{name}: must be one of {choices}, got {value!r}")
    for item in value if "item_minimum" in meta else ():
        below(meta["item_minimum"], item, list(value), "each ")


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
    # Each option's own range, from its metadata; then what ties options together.
    for f in dataclasses.fields(o):
        value = getattr(o, f.name)
        if value is not None:
            check_range(f.name, value, f.metadata)
    _require(len(o.content_layers) > 0 or len(o.style_layers) > 0, "no content or style layers")
    _require(
        o.device == "auto"
        or o.device in ("cpu", "cuda", "mps")
        or (o.device.startswith("cuda:") and o.device[5:].isdigit()),
        f"device: must be auto, cpu, cuda, cuda:N or mps, got {o.device!r}",
    )
    _require(
        list(o.scales) == sorted(set(o.scales)),
        f"scales: must be ascending, got {list(o.scales)}",
    )
    _require(
        not o.scales or o.scales[-1] < o.image_size,
        f"scales: each must be below image_size {o.image_size}, got {list(o.scales)}",
    )
    if o.max_memory is not None:
        parse_memory(o.max_memory)
    _require(
        o.output_depth == 8 or o.output_image.lower().endswith((".png", ".tif", ".tiff")),
        f"output_depth: 16 bits need a .png or .tif output_image, got {o.output_image!r}",
    )
    _require(
        len(o.scale_iterations) == 1 or len(o.scale_iterations) == len(o.scales),
        f"scale_iterations: give one count, or one per scale ({len(o.scales)}), "
        f"got {list(o.scale_iterations)}",
    )


_UNITS = {"": 1.0, "k": 2.0**-10, "m": 1.0, "g": 2.0**10, "t": 2.0**20}


def parse_memory(text: str) -> float:
    """A memory size in MiB: `6G`, `512M`, `1.5GiB`, `2048` (MiB); binary units."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise OptionError(f"max_memory: must be a size such as 6G or 512M, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


# neural-style's print recipe (examples/multigpu_scripts/starry_stanford.sh): 256, 512, 1024,
# 2048 px and on, each from the previous result, iterations falling as the size grows.
PRINT_ITERATIONS = {256: 1000, 512: 500, 1024: 200, 2048: 100}
PRINT_MIN_ITERATIONS = 50
# Sizes above this take the print recipe by default (`--scales auto`, the workflow's renders).
PRINT_RECIPE_ABOVE = 1024


def auto_scales(image_size: int) -> tuple[int, ...]:
    """The default ladder (`--scales auto`): image_size/4 and image_size/2, those >= 64 px;
    above 1024 px neural-style's print recipe, 256, 512, 1024, ... below image_size."""
    if image_size > PRINT_RECIPE_ABOVE:
        return tuple(256 * 2**k for k in range(8) if 256 * 2**k < image_size)
    return tuple(px for px in (image_size // 4, image_size // 2) if px >= 64)


def auto_scale_iterations(scales: tuple[int, ...]) -> tuple[int, ...]:
    """Iterations per scale of the print recipe: 1000 at 256 px falling to 50 at 4096 and up."""
    return tuple(PRINT_ITERATIONS.get(px, PRINT_MIN_ITERATIONS) for px in scales)


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
