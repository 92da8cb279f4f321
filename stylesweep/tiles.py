"""Tiled evaluation for print sizes: a moving grid of overlapping tiles and blended gradients."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .losses import gram, tv_loss
from .models import FeatureExtractor, preprocess
from .objective import Weights, loss_names, objective
from .options import Options
from .temporal import Temporal

if TYPE_CHECKING:
    from .canvas import Canvas

# A tile's objective: (its crop of the image (B, C, h, w), its region) -> the objective (B,)
# and the loss rows (B, K), with the crop's gradient filled.
TileObjective = Callable[[Tensor, tuple[slice, slice]], tuple[Tensor, Tensor]]


def starts(length: int, tile: int, overlap: int, offset: int = 0) -> list[int]:
    """Where the tiles of one axis begin: every tile - overlap px from -offset, each moved
    inside [0, length - tile] (the first and last then overlap their neighbour by more)."""
    if tile >= length:
        return [0]
    step = tile - overlap
    out: list[int] = []
    at = -offset
    while True:
        inside = min(max(at, 0), length - tile)
        if not out or inside != out[-1]:
            out.append(inside)
        if at + tile >= length:
            return out
        at += step


def ramps(length: int, tile: int, begins: list[int]) -> list[Tensor]:
    """Each tile's blend weight along one axis, (tile,) float64, summing to 1 at every pixel.

    A tile's raw weight rises linearly across its overlap with the tile before it and falls
    across its overlap with the one after (never to 0: every pixel a tile covers counts), and
    is 1 between; dividing by the sum over the tiles makes them a partition of unity even
    where three tiles meet (an edge tile moved inside).
    """
    size = min(tile, length)
    i = torch.arange(size, dtype=torch.float64) + 0.5
    raw = []
    for k, a in enumerate(begins):
        w = torch.ones(size, dtype=torch.float64)
        if k > 0:
            w = torch.minimum(w, i / (begins[k - 1] + size - a))
        if k < len(begins) - 1:
            w = torch.minimum(w, (size - i) / (a + size - begins[k + 1]))
        raw.append(w)
    total = torch.zeros(length, dtype=torch.float64)
    for a, w in zip(begins, raw, strict=True):
        total[a : a + size] += w
    return [w / total[a : a + size] for a, w in zip(begins, raw, strict=True)]


@dataclass(frozen=True)
class Grid:
    """One iteration's tiles: the product of row and column starts, and their blend weights."""

    size: tuple[int, int]  # (H, W) of the image
    tile: tuple[int, int]  # (h, w) of every tile
    tops: list[int]
    lefts: list[int]
    rows: list[Tensor]  # (h,) weights of each row of tiles
    cols: list[Tensor]  # (w,) weights of each column of tiles

    @classmethod
    def of(cls, size: tuple[int, int], tile: int, overlap: int, offset: tuple[int, int]) -> Grid:
        h, w = size
        tops, lefts = starts(h, tile, overlap, offset[0]), starts(w, tile, overlap, offset[1])
        return cls(
            size,
            (min(tile, h), min(tile, w)),
            tops,
            lefts,
            ramps(h, tile, tops),
            ramps(w, tile, lefts),
        )

    def __len__(self) -> int:
        return len(self.tops) * len(self.lefts)

    def tiles(self) -> Iterator[tuple[tuple[slice, slice], Tensor]]:
        """(region, blend weight (h, w) float64 on the CPU) of each tile, row by row."""
        th, tw = self.tile
        for top, wy in zip(self.tops, self.rows, strict=True):
            for left, wx in zip(self.lefts, self.cols, strict=True):
                yield (slice(top, top + th), slice(left, left + tw)), wy[:, None] * wx[None, :]

    def borders(self) -> tuple[list[int], list[int]]:
        """The rows and columns where a tile begins or ends inside the image (its seams)."""
        h, w = self.size
        th, tw = self.tile
        ys = sorted({t for t in self.tops if t > 0} | {t + th for t in self.tops if t + th < h})
        xs = sorted({x for x in self.lefts if x > 0} | {x + tw for x in self.lefts if x + tw < w})
        return ys, xs


