"""Bad input, one row each: one line naming the file and the problem, exit 2, no output left.

Adding a case means adding a row to BAD_IMAGES (or GOOD_IMAGES for files that must work).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_image
from PIL import Image

from stylesweep import cli


def _png_claiming(w: int, h: int) -> bytes:
    """A tiny PNG whose header claims w x h pixels: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + (chunk(b"IEND", b""))
    )


def _encoded(fmt: str, size=(64, 64)) -> bytes:
    a = np.random.default_rng(0).integers(0, 255, (*size[::-1], 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format=fmt)
    return buf.getvalue()


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


BAD_IMAGES: list[tuple[str, str, Callable[[Path], None] | None, str]] = [
    # (file name, used as, how to make it (None: missing), expected message after the path)
    ("missing.png", "content", None, "file not found"),
    ("empty.png", "content", _write(b""), "file is empty"),
    ("truncated.png", "style", _write(_encoded("PNG")[:3000]), "corrupt or truncated image"),
    ("truncated.jpg", "content", _write(_encoded("JPEG")[:900]), "corrupt or truncated image"),
    ("notes.jpg", "style", _write(b"shopping list: eggs, milk\n" * 40), "not an image Pillow"),
    ("bomb.png", "content", _write(_png_claiming(50000, 50000)), "refused before decoding"),
    ("sliver.png", "content", lambda p: make_image(p, (400, 4), 5), "the model needs at least 16"),
    ("folder.png", "style", lambda p: p.mkdir(), "not a file"),
]


def _stylize(tmp_path: Path, content: Path, style: Path, *extra: str) -> int:
    out = tmp_path / "out" / "result.png"
    return cli.main(
        ["stylize", "--content-image", str(content), "--style-image", str(style),
         "--output-image", str(out), "--image-size", "32", "--num-iterations", "2",
         "--save-iter", "1", "--model", "random", *extra]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "role", "make", "message"), BAD_IMAGES, ids=[row[0] for row in BAD_IMAGES]
)
def test_a_bad_image_is_one_line_exit_2_and_no_output(
    tiny_images, tmp_path, capsys, name, role, make, message
):
    bad = tmp_path / name
    if make is not None:
        make(bad)
    content = bad if role == "content" else tiny_images["content"]
    style = bad if role == "style" else tiny_images["style_a"]
    assert _stylize(tmp_path, content, style) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"stylesweep stylize: error: {bad}: "), err[0]
    assert message in err[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


BAD_OPTIONS = [
    (["--image-size", "8"], "image_size: 8 is below the minimum of 16 pixels"),
    (["--style-weight", "-1"], "style_weight: must be >= 0, got -1.0"),
    (["--style-layers", "relu9_1"], "style_layers: model random has no layer 'relu9_1'"),
    (["--model", "alexnet"], "model: unknown model 'alexnet'"),
    (["--optimizer", "sgd"], "optimizer: must be one of lbfgs, adam, got 'sgd'"),
    (["--style-scale", "0.1"], "the model needs at least 16 pixels"),
    (["--style-blend-weights", "1", "2"], "style_blend_weights: 2 weights given for 1 style"),
    (["--device", "tpu"], "device: must be auto, cpu, cuda, cuda:N or mps"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_OPTIONS, ids=[r[0][0] for r in BAD_OPTIONS])
def test_a_bad_option_is_one_line_exit_2_and_no_output(
    tiny_images, tmp_path, capsys, extra, message
):
    assert _stylize(tmp_path, tiny_images["content"], tiny_images["style_a"], *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    "make",
    [
        lambda p: (p.write_bytes(_encoded("PNG")[:2000]), p)[1],  # truncated
        lambda p: (p.write_bytes(b"\x80\x02}q\x00."), p)[1],  # a pickle of an empty dict
        lambda p: (torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3)}, p), p)[1],
    ],
    ids=["not-torch", "empty-dict", "other-model"],
)
def test_a_bad_weight_file_is_one_line_exit_2(tiny_images, tmp_path, capsys, make):
    weights = make(tmp_path / "vgg19-d01eb7cb.pth")
    code = _stylize(
        tmp_path, tiny_images["content"], tiny_images["style_a"], "--model", "vgg19",
        "--model-file", str(weights),
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(weights) in err[0], err


GOOD_IMAGES = [
    ("with spaces.png", "RGB"),
    ("ünïcødé café.png", "RGB"),
    ("several.dots.in.name.png", "RGB"),
    ("palette.gif", "P"),
    ("grey.png", "L"),
    ("alpha.png", "RGBA"),
    ("grey-alpha.png", "LA"),
    ("print.tiff", "CMYK"),
]


@pytest.mark.parametrize(("name", "mode"), GOOD_IMAGES)
def test_awkward_but_valid_files_work(tiny_images, tmp_path, name, mode):
    path = make_image(tmp_path / name, (40, 30), 4, mode=mode)
    assert _stylize(tmp_path, path, tiny_images["style_a"]) == 0
    assert (tmp_path / "out" / "result.png").is_file()


def test_an_animated_gif_gives_its_first_frame_with_a_warning(tiny_images, tmp_path, caplog):
    frames = [Image.new("RGB", (40, 30), c) for c in ("red", "blue", "green")]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    assert _stylize(tmp_path, gif, tiny_images["style_a"]) == 0
    assert "anim.gif: has 3 frames; using the first" in caplog.text
