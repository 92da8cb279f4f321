"""Print output (16 bits, alpha, ICC) and the print options: scales auto, max_memory."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import tiny_options
from PIL import Image, ImageCms

from stylesweep import cli, images, runner
from stylesweep.errors import OptionError
from stylesweep.options import Options, auto_scale_iterations, auto_scales, ladder, parse_memory

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _ramp(width: int = 1000) -> np.ndarray:
    """A smooth horizontal gradient, (4, width, 3) floats in [0, 1]."""
    return np.broadcast_to(np.linspace(0, 1, width)[None, :, None], (4, width, 3)).copy()


def _read16(path) -> np.ndarray:
    if str(path).endswith(".png"):
        import cv2

        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # BGR(A), uint16
    return tifffile.imread(path)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_16_bit_output_keeps_more_than_256_levels_of_a_smooth_gradient(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    images.save_image16(_ramp(), path)
    a = _read16(path)
    assert a.dtype == np.uint16 and a.shape == (4, 1000, 3)
    assert len(np.unique(a[..., 0])) > 256
    assert a[0, 0, 0] == 0 and a[0, -1, 0] == 65535


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_alpha_and_the_icc_profile_survive_a_16_bit_output(tmp_path, suffix):
    alpha = np.tile(np.linspace(0, 255, 10).astype(np.uint8), (2, 1))  # resized to 1000 x 4
    path = tmp_path / f"out{suffix}"
    images.save_image16(_ramp(), path, alpha=alpha, icc=ICC)
    a = _read16(path)
    assert a.shape == (4, 1000, 4) and a[0, 0, 3] == 0 and a[0, -1, 3] == 65535
    with Image.open(path) as img:
        assert img.info.get("icc_profile") == ICC


def test_a_run_puts_the_contents_alpha_and_profile_back(tiny_images, tmp_path):
    content = tmp_path / "rgba.png"
    rgba = Image.open(tiny_images["content"]).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    rgba.save(content, icc_profile=ICC)
    images_ = {**tiny_images, "content": content}
    for name, depth in (("a.png", 8), ("c.tif", 16)):
        out = tmp_path / name
        opts = tiny_options(images_, num_iterations=1, output_image=str(out), output_depth=depth)
        runner.run_one(opts)
        with Image.open(out) as img:
            assert img.info.get("icc_profile") == ICC, name
            assert img.mode in ("RGBA", "RGBa"), (name, img.mode)
    plain = tmp_path / "d.png"
    runner.run_one(
        tiny_options(images_, num_iterations=1, output_image=str(plain), keep_alpha=False)
    )
    with Image.open(plain) as img:
        assert img.mode == "RGB"


def test_16_bits_need_a_png_or_tiff():
    with pytest.raises(OptionError, match="output_depth: 16 bits need a .png or .tif"):
        Options(content_image="c", style_image=("s",), output_image="x.jpg", output_depth=16)


@pytest.mark.parametrize(
    ("text", "mib"), [("6G", 6144.0), ("512M", 512.0), ("1.5GiB", 1536.0), ("2048", 2048.0)]
)
def test_max_memory_reads_binary_sizes(text, mib):
    assert parse_memory(text) == mib


@pytest.mark.parametrize("bad", ["lots", "-1G", "0", "6X"])
def test_a_bad_max_memory_names_the_option(bad):
    with pytest.raises(OptionError, match="^max_memory: must be a size such as 6G"):
        Options(content_image="c", style_image=("s",), max_memory=bad)


def test_scales_auto_above_1024_px_is_neural_styles_print_recipe():
    assert auto_scales(3620) == (256, 512, 1024, 2048)
    assert auto_scale_iterations((256, 512, 1024, 2048, 4096)) == (1000, 500, 200, 100, 50)
    assert auto_scales(1024) == (256, 512)  # up to 1024 px: image_size / 4 and / 2
    args = cli.build_parser().parse_args(
        ["stylize", "--content-image", "c", "--style-image", "s", "--image-size", "4096",
         "--scales", "auto", "--num-iterations", "50"]
    )  # fmt: skip
    opts = cli.options_from_args(args)
    assert ladder(opts) == ((256, 1000), (512, 500), (1024, 200), (2048, 100), (4096, 50))