class Tiling:
    """The moving grid of one scale: each evaluation's grid is shifted by an offset drawn from
    a generator seeded by (seed, scale, evaluation), so a resumed run draws the same ones.

    The shift is the older Caffe version of crowsonkb/style_transfer's remedy for seams: a
    border that moves every iteration is not optimized against.
    """

    def __init__(self, size: tuple[int, int], tile: int, overlap: int, seed: int, scale: int):
        self.size, self.tile, self.overlap = size, tile, overlap
        self.seed, self.scale = seed, scale
        self.calls = 0  # evaluations so far at this scale; set on resume
        self.last: Grid | None = None

    def next(self) -> Grid:
        """The grid of the next evaluation."""
        key = hashlib.sha256(f"{self.seed}:{self.scale}:{self.calls}".encode()).digest()
        gen = torch.Generator().manual_seed(int.from_bytes(key[:7], "big"))
        step = self.tile - self.overlap
        oy, ox = (int(v) for v in torch.randint(0, step, (2,), generator=gen))
        self.calls += 1
        self.last = Grid.of(self.size, self.tile, self.overlap, (oy, ox))
        return self.last


def blend(grid: Grid, img: Tensor, tile_objective: TileObjective) -> tuple[Tensor, Tensor]:
    """Evaluate `img` (B, C, H, W) tile by tile; the blended gradient lands in img.grad.

    Each tile's gradient is weighted by its blend weight (a partition of unity) and by its
    share of the image's pixels, h w / (H W): the losses are means over positions (content:
    over the features, style: a Gram / (C h w)), so a tile's per-pixel gradient is H W / (h w)
    times the whole image's. A loss that is a mean of per-pixel terms thus gets exactly its
    untiled gradient. The objective and rows are the tiles' means weighted by each one's
    share of the blend (sum of its weights / (H W)).
    """
    h, w = grid.size
    if img.grad is None:
        img.grad = torch.zeros_like(img)
    else:
        img.grad.zero_()
    total: Tensor | None = None
    rows: Tensor | None = None
    for region, weight in grid.tiles():
        crop = img.detach()[..., region[0], region[1]].clone().requires_grad_(True)
        value, terms = tile_objective(crop, region)
        assert crop.grad is not None
        share = float(weight.sum()) / (h * w)
        pixels = weight.numel() / (h * w)
        scaled = (weight * pixels).to(img.device, img.dtype)  # (h, w)
        img.grad[..., region[0], region[1]].add_(crop.grad * scaled)
        total = value * share if total is None else total + value * share
        rows = terms * share if rows is None else rows + terms * share
    assert total is not None and rows is not None
    return total, rows


