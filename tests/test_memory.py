"""The memory and runtime estimates, and a run that cannot fit a GPU refused before it starts."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
from PIL import Image

from stylesweep import images, memory, runner
from stylesweep.errors import ResourceError
from stylesweep.memory import (
    ScalePlan,
    chain_work,
    estimate_memory_mb,
    eta_seconds,
    plan_memory,
    tiles_along,
)
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
        runner.run([opts], [runner.RunOutputs()])
    message = str(err.value)
    assert "2048x1365 image (image_size 2048)" in message
    assert "which has 1,024 MiB" in message
    assert "smaller image_size" in message and "adam" in message
    assert not built


# --- the scheduler's estimates ------------------------------------------------------------------


def engine(**changes) -> Options:
    return Options(**{"content_image": "c.png", "style_image": ("s.png",), **changes})


def test_the_job_memory_grows_with_the_images_and_the_batch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (600, 400)).save("c.png")
    Image.new("RGB", (300, 300)).save("s.png")
    mem = memory.estimate_mem_mb
    assert mem(engine(image_size=512)) > mem(engine(image_size=256)) > mem(engine(image_size=64))
    assert mem(engine(optimizer="adam")) < mem(engine())
    assert mem(engine(), batch=3) > mem(engine())
    assert mem(engine()) % 100 == 0


def test_an_unreadable_image_is_sized_as_a_square_not_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("c.png").write_bytes(b"not an image")
    Image.new("RGB", (256, 256)).save("s.png")
    assert memory.estimate_mem_mb(engine(image_size=256)) > 0


def test_a_batch_shares_the_fixed_memory():
    spec, opts = get_spec("random"), engine()
    one = memory.batch_memory_mb(spec, opts, (256, 256), [(256, 256)])
    three = memory.batch_memory_mb(spec, opts, (256, 256), [(256, 256)], batch=3)
    fixed = memory.batch_memory_mb(spec, opts, (0, 0), [])
    assert three - fixed == pytest.approx(3 * (one - fixed))


def test_the_job_runtime_grows_with_the_work():
    runtime = memory.estimate_runtime_min
    assert runtime(engine(image_size=512)) > runtime(engine(image_size=256))
    assert runtime(engine(), gpu=True) < runtime(engine())
    assert runtime(engine(scales=(128, 256))) > runtime(engine())
    assert runtime(engine(), batch=3) > runtime(engine())
    assert runtime(engine(image_size=32, num_iterations=6)) == 1


def test_a_gifs_memory_and_time_grow_with_its_frames(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (600, 400)).save("c.png")
    mem, minutes = memory.estimate_gif_mem_mb, memory.estimate_gif_runtime_min
    assert mem(engine(save_iter=10)) > mem(engine(save_iter=100)) >= mem(engine(save_iter=0))
    assert mem(engine(image_size=1024)) > mem(engine(image_size=512))
    assert mem(engine(scales=(128, 256))) > mem(engine())  # frames of every scale, at full size
    assert mem(engine(save_iter=0)) % 100 == 0 and mem(engine(save_iter=0)) <= 300
    assert minutes(engine(save_iter=1, image_size=1024)) > minutes(engine()) == 1


def test_a_sheets_memory_counts_its_header_images_and_cells(tmp_path):
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.new("RGB", (100, 100)).save(small)
    Image.new("RGB", (4000, 3000)).save(large)
    mem = memory.estimate_sheet_mem_mb
    assert mem([str(large)], 4, 256, 160) > mem([str(small)], 4, 256, 160) + 50
    assert mem([str(small)], 100, 512, 160) > mem([str(small)], 4, 512, 160)
    assert mem([str(tmp_path / "missing.png")], 4, 256, 160) > 0  # sized as a large square


def test_size_of_reads_the_header_upright(tmp_path):
    img = Image.new("RGB", (60, 40))
    exif = img.getexif()
    exif[0x0112] = 6  # turned a quarter: shown 40 wide, 60 high
    img.save(tmp_path / "turned.jpg", exif=exif)
    img.save(tmp_path / "plain.png")
    assert images.size_of(tmp_path / "turned.jpg") == (40, 60)
    assert images.size_of(tmp_path / "plain.png") == (60, 40)


def test_the_eta_weighs_each_scale_of_a_chain_by_the_pixels_it_evaluates():
    # 10 iterations at 128 px took 10 s; 10 at 256 px evaluate 4x the pixels each: 40 s more.
    opts = Options(
        content_image="c.png", style_image=("s.png",), model="random", image_size=256,
        num_iterations=10, scales=(128,), scale_iterations=(10,),
    )  # fmt: skip
    plan = plan_memory(get_spec("random"), opts, (256, 256), [(256, 256)], device_mb=24_000)
    work = chain_work(opts, plan)
    assert [last for last, _ in work] == [10, 20]
    assert eta_seconds(work, (0, 0.0), (10, 10.0), 20) == pytest.approx(40.0)
    assert eta_seconds(work, (12, 0.0), (15, 3.0), 20) == pytest.approx(5.0)


def test_a_tiled_scale_counts_the_moving_grids_extra_row_and_column():
    # 2 x 2 tiles unshifted; shifted by a random offset the grid covers up to 3 x 3.
    scale = ScalePlan(300, 300, 200, 50, 4, None, "lbfgs", 100, 0.0)
    assert tiles_along(300, 200, 50) == 2
    assert scale.megapixels == pytest.approx(9 * 200 * 200 / 1e6)
    # A tile as wide as the image is never shifted across: one column.
    wide = ScalePlan(200, 300, 200, 50, 2, None, "lbfgs", 100, 0.0)
    assert wide.megapixels == pytest.approx(3 * 200 * 200 / 1e6)
