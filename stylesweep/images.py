"""Reading, resizing, saving and colour-transferring images; every failure names the file."""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

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


def style_size(image_size: int, style_scale: float) -> int:
    """The longest side of a style image: ceil(style_scale x image_size), as neural-style."""
    return max(1, math.ceil(style_scale * image_size))


def to_tensor(img: Image.Image) -> Tensor:
    """PIL RGB -> float32 tensor in [0, 1], (1, 3, H, W)."""
    a = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(a.copy()).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def to_pil(x: Tensor) -> Image.Image:
    """Tensor in [0, 1], (3, H, W) or (1, 3, H, W) -> PIL RGB (clamped and rounded)."""
    if x.dim() == 4:
        x = x[0]
    a = x.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(a, mode="RGB")


def save_image(x: Tensor | Image.Image, path: str | os.PathLike[str]) -> None:
    """Save atomically; the format follows the extension (JPEG at quality 95)."""
    img = x if isinstance(x, Image.Image) else to_pil(x)
    p = Path(path)
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise ImageError(f"{p}: unknown image extension {p.suffix!r}")
    with atomic_path(p) as tmp:
        kwargs = {"quality": 95} if fmt == "JPEG" else {}
        img.save(tmp, format=fmt, **kwargs)


# RGB <-> YUV with the BT.601 coefficients of Torch's image.rgb2yuv, which neural-style uses for
# original_colors.
_RGB2YUV = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.14713, -0.28886, 0.436],
        [0.615, -0.51499, -0.10001],
    ]
)


def rgb_to_yuv(rgb: Tensor) -> Tensor:
    """(B, 3, H, W) RGB -> YUV (Y in [0, 1], U and V centred on 0)."""
    m = _RGB2YUV.to(rgb.device, rgb.dtype)
    return torch.einsum("ij,bjhw->bihw", m, rgb)


def yuv_to_rgb(yuv: Tensor) -> Tensor:
    """The inverse of rgb_to_yuv."""
    m = torch.linalg.inv(_RGB2YUV.double()).to(yuv.device, yuv.dtype)
    return torch.einsum("ij,bjhw->bihw", m, yuv)


def original_colors(content: Tensor, stylized: Tensor) -> Tensor:
    """The stylized image's luminance (Y) with the content's chroma (U, V); (B, 3, H, W)."""
    y = rgb_to_yuv(stylized)[:, :1]
    uv = rgb_to_yuv(content)[:, 1:]
    return yuv_to_rgb(torch.cat([y, uv], dim=1))