def tiled_evaluator(
    opts: Options,
    extractor: FeatureExtractor,
    canvas: Canvas,
    autocast: Callable[[], Any],
    content_pre: Tensor,
    grams: dict[str, Tensor],
    img: Tensor,
    weights: Weights,
    tiling: Tiling,
    temporal: Temporal | None = None,
) -> Callable[[], tuple[Tensor, Tensor]]:
    """`Problem.evaluate` over a moving grid of tiles (blend): the objective (B,) and rows
    (B, K) of the whole image, its gradient in img.grad.

    Each tile's content targets come from the content's same tile, passed through the network
    on its own: its borders are padded as the image tile's are, so the content loss is 0 at the
    content in every tile (cropping the whole content's features would carry context the image
    tile cannot see, a pull at every border).

    The style loss is the whole image's: a first pass without gradients sums the image's Gram
    G over the tiles (each weighted by its share of the blend), then each tile is given the
    target A + G_t - G (A the style's Gram, G_t the tile's own, both fixed), whose gradient at
    the tile is the whole image's, 2 (G - A) dG/dF restricted to the tile, and whose loss is
    the whole image's. A tile matched to A on its own would pull every tile to the style's
    global statistics (a sky tile to the style's every colour), and change from tile to tile.
    TV is computed on the whole image (exact, and a few image-sized tensors). With
    normalize_gradients each tile's terms are normalised on their own: an approximation.
    """
    per_tile = dataclasses.replace(weights, tv_weight=0.0)  # TV once, on the whole image
    tv_column = loss_names(opts).index("tv")  # a temporal column may follow it
    image_grams: dict[str, Tensor] = {}

    def features(x: Tensor) -> dict[str, Tensor]:
        with autocast():
            return extractor(x.contiguous(memory_format=torch.channels_last))

    def sum_grams(grid: Grid) -> None:
        # The image's Gram per layer, (B, C, C): every tile's positions weighted by the blend
        # (pooled to the layer's size), so that a tile's border, padded with zeros where the
        # whole image has neighbours, counts as little as its ramp; the weights sum to 1 over
        # the tiles at every pixel, so their total is the image's count of positions.
        sums: dict[str, Tensor] = {}
        mass = dict.fromkeys(opts.style_layers, 0.0)
        with torch.no_grad():
            for (ys, xs), weight in grid.tiles():
                feats = features(canvas.network(img.detach()[..., ys, xs]))
                for name in opts.style_layers:
                    f = feats[name].float()  # (B, C, h', w')
                    at = F.adaptive_avg_pool2d(
                        weight[None, None].float(), (f.shape[-2], f.shape[-1])
                    )
                    at = at.to(f.device)  # (1, 1, h', w')
                    g = gram(f * at.sqrt()) * f[0].numel()  # sum over positions of w f f^T
                    sums[name] = sums[name] + g if name in sums else g
                    mass[name] += float(at.sum())
                del feats
        for name, g in sums.items():
            image_grams[name] = g / (g.shape[-1] * mass[name])

    def tile_objective(crop: Tensor, region: tuple[slice, slice]) -> tuple[Tensor, Tensor]:
        ys, xs = region
        with torch.no_grad():
            feats = features(canvas.network(content_pre[..., ys, xs]))
            targets = {k: feats[k].detach().float() for k in opts.content_layers}
        x = canvas.network(crop)  # (B, 3, h, w)
        feats = features(x)
        with torch.no_grad():
            shifted = {
                k: grams[k] + gram(feats[k].detach().float()) - image_grams[k]
                for k in opts.style_layers
            }
        extra: tuple[Temporal, ...] = ()
        if temporal is not None:  # a video frame's term, on the same tile of its target
            tile = temporal.replace(
                target=temporal.target[..., ys, xs], mask=temporal.mask[..., ys, xs]
            )
            extra = (tile,)
        return objective(opts, feats, targets, shifted, x, per_tile, *extra)

    def evaluate() -> tuple[Tensor, Tensor]:
        grid = tiling.next()
        sum_grams(grid)
        total, rows = blend(grid, img, tile_objective)
        x = canvas.network(img)
        tv = tv_loss(x) * weights.tv_weight  # (B,)
        tv.sum().backward()  # adds to the blended gradient in img.grad
        tv = tv.detach()
        rows = rows.clone()
        rows[:, 0] += tv
        rows[:, tv_column] = tv
        return total + tv, rows

    return evaluate


def tiled_style_targets(
    extractor: FeatureExtractor,
    styles: list[Tensor],
    weights: tuple[float, ...],
    layers: tuple[str, ...],
    convention: str,
    tile: int,
) -> dict[str, Tensor]:
    """objective.style_targets for styles too large to pass at once: each Gram summed over
    tiles that partition the style.

    A Gram is a sum over positions, F F^T / (C H W): the tiles' unnormalised sums F_t F_t^T add
    up, divided once by C x all positions. With one tile it is the whole style's Gram; with
    more, the features near a tile's border see zero padding instead of their neighbours.
    """
    targets: dict[str, Tensor] = {}
    for style, w in zip(styles, weights, strict=True):
        sums: dict[str, Tensor] = {}
        positions = dict.fromkeys(layers, 0)
        for ys, xs in _partition(style.shape[-2], style.shape[-1], tile):
            crop = style[..., ys, xs].contiguous(memory_format=torch.channels_last)
            feats = extractor(preprocess(crop, convention))
            for name in layers:
                f = feats[name].float()  # (1, C, h, w)
                c, fh, fw = f.shape[1:]
                g = gram(f) * (c * fh * fw)  # (1, C, C), unnormalised
                sums[name] = sums[name] + g if name in sums else g
                positions[name] += fh * fw
        for name in layers:
            g = sums[name] / (sums[name].shape[-1] * positions[name]) * w
            targets[name] = targets[name] + g if name in targets else g
    return targets


def _partition(h: int, w: int, tile: int) -> list[tuple[slice, slice]]:
    """Non-overlapping regions of at most about `tile` px covering (h, w), nearly equal in
    size (so that none is a sliver too small for the network)."""

    def cuts(length: int) -> list[int]:
        n = -(-length // tile)
        return [round(k * length / n) for k in range(n + 1)]

    ys, xs = cuts(h), cuts(w)
    return [
        (slice(y0, y1), slice(x0, x1))
        for y0, y1 in zip(ys, ys[1:], strict=False)
        for x0, x1 in zip(xs, xs[1:], strict=False)
    ]
