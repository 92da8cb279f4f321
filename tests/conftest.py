"""Shared fixtures: tiny seeded images, the random model, RNG isolation, the needs_cuda mark."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from stylesweep import checkpoint, transfer
from stylesweep.models import build_extractor, get_spec
from stylesweep.options import Options
from stylesweep.tensors import load_tensor


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none here")
    for item in items:
        if "needs_cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _restore_rng():
    """Tests may seed freely: every RNG is put back afterwards."""
    torch_state = torch.get_rng_state()
    py_state = random.getstate()
    np_state = np.random.get_state()
    yield
    torch.set_rng_state(torch_state)
    random.setstate(py_state)
    np.random.set_state(np_state)


def make_image(path: Path, size: tuple[int, int], seed: int, mode: str = "RGB") -> Path:
    """A smooth seeded picture with some texture: gradients plus noise, saved at `path`."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack(
        [xx / max(w - 1, 1), yy / max(h - 1, 1), 0.5 + 0.5 * np.sin((xx + yy) / 3 + seed)], -1
    )
    a = np.clip(base * 200 + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(a, "RGB").convert(mode).save(path)
    return path


@pytest.fixture
def tiny_images(tmp_path: Path) -> dict[str, Path]:
    """content (48x32), style_a (40x40), style_b (32x44): PNGs in tmp_path."""
    return {
        "content": make_image(tmp_path / "content.png", (48, 32), 1),
        "style_a": make_image(tmp_path / "style_a.png", (40, 40), 2),
        "style_b": make_image(tmp_path / "style_b.png", (32, 44), 3),
    }


@pytest.fixture(scope="session")
def random_extractor():
    """The random stand-in VGG-19, cut after relu5_1, with neural-style's default layers."""
    spec = get_spec("random")
    layers = ("relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    return build_extractor(spec, layers)


# A fast run on the tiny images: what most engine tests start from, changed per test.
TINY_RUN = dict(image_size=32, num_iterations=20, print_iter=0, save_iter=0, model="random")


def tiny_options(images: dict[str, Path], **changes) -> Options:
    """Options for the tiny content and style_a with TINY_RUN, then `changes`."""
    base = dict(content_image=str(images["content"]), style_image=(str(images["style_a"]),))
    return Options(**{**base, **TINY_RUN, **changes})


def tiny_tensors(
    images: dict[str, Path], size: int = 32, styles: tuple[str, ...] = ("style_a",)
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The content and the `styles` as (1, 3, H, W) tensors, longest side `size`."""

    return load_tensor(images["content"], size), [load_tensor(images[k], size) for k in styles]


def stylize_one(
    opts: Options,
    extractor,
    convention: str,
    content: torch.Tensor,
    styles: list[torch.Tensor],
    *,
    callback=None,
    **kw,
) -> transfer.Result:
    """The engine for one setting: `transfer.stylize` takes a list of them."""
    results = transfer.stylize(
        [opts], extractor, convention, content, styles, callbacks=[callback], **kw
    )
    return results[0]


class Killed(BaseException):
    """A kill in the middle of a run: a BaseException, which none of the runner's handlers catch."""


@contextlib.contextmanager
def killed_after_checkpoint(
    monkeypatch: pytest.MonkeyPatch, at: Callable[[str, Any], bool]
) -> Iterator[None]:
    """Inside the block a checkpoint is saved, then the run killed where `at(path, state)`
    holds; the block must end by that kill. The real save is back afterwards."""
    save = checkpoint.save

    def save_then_die(path, *args):
        save(path, *args)
        if at(str(path), args[-1]):
            raise Killed

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    try:
        with pytest.raises(Killed):
            yield
    finally:
        monkeypatch.setattr(checkpoint, "save", save)
