"""Image files with Pillow alone, no torch: read, size, resize, save; failures name the file."""

from __future__ import annotations

import logging
import math
import os
import struct
import warnings
import zlib
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


def save_image(
    img: Image.Image,
    path: str | os.PathLike[str],
    *,
    alpha: np.ndarray | None = None,
    icc: bytes | None = None,
) -> None:
    """Save atomically; the format follows the extension (JPEG at quality 95). `alpha` (h, w)
    uint8 or uint16 in any size is resized and added; `icc` is embedded where the format
    takes a profile (PNG, JPEG, TIFF, WebP)."""
    p = Path(path)
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise ImageError(f"{p}: unknown image extension {p.suffix!r}")
    kwargs: dict[str, object] = {"quality": 95} if fmt == "JPEG" else {}
    if icc and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        kwargs["icc_profile"] = icc
    if alpha is not None:
        a8 = (alpha >> 8).astype(np.uint8) if alpha.dtype == np.uint16 else alpha
        mask = Image.fromarray(a8, mode="L").resize(img.size, Image.Resampling.BILINEAR)
        img = img.convert("RGBA")
        img.putalpha(mask)
    with atomic_path(p) as tmp:
        img.save(tmp, format=fmt, **kwargs)


# --- print output: 16 bits per channel straight from the floats, the content's alpha and ICC ---


def print_extras(path: str | os.PathLike[str]) -> tuple[np.ndarray | None, bytes | None]:
    """A content file's alpha channel (h, w) uint8 or uint16, upright, and its ICC profile;
    None for what it lacks."""
    with Image.open(path) as opened:
        icc = opened.info.get("icc_profile") or None
        img = ImageOps.exif_transpose(opened)
        alpha = None
        if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
            alpha = np.asarray(img.convert("RGBA").getchannel("A"))
    return alpha, icc


def save_output(
    picture: Image.Image | np.ndarray,
    path: str | os.PathLike[str],
    *,
    content: str | os.PathLike[str],
    keep_alpha: bool = True,
) -> None:
    """A run's final image: a picture (8 bits, any format) or (H, W, 3) floats in [0, 1]
    (16 bits, PNG or TIFF), with the `content` file's ICC profile and, for a PNG or TIFF with
    keep_alpha, its alpha channel."""
    alpha, icc = print_extras(content)
    if not keep_alpha or Path(path).suffix.lower() not in (".png", ".tif", ".tiff"):
        alpha = None
    if isinstance(picture, np.ndarray):
        save_image16(picture, path, alpha=alpha, icc=icc)
    else:
        save_image(picture, path, alpha=alpha, icc=icc)


def save_image16(
    rgb: np.ndarray,
    path: str | os.PathLike[str],
    *,
    alpha: np.ndarray | None = None,
    icc: bytes | None = None,
) -> None:
    """Save (H, W, 3) floats in [0, 1] as a 16-bit PNG or TIFF (by the extension), with no
    8-bit step; `alpha` (h, w) in any size and bit depth is resized and added, `icc` embedded.

    Pillow writes 16-bit images only in grey, so both formats are written here: a PNG of
    bit depth 16 (colour type 2 or 6, filter 0, an iCCP chunk), a baseline TIFF (one
    uncompressed strip, tag 34675 for the profile).
    """
    p = Path(path)
    a = np.ascontiguousarray(np.rint(np.clip(rgb, 0.0, 1.0) * 65535.0), dtype=np.uint16)
    if alpha is not None:
        peak = 65535.0 if alpha.dtype == np.uint16 else 255.0
        mask = Image.fromarray(alpha.astype(np.float32) / peak, mode="F")
        mask = mask.resize((a.shape[1], a.shape[0]), Image.Resampling.BILINEAR)
        a16 = np.rint(np.clip(np.asarray(mask), 0.0, 1.0) * 65535.0).astype(np.uint16)
        a = np.concatenate([a, a16[..., None]], axis=2)
    suffix = p.suffix.lower()
    if suffix == ".png":
        data = _png16(a, icc)
    elif suffix in (".tif", ".tiff"):
        data = _tiff16(a, icc)
    else:
        raise ImageError(f"{p}: 16-bit output is PNG or TIFF, not {p.suffix!r}")
    with atomic_path(p) as tmp:
        tmp.write_bytes(data)


def _png16(a: np.ndarray, icc: bytes | None) -> bytes:
    h, w, c = a.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = np.zeros((h, 1 + w * c * 2), dtype=np.uint8)  # each row: filter type 0, then samples
    rows[:, 1:] = a.astype(">u2").view(np.uint8).reshape(h, -1)
    header = struct.pack(">IIBBBBB", w, h, 16, 6 if c == 4 else 2, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    if icc:
        out += chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    return out + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b"")


def _tiff16(a: np.ndarray, icc: bytes | None) -> bytes:
    h, w, c = a.shape
    pixels = a.astype("<u2").tobytes()
    # (tag, type, count, value): SHORT 3, LONG 4, UNDEFINED 7 (bytes); sorted by tag. The
    # strip's offset (273) is filled in once the values that do not fit an entry are placed.
    tags: list[tuple[int, int, int, int | bytes]] = [
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, c, struct.pack(f"<{c}H", *[16] * c)),
        (259, 3, 1, 1), (262, 3, 1, 2), (273, 4, 1, 0), (277, 3, 1, c), (278, 4, 1, h),
        (279, 4, 1, len(pixels)), (284, 3, 1, 1),
    ]  # fmt: skip
    if c == 4:
        tags.append((338, 3, 1, 2))  # unassociated alpha
    if icc:
        tags.append((34675, 7, len(icc), icc))
    at = 8 + 2 + 12 * len(tags) + 4  # out-of-line values follow the directory
    blobs, places = b"", {}
    for tag, _, _, value in tags:
        if isinstance(value, bytes) and len(value) > 4:
            places[tag] = at + len(blobs)
            blobs += value + b"\x00" * (len(value) % 2)
    places[273] = at + len(blobs)  # then the pixels
    entries = b""
    for tag, kind, count, value in tags:
        if tag in places:
            entries += struct.pack("<HHII", tag, kind, count, places[tag])
        elif isinstance(value, bytes):
            entries += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00")
        elif kind == 3:
            entries += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            entries += struct.pack("<HHII", tag, kind, count, value)
    head = b"II*\x00" + struct.pack("<IH", 8, len(tags))
    return head + entries + b"\x00" * 4 + blobs + pixels
