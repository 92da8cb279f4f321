"""Colour control: the images the network sees, and the image the optimizer moves."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from . import colour
from .models import deprocess, preprocess
from .options import Options


def colour_inputs(
    opts: Options, content: Tensor, styles: list[Tensor], init_image: Tensor | None
) -> tuple[Tensor, list[Tensor], Tensor | None]:
    """Content, styles and init as color_control has the network see them, RGB (1, 3, h, w).

    none: as they are. histogram: each style's colours matched to the content's on its own
    (colour.match_histogram), before any blend. luminance: grey images (R = G = B) of each
    one's luminance in color_space, each style's luminance first moved to the content's mean
    and standard deviation; a style's grey is clamped to [0, 1], as an image's would be.
    """
    if opts.color_control == "histogram":
        matched = [colour.match_histogram(s, content, opts.histogram_match) for s in styles]
        return content, matched, init_image
    if opts.color_control != "luminance":
        return content, styles, init_image
    space = opts.color_space
    content_lum = colour.luminance(content, space)

    def grey(lum: Tensor) -> Tensor:
        return colour.luminance_to_grey(lum, space).expand(-1, 3, -1, -1)

    greys = [
        grey(colour.match_luminance(colour.luminance(s, space), content_lum)).clamp(0, 1)
        for s in styles
    ]
    init = grey(colour.luminance(init_image, space)) if init_image is not None else None
    return grey(content_lum), greys, init


@dataclass(frozen=True)
class Canvas:
    """The optimized image: how it is made, fed to the network, and shown.

    For color_control none and histogram it is the network's input itself, (B, 3, H, W). For
    luminance it is one grey channel, (B, 1, H, W), repeated to three for the network: in the
    network's units (the mean over channels of the preprocessed grey), so that the init's
    noise, Adam's learning rate and the TV weight mean what they mean for an RGB image.
    """

    opts: Options
    convention: str
    chroma: Tensor  # (1, 2, H, W): the content's at this scale in color_space, put back
    # preprocess is affine per channel: grey g -> scale * g + offset, each (1, 3, 1, 1); the
    # grey channel is g * mean(scale) + mean(offset).
    scale: Tensor
    offset: Tensor

    @classmethod
    def of(cls, opts: Options, convention: str, content: Tensor) -> Canvas:
        zero = preprocess(content.new_zeros(1, 3, 1, 1), convention)
        one = preprocess(content.new_ones(1, 3, 1, 1), convention)
        return cls(opts, convention, colour.chroma(content, opts.color_space), one - zero, zero)

    def _grey(self, img: Tensor) -> Tensor:
        # The grey channel (B, 1, H, W) -> the grey value in RGB units.
        return (img - self.offset.mean()) / self.scale.mean()

    @property
    def is_grey(self) -> bool:
        return self.opts.color_control == "luminance"

    def encode(self, rgb: Tensor) -> Tensor:
        """An image as colour_inputs made it, (B, 3, H, W) -> the optimized image's space."""
        if not self.is_grey:
            return preprocess(rgb, self.convention)
        return rgb[:, :1] * self.scale.mean() + self.offset.mean()

    def network(self, img: Tensor) -> Tensor:
        """The optimized image -> the network's input, (B, 3, H, W); the same tensor for RGB."""
        if not self.is_grey:
            return img
        return self._grey(img) * self.scale + self.offset

    def rgb(self, img: Tensor) -> Tensor:
        """What the image will look like, RGB in [0, 1], (B, 3, H, W): under luminance, its
        luminance with the content's chroma; with original_colors, the content's chroma."""
        space = self.opts.color_space
        if self.is_grey:
            lum = colour.grey_to_luminance(self._grey(img), space)
            out = colour.recombine(lum, self.chroma, space).clamp(0, 1)
        else:
            out = deprocess(img, self.convention).clamp(0, 1)
        if self.opts.original_colors:
            out = colour.recombine(colour.luminance(out, space), self.chroma, space).clamp(0, 1)
        return out
