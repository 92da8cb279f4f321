"""The memory estimate, and a run that cannot fit a GPU refused before it starts."""

from __future__ import annotations

import types

import pytest
import torch

from stylesweep import runner
from stylesweep.errors import ResourceError
from stylesweep.memory import estimate_memory_mb
from stylesweep.options import Options
from stylesweep.registry import get_spec


def _opts(**kw) -> Options:
    return Options(content_image="c.png", style_image=("s.png",), model="random", **kw)


def test_the_estimate_grows_with_the_image_and_the_lbfgs_history():
    spec = get_spec("random")

    def est(size, **kw):
        return estimate_memory_mb(spec, _opts(**kw), (size, size), [(size, size)])

    assert est(128) < est(256) < est(512)
    # activations and history scale with the pixels: 4x the pixels, close to 4x the growth
    growth_small, growth_large = est(256) - est(128), est(512) - est(256)
    assert 3.5 < growth_large / growth_small < 4.5
    assert est(512, optimizer="adam") < est(512)
    assert est(512, lbfgs_num_correction=10) < est(512)
    shallow = est(512, style_layers=("relu1_1",), content_layers=("relu1_1",))
    assert shallow < est(512)


def test_a_run_too_big_for_the_gpu_is_refused_before_it_starts(tiny_images, monkeypatch):
    gib = 2**30
    monkeypatch.setattr(runner, "resolve_device", lambda name: torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda d: types.SimpleNamespace(total_memory=gib)
    )
    built = []
    monkeypatch.setattr(runner, "build_extractor", lambda *a, **k: built.append(1))
    opts = Options(
        content_image=str(tiny_images["content"]),
        style_image=(str(tiny_images["style_a"]),),
        image_size=2048,
        model="random",
        device="cuda",
    )
    with pytest.raises(ResourceError) as err:
        runner.run(opts)
    message = str(err.value)
    assert "2048x1365 image (image_size 2048)" in message
    assert "which has 1,024 MiB" in message
    assert "smaller image_size" in message and "adam" in message
    assert not built
