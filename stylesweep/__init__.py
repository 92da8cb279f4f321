"""stylesweep: neural style transfer as experiments."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    FetchError,
    ImageError,
    ModelError,
    NumericalError,
    OptionError,
    StyleSweepError,
)
from .losses import content_loss, gram, style_loss, tv_loss  # noqa: E402
from .models import REGISTRY, ModelSpec, build_extractor, get_spec  # noqa: E402
from .options import Options  # noqa: E402
from .runner import RunResult, run  # noqa: E402
from .transfer import Progress, Result, stylize  # noqa: E402

__all__ = [
    "REGISTRY",
    "FetchError",
    "ImageError",
    "ModelError",
    "ModelSpec",
    "NumericalError",
    "OptionError",
    "Options",
    "Progress",
    "Result",
    "RunResult",
    "StyleSweepError",
    "__version__",
    "build_extractor",
    "content_loss",
    "get_spec",
    "gram",
    "run",
    "style_loss",
    "stylize",
    "tv_loss",
]
