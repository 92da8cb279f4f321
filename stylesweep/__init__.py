"""stylesweep: neural style transfer as experiments."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module defining it, imported on first use: the workflow's parse and its
# GIF, sheet and plot jobs import stylesweep.sweep or stylesweep.present, and must not pay
# seconds for torch each time.
_EXPORTS = {
    "FetchError": "errors",
    "ImageError": "errors",
    "ModelError": "errors",
    "NumericalError": "errors",
    "OptionError": "errors",
    "StyleSweepError": "errors",
    "content_loss": "losses",
    "gram": "losses",
    "style_loss": "losses",
    "tv_loss": "losses",
    "REGISTRY": "registry",
    "ModelSpec": "registry",
    "build_extractor": "models",
    "get_spec": "registry",
    "Options": "options",
    "RunOutputs": "runner",
    "RunResult": "runner",
    "run": "runner",
    "run_one": "runner",
    "Progress": "transfer",
    "Result": "transfer",
    "stylize": "transfer",
}

if TYPE_CHECKING:
    from .errors import (
        FetchError,
        ImageError,
        ModelError,
        NumericalError,
        OptionError,
        StyleSweepError,
    )
    from .losses import content_loss, gram, style_loss, tv_loss
    from .models import build_extractor
    from .options import Options
    from .registry import REGISTRY, ModelSpec, get_spec
    from .runner import RunOutputs, RunResult, run, run_one
    from .transfer import Progress, Result, stylize


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
    "RunOutputs",
    "RunResult",
    "StyleSweepError",
    "__version__",
    "build_extractor",
    "content_loss",
    "get_spec",
    "gram",
    "run",
    "run_one",
    "style_loss",
    "stylize",
    "tv_loss",
]
