"""Image files with Pillow alone, no torch: read, size, resize, save; failures name the file."""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .atomic import atomic_path
from .errors import ImageError

log = logging.getLogger(__name__)

# Pillow refuses, before decoding, a file that claims more than 2 x MAX_IMAGE_PIXELS (about
# 179 megapixels): a decompression bomb is a small file claiming a huge size.


def _flatten_alpha(img: Image.Image) -> Image.Image:
    # Transparent regions become white: the usual expectation for artwork and logos.
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # Pillow's own conversion clips 16-bit values at 255; scale them down instead.
        a = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        if mode == "F":
            peak = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        a8 = np.clip(np.rint(a / peak * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(a8, mode="L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        return _flatten_alpha(img)
    return img.convert("RGB")


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Read any image Pillow reads as RGB, with its EXIF orientation applied.

    Alpha is composited on white; 16-bit images are scaled, not clipped; an animated image
    gives its first frame with a warning. Raises ImageError naming the file otherwise.
    """
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: file not found")
    if not p.is_file():
        raise ImageError(f"{p}: not a file")
    if p.stat().st_size == 0:
        raise ImageError(f"{p}: file is empty")
    try:
        with warnings.catch_warnings():
            # Large but allowed images (over 89 megapixels) only warn; that is not our concern.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as opened:
                frames = int(getattr(opened, "n_frames", 1))
                if frames > 1:
                    log.warning("%s: has %d frames; using the first", p, frames)
                    opened.seek(0)
                opened.load()
                return _to_rgb(ImageOps.exif_transpose(opened))
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{p}: refused before decoding: {exc}") from exc
    except PermissionError as exc:
        raise ImageError(f"{p}: cannot be read (permission denied)") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageError(f"{p}: not an image Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{p}: corrupt or truncated image ({exc})") from exc


def scaled_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """(width, height) scaled so that the longest side is `longest`, aspect kept."""
    w, h = size
    scale = longest / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def resize_longest(img: Image.Image, longest: int) -> Image.Image:
    """Resize so the longest side is `longest` pixels (bilinear, as neural-style's image.scale)."""
    target = scaled_size(img.size, longest)
    if target == img.size:
        return img
    return img.resize(target, Image.Resampling.BILINEAR)


def size_of(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of an image file as load_image gives it (upright by its EXIF
    orientation), from the header where the format allows: no pixel data is decoded.

    Remembered per process while the file's size and mtime stay the same: the workflow asks
    for each input's size once per job it plans, thousands of times for a few files. A stat is
    all a known file costs: it is known by its device and inode (no path to resolve, whatever
    the spelling or link it is reached by).
    """
    stat = os.stat(path)
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _SIZES:
        with Image.open(path) as img:
            w, h = img.size
            # EXIF orientations 5-8 turn the picture a quarter.
            _SIZES[key] = (h, w) if _orientation(img, Path(path)) in (5, 6, 7, 8) else (w, h)
    return _SIZES[key]


_SIZES: dict[tuple[int, int, int, int], tuple[int, int]] = {}


def _orientation(img: Image.Image, path: Path) -> int:
    """The EXIF orientation tag (1 if none), without decoding pixels."""
    if img.format != "PNG" or "exif" in img.info:
        return int(img.getexif().get(0x0112, 1))
    # A PNG's eXIf chunk may follow the image data, and Pillow decodes the whole image to
    # reach it: walk the chunk headers instead.
    with open(path, "rb") as f:
        f.seek(8)  # the signature
        while header := f.read(8):
            if len(header) < 8:
                break
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"eXIf":
                exif = Image.Exif()
                exif.load(f.read(length))
                return int(exif.get(0x0112, 1))
            if kind == b"IEND":
                break
            f.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return 1


def style_size(image_size: int, style_scale: float) -> int:
    """The longest side of a style image: ceil(style_scale x image_size), as neural-style."""
    return max(1, math.ceil(style_scale * image_size))


def save_image(img: Image.Image, path: str | os.PathLike[str]) -> None:
    """Save atomically; the format follows the extension (JPEG at quality 95)."""
    p = Path(path)
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise ImageError(f"{p}: unknown image extension {p.suffix!r}")
    with atomic_path(p) as tmp:
        kwargs = {"quality": 95} if fmt == "JPEG" else {}
        img.save(tmp, format=fmt, **kwargs)
