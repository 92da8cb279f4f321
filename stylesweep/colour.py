"""Colour maths on tensors: colour spaces, original colours, luminance and colour matching."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .options import HISTOGRAM_MATCHES

# Every function here takes and returns (B, C, H, W) tensors on the input's device and in its
# dtype; RGB is sRGB in [0, 1]. Values outside [0, 1] pass through (no clamping).

# RGB <-> YUV with the BT.601 coefficients of Torch's image.rgb2yuv, which neural-style uses for
# original_colors.
_RGB2YUV = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.14713, -0.28886, 0.436],
        [0.615, -0.51499, -0.10001],
    ]
)
# RGB <-> YCbCr: JPEG's full-range BT.601 (ITU-T T.871), Cb and Cr offset by 0.5 so that every
# channel of an RGB colour lies in [0, 1]. Its luma is YUV's Y.
_RGB2YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)
_YCBCR_OFFSET = (0.0, 0.5, 0.5)
# Linear sRGB -> CIE XYZ and the D65 white point (2 degree observer), as in scikit-image.
_RGB2XYZ = torch.tensor(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
D65 = (0.95047, 1.0, 1.08883)
# CIE's exact constants for L*: t > EPSILON takes the cube root, below it the line of slope KAPPA.
_EPSILON = 216 / 24389
_KAPPA = 24389 / 27


def _apply(matrix: Tensor, x: Tensor) -> Tensor:
    """matrix (3, 3) applied to every pixel of x (B, 3, H, W)."""
    return torch.einsum("ij,bjhw->bihw", matrix.to(x.device, x.dtype), x)


def _inverse(matrix: Tensor) -> Tensor:
    return torch.linalg.inv(matrix.double())


def _offset(values: tuple[float, float, float], like: Tensor) -> Tensor:
    return torch.tensor(values, device=like.device, dtype=like.dtype).view(1, 3, 1, 1)


def rgb_to_yuv(rgb: Tensor) -> Tensor:
    """(B, 3, H, W) RGB -> YUV (Y in [0, 1], U and V centred on 0)."""
    return _apply(_RGB2YUV, rgb)


def yuv_to_rgb(yuv: Tensor) -> Tensor:
    """The inverse of rgb_to_yuv."""
    return _apply(_inverse(_RGB2YUV), yuv)


def rgb_to_ycbcr(rgb: Tensor) -> Tensor:
    """RGB -> full-range YCbCr, every channel in [0, 1] (Cb and Cr centred on 0.5)."""
    return _apply(_RGB2YCBCR, rgb) + _offset(_YCBCR_OFFSET, rgb)


def ycbcr_to_rgb(ycbcr: Tensor) -> Tensor:
    """The inverse of rgb_to_ycbcr."""
    return _apply(_inverse(_RGB2YCBCR), ycbcr - _offset(_YCBCR_OFFSET, ycbcr))


def srgb_to_linear(rgb: Tensor) -> Tensor:
    """sRGB's transfer function undone: gamma-encoded values -> linear light."""
    # The power's base is clamped so that the branch torch.where discards never sees a
    # negative number (its NaN would not be chosen, but it is still computed).
    curve = ((rgb.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4
    return torch.where(rgb > 0.04045, curve, rgb / 12.92)


def linear_to_srgb(lin: Tensor) -> Tensor:
    """The inverse of srgb_to_linear."""
    curve = 1.055 * lin.clamp_min(0.0031308) ** (1 / 2.4) - 0.055
    return torch.where(lin > 0.0031308, curve, lin * 12.92)


def rgb_to_xyz(rgb: Tensor) -> Tensor:
    """sRGB -> CIE XYZ (D65; Y of white is 1)."""
    return _apply(_RGB2XYZ, srgb_to_linear(rgb))


def xyz_to_rgb(xyz: Tensor) -> Tensor:
    """The inverse of rgb_to_xyz."""
    return linear_to_srgb(_apply(_inverse(_RGB2XYZ), xyz))


def _f(t: Tensor) -> Tensor:
    # CIE's f: the cube root above EPSILON, a line below it that meets it there.
    return torch.where(t > _EPSILON, t.clamp_min(_EPSILON) ** (1 / 3), (_KAPPA * t + 16) / 116)


def _f_inverse(f: Tensor) -> Tensor:
    return torch.where(f > 6 / 29, f**3, (116 * f - 16) / _KAPPA)


def _lightness(y: Tensor) -> Tensor:
    """L* in [0, 100] of relative luminance y (white: 1)."""
    return 116 * _f(y) - 16


def _relative_luminance(lightness: Tensor) -> Tensor:
    """The inverse of _lightness."""
    return _f_inverse((lightness + 16) / 116)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB -> CIE L*a*b* under D65: L in [0, 100], a and b centred on 0."""
    xyz = rgb_to_xyz(rgb) / _offset(D65, rgb)
    fx, fy, fz = _f(xyz).unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """The inverse of rgb_to_lab."""
    lightness, a, b = lab.unbind(1)
    fy = (lightness + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=1)
    return xyz_to_rgb(_f_inverse(f) * _offset(D65, lab))


def _white_uv() -> tuple[float, float]:
    x, y, z = D65
    return 4 * x / (x + 15 * y + 3 * z), 9 * y / (x + 15 * y + 3 * z)


def rgb_to_luv(rgb: Tensor) -> Tensor:
    """sRGB -> CIE L*u*v* under D65: L in [0, 100], u and v centred on 0."""
    x, y, z = rgb_to_xyz(rgb).unbind(1)
    lightness = _lightness(y / D65[1])
    un, vn = _white_uv()
    # Black has no chromaticity: its u' v' are the white's, so that u and v are 0.
    d = x + 15 * y + 3 * z
    safe = torch.where(d > 0, d, torch.ones_like(d))
    u_prime = torch.where(d > 0, 4 * x / safe, torch.full_like(d, un))
    v_prime = torch.where(d > 0, 9 * y / safe, torch.full_like(d, vn))
    return torch.stack(
        [lightness, 13 * lightness * (u_prime - un), 13 * lightness * (v_prime - vn)], 1
    )


def luv_to_rgb(luv: Tensor) -> Tensor:
    """The inverse of rgb_to_luv."""
    lightness, u, v = luv.unbind(1)
    un, vn = _white_uv()
    y = _relative_luminance(lightness) * D65[1]
    # At L = 0 (black) the chromaticity is undefined and y is 0: any u' v' gives black.
    scale = torch.where(lightness != 0, 13 * lightness, torch.ones_like(lightness))
    u_prime = u / scale + un
    v_prime = v / scale + vn
    v_safe = torch.where(v_prime != 0, v_prime, torch.full_like(v_prime, 1e-12))
    x = y * 9 * u_prime / (4 * v_safe)
    z = y * (12 - 3 * u_prime - 20 * v_prime) / (4 * v_safe)
    return xyz_to_rgb(torch.stack([x, y, z], dim=1))


# options.COLOR_SPACES: name -> (from RGB, to RGB, the top of the luminance channel's range)
SPACES: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor], float]] = {
    "yuv": (rgb_to_yuv, yuv_to_rgb, 1.0),
    "ycbcr": (rgb_to_ycbcr, ycbcr_to_rgb, 1.0),
    "lab": (rgb_to_lab, lab_to_rgb, 100.0),
    "luv": (rgb_to_luv, luv_to_rgb, 100.0),
}


def to_space(rgb: Tensor, space: str) -> Tensor:
    """RGB (B, 3, H, W) -> `space` (one of SPACES); channel 0 is the luminance."""
    return SPACES[space][0](rgb)


def from_space(x: Tensor, space: str) -> Tensor:
    """`space` (B, 3, H, W) -> RGB; the inverse of to_space."""
    return SPACES[space][1](x)


def luminance(rgb: Tensor, space: str) -> Tensor:
    """The luminance channel of `space`, (B, 1, H, W): Y for yuv and ycbcr, L for lab and luv."""
    return to_space(rgb, space)[:, :1]


def luminance_to_grey(lum: Tensor, space: str) -> Tensor:
    """The grey RGB value (R = G = B) whose luminance in `space` is `lum`; (B, 1, H, W).

    For yuv and ycbcr the grey is Y itself; for lab and luv it is the sRGB grey of lightness L.
    """
    if SPACES[space][2] == 1.0:
        return lum
    return linear_to_srgb(_relative_luminance(lum))


def grey_to_luminance(grey: Tensor, space: str) -> Tensor:
    """The inverse of luminance_to_grey."""
    if SPACES[space][2] == 1.0:
        return grey
    return _lightness(srgb_to_linear(grey))


def chroma(rgb: Tensor, space: str) -> Tensor:
    """The chroma channels of `space`, (B, 2, H, W): everything but the luminance."""
    return to_space(rgb, space)[:, 1:]


def recombine(lum: Tensor, chroma: Tensor, space: str) -> Tensor:
    """RGB of luminance `lum` (B, 1, H, W) and `chroma` (1 or B, 2, H, W) in `space`; not
    clamped."""
    return from_space(torch.cat([lum, chroma.expand(lum.shape[0], -1, -1, -1)], dim=1), space)


def original_colors(content: Tensor, stylized: Tensor, space: str = "yuv") -> Tensor:
    """The stylized image's luminance with the content's chroma in `space`; (B, 3, H, W).

    With yuv this is neural-style's original_colors.
    """
    return recombine(luminance(stylized, space), chroma(content, space), space)


def match_luminance(style_lum: Tensor, content_lum: Tensor) -> Tensor:
    """The style's luminance (1, 1, h, w) moved to the content's mean and standard deviation."""
    s_mean, s_std = style_lum.mean(), style_lum.std(correction=0)
    c_mean, c_std = content_lum.mean(), content_lum.std(correction=0)
    return (style_lum - s_mean) * (c_std / s_std.clamp_min(1e-8)) + c_mean


def colour_stats(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """The per-pixel colour mean (3,) and covariance (3, 3) of one image (1, 3, H, W)."""
    pixels = rgb.reshape(3, -1)  # (3, H W)
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    return mean, centred @ centred.T / pixels.shape[1]


# Added to both covariances before they are factored: a flat image's covariance is singular.
_COV_EPS = 1e-6


def matching_map(style_cov: Tensor, content_cov: Tensor, method: str) -> Tensor:
    """A (3, 3) with A style_cov A^T = content_cov: `chol`, `pca` or `sym` (see match_histogram).

    Computed in float64 on the CPU: three-by-three factorisations are no work, and some devices
    have no float64.
    """
    eye = torch.eye(3, dtype=torch.float64)
    s = style_cov.detach().double().cpu() + _COV_EPS * eye
    c = content_cov.detach().double().cpu() + _COV_EPS * eye
    if method == "chol":
        # A = L_c L_s^-1 with the Cholesky factors L L^T of each covariance.
        ls, lc = torch.linalg.cholesky(s), torch.linalg.cholesky(c)
        return lc @ torch.linalg.inv(ls)
    if method == "pca":
        # A = Q_c D_c^1/2 D_s^-1/2 Q_s^T: the style's principal axes onto the content's, in order
        # of variance. Each axis's sign is fixed (largest component positive) so that an
        # eigensolver's arbitrary signs cannot flip a colour axis.
        ds, qs = _eigh_signed(s)
        dc, qc = _eigh_signed(c)
        return qc @ torch.diag(dc.sqrt() / ds.sqrt()) @ qs.T
    if method == "sym":
        # The symmetric map S^-1/2 (S^1/2 C S^1/2)^1/2 S^-1/2: the one that moves colours least
        # (optimal transport between the two Gaussians); it depends on no axis order or sign.
        s_half = _sqrtm(s)
        s_inv_half = torch.linalg.inv(s_half)
        return s_inv_half @ _sqrtm(s_half @ c @ s_half) @ s_inv_half
    raise ValueError(f"histogram_match: must be one of {', '.join(HISTOGRAM_MATCHES)}")


def _eigh_signed(m: Tensor) -> tuple[Tensor, Tensor]:
    values, vectors = torch.linalg.eigh(m)  # ascending
    biggest = vectors.abs().argmax(dim=0)
    signs = torch.sign(vectors[biggest, torch.arange(3)])
    return values.clamp_min(0), vectors * torch.where(signs == 0, 1.0, signs)


def _sqrtm(m: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh(m)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


def match_histogram(style: Tensor, content: Tensor, method: str) -> Tensor:
    """The style's colours mapped linearly so that their mean and covariance are the content's.

    x -> A (x - mean_s) + mean_c per pixel, with A from matching_map. The result is not clamped
    to [0, 1], so that its statistics are the content's exactly.

    Args:
        style: (1, 3, h, w) RGB.
        content: (1, 3, H, W) RGB.
        method: `chol` (Cholesky factors), `pca` (eigenvectors) or `sym` (symmetric square root).
    Returns:
        (1, 3, h, w) RGB.
    """
    s_mean, s_cov = colour_stats(style)
    c_mean, c_cov = colour_stats(content)
    a = matching_map(s_cov, c_cov, method).to(style.device, style.dtype)
    centred = style - s_mean.view(1, 3, 1, 1)
    return _apply(a, centred) + c_mean.view(1, 3, 1, 1)
