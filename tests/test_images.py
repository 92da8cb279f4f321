"""Reading any image as RGB, sizes, saving, and original colours."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from stylesweep import colour, images, tensors
from stylesweep.errors import ImageError


def _grey_ramp(w: int = 8, h: int = 6) -> np.ndarray:
    return (np.arange(w * h).reshape(h, w) * 5).astype(np.uint8)


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("RGB", lambda a: Image.fromarray(np.stack([a, a, a], -1), "RGB")),
        ("L", lambda a: Image.fromarray(a, "L")),
        ("P", lambda a: Image.fromarray(a, "L").convert("P")),
        ("CMYK", lambda a: Image.fromarray(np.stack([a, a, a], -1), "RGB").convert("CMYK")),
        ("I;16", lambda a: Image.fromarray(a.astype(np.uint16) * 257)),
    ],
)
def test_any_mode_reads_as_rgb(tmp_path, mode, make):
    a = _grey_ramp()
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    make(a).save(path)
    img = images.load_image(path)
    assert img.mode == "RGB" and img.size == (8, 6)
    # grey stays grey, and the 16-bit values are scaled, not clipped at 255
    g = np.asarray(img)[..., 1].astype(int)
    assert np.abs(g - a).max() <= 2


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(tmp_path, mode):
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 3] = 0  # fully transparent black
    a[0, 0] = (0, 0, 0, 255)  # one opaque black pixel
    Image.fromarray(a, "RGBA").convert(mode).save(tmp_path / "a.png")
    out = np.asarray(images.load_image(tmp_path / "a.png"))
    assert tuple(out[0, 0]) == (0, 0, 0)
    assert tuple(out[3, 3]) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (6, 3), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert images.load_image(tmp_path / "r.jpg").size == (3, 6)


@pytest.mark.parametrize(
    ("size", "longest", "expected"),
    [((512, 256), 64, (64, 32)), ((300, 451), 100, (67, 100)), ((10, 10), 32, (32, 32))],
)
def test_resize_makes_the_longest_side_image_size(size, longest, expected):
    assert images.resize_longest(Image.new("RGB", size), longest).size == expected


def test_style_size_is_ceil_of_scale_times_image_size():
    assert images.style_size(512, 1.0) == 512
    assert images.style_size(100, 0.333) == 34


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.png", None, "file not found"),
        ("empty.png", b"", "file is empty"),
        ("text.jpg", b"this is not an image\n" * 20, "not an image Pillow can read"),
    ],
)
def test_bad_files_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=f"{name}: {message}"):
        images.load_image(path)


def test_truncated_png_is_reported(tmp_path):
    path = tmp_path / "t.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageError, match="t.png: corrupt or truncated"):
        images.load_image(path)


def test_save_picks_the_format_from_the_extension_and_leaves_no_temp(tmp_path):
    x = torch.rand(1, 3, 5, 7)
    images.save_image(tensors.to_image(x), tmp_path / "o.jpg")
    images.save_image(tensors.to_image(x), tmp_path / "o.png")
    assert Image.open(tmp_path / "o.jpg").format == "JPEG"
    assert Image.open(tmp_path / "o.png").format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jpg", "o.png"]
    back = tensors.to_tensor(Image.open(tmp_path / "o.png"))
    assert torch.allclose(back, x, atol=0.5 / 255 + 1e-6)


def test_yuv_round_trip():
    x = torch.rand(1, 3, 4, 4)
    assert torch.allclose(colour.yuv_to_rgb(colour.rgb_to_yuv(x)), x, atol=1e-5)


def test_original_colors_keeps_content_chroma_and_stylized_luminance():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 6, 6, generator=g) * 0.5 + 0.25
    stylized = torch.rand(1, 3, 6, 6, generator=g) * 0.5 + 0.25
    out = colour.rgb_to_yuv(colour.original_colors(content, stylized))
    assert torch.allclose(out[:, 0], colour.rgb_to_yuv(stylized)[:, 0], atol=1e-5)
    assert torch.allclose(out[:, 1:], colour.rgb_to_yuv(content)[:, 1:], atol=1e-5)


def test_saved_files_get_the_usual_permissions(tmp_path):
    images.save_image(tensors.to_image(torch.rand(1, 3, 4, 4)), tmp_path / "p.png")
    old = os.umask(0o022)
    os.umask(old)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o666 & ~old


def test_images_imports_no_torch():
    # The workflow's scheduler sizes jobs with images.size_of and must not pay for torch.
    code = "import sys, stylesweep.images; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _png_with_late_exif(path: Path, orientation: int) -> None:
    """A 60x40 PNG whose eXIf chunk follows the image data (as some tools write it)."""
    Image.new("RGB", (60, 40), (200, 30, 30)).save(path)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = exif.tobytes()
    chunk = len(data).to_bytes(4, "big") + b"eXIf" + data
    chunk += zlib.crc32(b"eXIf" + data).to_bytes(4, "big")
    raw = path.read_bytes()
    iend = raw.rindex(b"IEND") - 4
    path.write_bytes(raw[:iend] + chunk + raw[iend:])


def test_size_of_finds_a_late_png_exif_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "late.png"
    _png_with_late_exif(path, 6)
    assert images.load_image(path).size == (40, 60)  # upright, as the engine reads it

    def no_decoding(self, *args):
        raise AssertionError("pixel data decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    assert images.size_of(path) == (40, 60)


def test_size_of_reads_a_file_once_until_it_changes(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.new("RGB", (30, 20)).save(path)
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda p, *a, **k: opened.append(p) or real_open(p, *a, **k))
    assert [images.size_of(path) for _ in range(3)] == [(30, 20)] * 3
    assert len(opened) == 1
    Image.new("RGB", (16, 24)).save(path)  # another size: another file
    assert images.size_of(path) == (16, 24) and len(opened) == 2
