"""The options of one style transfer and their defaults: the single place a default lives."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import OptionError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("random", "image")
POOLINGS = ("max", "avg")


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
    # Record of how the run was asked for; filled by the CLI, not part of the maths.
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

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
        """The options as plain JSON-ready data (tuples become lists; `extra` left out)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def defaults() -> dict[str, Any]:
    """The default of every option that has one, read from the dataclass."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Options):
        if f.name == "extra":
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
    return out


def option_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Options) if f.name != "extra")


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
