"""Pictures of a sweep: progress GIFs, contact sheets, loss and trade-off plots."""

from __future__ import annotations

import csv
import os
import textwrap
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .atomic import atomic_path
from .images import load_image, scaled_size, size_of
from .pick import pareto_front
from .sweep import Setting, format_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SHEET_BACKGROUND = (255, 255, 255)
HEADER_BACKGROUND = (236, 236, 236)
LABEL_BAND = (0, 0, 0)
LABEL_TEXT = (255, 255, 255)


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def font(size: int) -> Font:
    """Pillow's bundled default font at `size` pixels (no font file needed)."""
    return ImageFont.load_default(size=size)


def fit_text(draw: ImageDraw.ImageDraw, text: str, width: int, face: Font) -> str:
    """`text`, cut and ended with '…' if it is wider than `width` pixels."""
    if draw.textlength(text, font=face) <= width:
        return text
    while text and draw.textlength(text + "…", font=face) > width:
        text = text[:-1]
    return text + "…"


def wrap_text(draw: ImageDraw.ImageDraw, text: str, width: int, face: Font) -> list[str]:
    """`text` broken at spaces into lines no wider than `width` where the words allow."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and draw.textlength(f"{lines[-1]} {word}", font=face) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def draw_label(img: Image.Image, text: str, *, size: int | None = None) -> Image.Image:
    """A copy of `img` with `text` in white on a black band along the bottom edge."""
    out = img.convert("RGB")
    if not text:
        return out
    w, h = out.size
    face = font(size or max(8, min(14, h // 10)))
    draw = ImageDraw.Draw(out)
    lines = [fit_text(draw, line, w - 4, face) for line in text.splitlines()]
    line_h = face.getbbox("Ag")[3] + 2
    top = h - line_h * len(lines) - 2
    draw.rectangle((0, top, w, h), fill=LABEL_BAND)
    for i, line in enumerate(lines):
        draw.text((2, top + 1 + i * line_h), line, fill=LABEL_TEXT, font=face)
    return out


# --- GIFs -----------------------------------------------------------------------------------


def frames_in_order(folder: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """(iteration, path) of the `NNNN.png` frames in `folder`, by iteration (not by name)."""
    found = [(int(p.stem), p) for p in Path(folder).glob("*.png") if p.stem.isdigit()]
    return sorted(found)


def gif_frames(frames: Sequence[tuple[int, Image.Image]]) -> list[Image.Image]:
    """Each frame with its iteration number drawn on it."""
    out = []
    for iteration, img in frames:
        text = f"iteration {iteration}"
        probe = ImageDraw.Draw(img.copy())
        face = font(max(8, min(14, img.height // 10)))
        if probe.textlength(text, font=face) > img.width - 4:
            text = str(iteration)  # small images: the number alone
        out.append(draw_label(img, text))
    return out


def write_gif(
    path: str | os.PathLike[str],
    images: Sequence[Image.Image],
    *,
    frame_ms: int = 120,
    hold_ms: int = 1500,
) -> None:
    """An endlessly looping GIF; the last image is held for `hold_ms`."""
    durations: list[int] | int = [frame_ms] * (len(images) - 1) + [hold_ms]
    if len(images) == 1:
        durations = hold_ms  # Pillow takes a list only for several frames
    stack = np.stack([np.asarray(im.convert("RGB")) for im in images])
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, stack, extension=".gif", duration=durations, loop=0)


def gif_from_frames(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    frame_ms: int = 120,
    hold_ms: int = 1500,
    longest: int | None = None,
) -> int:
    """Write a progress GIF of the frames in `folder`, at most `longest` px if given (a
    print-size render's); returns the number of frames."""
    paths = list(frames_in_order(folder))
    if not paths:
        raise ValueError(f"{folder}: no frames (NNNN.png) to make a GIF of")
    # A coarse-to-fine run's early frames are smaller: show them at the final size. Each frame
    # is shrunk as it is read, so that only GIF-sized frames are held.
    size = size_of(paths[-1][1])
    if longest is not None:
        size = scaled_size(size, min(longest, max(size)))
    frames = [(it, load_image(p).resize(size, Image.Resampling.BILINEAR)) for it, p in paths]
    write_gif(out, gif_frames(frames), frame_ms=frame_ms, hold_ms=hold_ms)
    return len(frames)


# --- contact sheets -------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """A header cell: images side by side (a blend shows each of its styles) and a label."""

    label: str
    images: tuple[Image.Image, ...] = ()


def header(label: str, paths: Sequence[str | os.PathLike[str]] = ()) -> Header:
    """A Header showing the images at `paths` side by side."""
    return Header(label, tuple(load_image(p) for p in paths))


def sheet_size(rows: int, cols: int, cell: int, pad: int, caption: int = 0) -> tuple[int, int]:
    """(width, height) of a sheet: a header row and column plus rows x cols cells, all
    `cell` pixels square with `pad` pixels around and between, and under each row of cells a
    band of `caption` pixels for their captions."""
    width = (cols + 1) * cell + (cols + 2) * pad
    return width, (rows + 1) * cell + rows * caption + (rows + 2) * pad


CAPTION_FONT = 10  # pixels
MARK = (214, 39, 40)  # the frame of a marked cell (the pick)
MARK_WIDTH = 3  # pixels, inside the padding


def caption_height(captions: Sequence[Sequence[str | None]] | None) -> int:
    """The band under each row of cells that holds the longest caption (0 for none)."""
    lines = max(
        (len(text.splitlines()) for row in captions or () for text in row if text), default=0
    )
    if not lines:
        return 0
    return lines * caption_line_height() + 4


def caption_line_height() -> int:
    return int(font(CAPTION_FONT).getbbox("Ag")[3]) + 2


def thumbnail(img: Image.Image, width: int, height: int) -> Image.Image:
    """`img` scaled to fit in width x height, aspect kept (never enlarged beyond 4x)."""
    scale = min(width / img.width, height / img.height, 4.0)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def paste_centered(canvas: Image.Image, img: Image.Image, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    thumb = thumbnail(img, x1 - x0, y1 - y0)
    canvas.paste(thumb, (x0 + (x1 - x0 - thumb.width) // 2, y0 + (y1 - y0 - thumb.height) // 2))


def header_cell(header: Header, cell: int) -> Image.Image:
    """A `cell`-square picture of a header: its images side by side, its label below."""
    out = Image.new("RGB", (cell, cell), HEADER_BACKGROUND)
    if header.images:
        part = cell // len(header.images)
        for i, img in enumerate(header.images):
            paste_centered(out, img, (i * part, 0, (i + 1) * part, cell))
        return draw_label(out, header.label, size=12)
    draw = ImageDraw.Draw(out)
    face = font(12)
    lines = [
        fit_text(draw, line, cell - 6, face)
        for text in header.label.splitlines()
        for line in wrap_text(draw, text, cell - 6, face)
    ]
    line_h = face.getbbox("Ag")[3] + 3
    top = (cell - line_h * len(lines)) // 2
    for i, line in enumerate(lines):
        draw.text((3, top + i * line_h), line, fill=(0, 0, 0), font=face)
    return out


# Short names of the scores under a sheet's cells.
SCORE_LABELS = {
    "content_distance": "content",
    "style_distance": "style",
    "color_distance": "color",
    "structure": "structure",
    "noise": "noise",
}


def score_caption(scores: Mapping[str, float], rank: int) -> str:
    """A cell's caption on an annotated sheet: its rank (`#1 pick` for the pick), then each
    score, one a line."""
    head = "#1 pick" if rank == 1 else f"#{rank}"
    return "\n".join([head, *(f"{SCORE_LABELS[k]} {v:.4g}" for k, v in scores.items())])


def wrap_caption(text: str, width: int) -> str:
    """`text` broken into lines of at most `width` pixels in the caption font, anywhere (a
    setting id has no spaces), for a caption."""
    draw, face = ImageDraw.Draw(Image.new("RGB", (1, 1))), font(CAPTION_FONT)
    lines = [""]
    for char in text:
        if lines[-1] and draw.textlength(lines[-1] + char, font=face) > width - 2:
            lines.append("")
        lines[-1] += char
    return "\n".join(lines)


def contact_sheet(
    cells: Sequence[Sequence[Image.Image | None]],
    *,
    row_headers: Sequence[Header],
    col_headers: Sequence[Header],
    corner: Header | None = None,
    cell: int = 160,
    pad: int = 4,
    captions: Sequence[Sequence[str | None]] | None = None,
    marked: Collection[tuple[int, int]] = (),
) -> Image.Image:
    """A grid of images with a header column (one per row) and a header row (one per column).

    Every cell is `cell` pixels square; an image is fitted inside it, centred; None is left
    blank. `captions` (the grid's shape, lines split by newlines) are printed under the cells,
    and the cells at `marked` (row, column) framed. The size is `sheet_size(len(cells),
    len(col_headers), cell, pad, caption_height(captions))`.
    """
    rows, cols = len(row_headers), len(col_headers)
    if len(cells) != rows or any(len(r) != cols for r in cells):
        raise ValueError(f"contact_sheet: cells must be {rows} rows of {cols}")
    if captions is not None and (len(captions) != rows or any(len(r) != cols for r in captions)):
        raise ValueError(f"contact_sheet: captions must be {rows} rows of {cols}")
    band = caption_height(captions)
    sheet = Image.new("RGB", sheet_size(rows, cols, cell, pad, band), SHEET_BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    face, line_h = font(CAPTION_FONT), caption_line_height()

    def origin(r: int, c: int) -> tuple[int, int]:
        return pad + c * (cell + pad), pad + r * (cell + pad) + max(r - 1, 0) * band

    sheet.paste(header_cell(corner or Header(""), cell), origin(0, 0))
    for c, h in enumerate(col_headers):
        sheet.paste(header_cell(h, cell), origin(0, c + 1))
    for r, h in enumerate(row_headers):
        sheet.paste(header_cell(h, cell), origin(r + 1, 0))
        for c, img in enumerate(cells[r]):
            x, y = origin(r + 1, c + 1)
            if img is not None:
                paste_centered(sheet, img, (x, y, x + cell, y + cell))
            text = captions[r][c] if captions is not None else None
            for i, line in enumerate((text or "").splitlines()):
                line = fit_text(draw, line, cell - 2, face)
                draw.text((x + 1, y + cell + 2 + i * line_h), line, fill=(0, 0, 0), font=face)
            if (r, c) in marked:
                box = (x - MARK_WIDTH, y - MARK_WIDTH, x + cell + MARK_WIDTH - 1)
                draw.rectangle(
                    (*box, y + cell + band + MARK_WIDTH - 1), outline=MARK, width=MARK_WIDTH
                )
    return sheet


def set_options(settings: Sequence[Setting]) -> list[str]:
    """The options any setting sets, in the order they first appear."""
    return list(dict.fromkeys(n for s in settings for n, _ in s.values))


def varying_options(settings: Sequence[Setting]) -> list[str]:
    """The options whose value differs between settings, in the order they first appear."""
    names = set_options(settings)
    return [n for n in names if len({format_value(s.as_dict().get(n)) for s in settings}) > 1]


def sweep_grid(
    settings: Sequence[Setting],
) -> tuple[list[str], list[str], list[list[str | None]]]:
    """Row labels, column labels and setting ids for a sweep sheet.

    Exactly two options varying gives a 2-D grid (rows = the first, columns = the second; a
    combination no setting has is None); anything else gives one row with a column per setting.
    """
    varying = varying_options(settings)
    if len(varying) == 2:
        a, b = varying
        rows = list(dict.fromkeys(format_value(s.as_dict().get(a)) for s in settings))
        cols = list(dict.fromkeys(format_value(s.as_dict().get(b)) for s in settings))
        grid: list[list[str | None]] = [[None] * len(cols) for _ in rows]
        for s in settings:
            d = s.as_dict()
            grid[rows.index(format_value(d.get(a)))][cols.index(format_value(d.get(b)))] = s.id
        return [f"{a} {r}" for r in rows], [f"{b} {c}" for c in cols], grid
    if len(varying) == 1:
        (a,) = varying
        labels = [f"{a} {format_value(s.as_dict().get(a))}" for s in settings]
    else:
        labels = [s.id for s in settings]
    return [""], labels, [[s.id for s in settings]]


# --- the settings table ---------------------------------------------------------------------


def settings_tsv(settings: Sequence[Setting]) -> str:
    """A table: `id` then one column per option any setting sets; empty where one does not."""
    names = set_options(settings)
    lines = ["\t".join(["id", *names])]
    for s in settings:
        d = s.as_dict()
        lines.append("\t".join([s.id, *(format_value(d[n]) if n in d else "" for n in names)]))
    return "\n".join(lines) + "\n"


# --- loss plots -----------------------------------------------------------------------------

MAIN_LOSSES = ("total", "content", "style", "tv")


def read_losses(path: str | os.PathLike[str]) -> dict[str, list[float]]:
    """losses.tsv as columns: name -> values, one per iteration (the `iteration` column too)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: no rows of losses")
    return {name: [float(r[name]) for r in rows] for name in rows[0]}


def loss_plot(losses: Mapping[str, Sequence[float]], *, title: str = "") -> Figure:
    """Loss curves against iteration on a log scale: total, content, style and tv bold, each
    style layer thin. Terms that stay at 0 (a weight of 0) are left out."""
    # Imported here: the Snakemake scheduler imports this module for sweep_grid, and matplotlib
    # would add half a second to every start.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    x = losses["iteration"]
    for name, values in losses.items():
        if name in ("iteration", "elapsed_s", "scale_px") or not any(v > 0 for v in values):
            continue
        main = name in MAIN_LOSSES
        ax.plot(x, values, label=name, linewidth=1.8 if main else 0.8, alpha=1 if main else 0.7)
    ax.set_yscale("log", nonpositive="mask")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (weighted)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Save a figure as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


# --- trade-off plots ------------------------------------------------------------------------

FRONT_COLOUR = "#d62728"  # the Pareto front and the pick, as MARK on the sheets


@dataclass(frozen=True)
class Tradeoff:
    """One content x style's settings as points: labels, (content_distance, style_distance)
    each, and the index of the pick."""

    title: str
    labels: tuple[str, ...]
    points: tuple[tuple[float, float], ...]
    picked: int


def _log_scale_suits(values: Sequence[float]) -> bool:
    # Distances of a weight sweep often span decades: log axes then, if all are above 0.
    return min(values) > 0 and max(values) / min(values) > 30


def draw_tradeoff(ax: Axes, tradeoff: Tradeoff, *, label_points: bool = True) -> None:
    """Every setting as a point, the Pareto front as a staircase out to the plot's edges (what
    it dominates lies above and to the right), the pick ringed."""
    xs, ys = zip(*tradeoff.points, strict=True)
    if _log_scale_suits(xs):
        ax.set_xscale("log")
    if _log_scale_suits(ys):
        ax.set_yscale("log")
    ax.scatter(xs, ys, s=18, color="#1f77b4", zorder=3)
    ax.margins(0.15)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    front = sorted(
        p for p, on in zip(tradeoff.points, pareto_front(tradeoff.points), strict=True) if on
    )
    fx, fy = zip(*[(front[0][0], y1), *front, (x1, front[-1][1])], strict=True)
    ax.plot(fx, fy, drawstyle="steps-post", color=FRONT_COLOUR, linewidth=1.2, label="Pareto front")
    px, py = tradeoff.points[tradeoff.picked]
    ax.scatter(
        [px], [py], s=110, facecolors="none", edgecolors=FRONT_COLOUR, linewidths=1.6,
        label="pick", zorder=4,
    )  # fmt: skip
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if label_points:
        for label, (x, y) in zip(tradeoff.labels, tradeoff.points, strict=True):
            ax.annotate(label, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=6.5)
    # 1e5 once beside the axis, not 100000 in every tick label; at most 5 ticks (a log axis
    # places its own, by decade, and takes no nbins).
    for axis in ("x", "y"):
        if getattr(ax, f"get_{axis}scale")() == "linear":
            ax.ticklabel_format(axis=axis, style="sci", scilimits=(-3, 4))
            ax.locator_params(axis=axis, nbins=5)
    ax.set_title(tradeoff.title, fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=7)


def tradeoff_plot(tradeoff: Tradeoff, *, note: str = "") -> Figure:
    """style_distance against content_distance of one content x style, points labelled."""
    from matplotlib.figure import Figure  # see loss_plot

    fig = Figure(figsize=(6.4, 4.8), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    draw_tradeoff(ax, tradeoff)
    ax.set_xlabel("content_distance (less: nearer the content)", fontsize=8)
    ax.set_ylabel("style_distance (less: nearer the style)", fontsize=8)
    ax.legend(fontsize=7, loc="best")
    if note:
        fig.suptitle(note, fontsize=7)
    return fig


def tradeoff_grid(
    tradeoffs: Mapping[tuple[str, str], Tradeoff],
    contents: Sequence[str],
    styles: Sequence[str],
    *,
    note: str = "",
) -> Figure:
    """Small multiples: a trade-off plot per content (down) x style (across), unlabelled."""
    from matplotlib.figure import Figure  # see loss_plot

    fig = Figure(
        figsize=(2.4 * len(styles) + 0.6, 2.1 * len(contents) + 0.6), dpi=100, layout="constrained"
    )
    axes = fig.subplots(len(contents), len(styles), squeeze=False)
    for r, content in enumerate(contents):
        for c, style in enumerate(styles):
            tradeoff = tradeoffs[content, style]
            draw_tradeoff(axes[r][c], tradeoff, label_points=False)
            # A panel is narrow: long names wrap instead of running out of the figure.
            axes[r][c].set_title("\n".join(textwrap.wrap(tradeoff.title, 34)), fontsize=7)
    fig.supxlabel("content_distance", fontsize=8)
    fig.supylabel("style_distance", fontsize=8)
    if note:
        fig.suptitle(note, fontsize=8)
    return fig
