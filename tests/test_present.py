"""Pictures of a sweep: GIFs in iteration order, sheets of the promised grid and size, plots."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image, ImageDraw

from stylesweep import present, sweep
from stylesweep.present import Header

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 30), (30, 30, 220)


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Image.Image:
    return Image.new("RGB", size, colour)


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, colour, strict=False))


def write_frames(folder: Path, iterations: list[int], size: tuple[int, int] = (48, 32)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for it in iterations:
        solid((it * 7 % 256, 100, 150), size).save(folder / f"{it:04d}.png")


# --- the sweep as a grid and a table -------------------------------------------------------


def test_two_swept_options_make_a_grid() -> None:
    settings = sweep.make_settings({"sweep": {"style_weight": [10, 20, 30], "tv_weight": [0, 1]}})
    rows, cols, grid = present.sweep_grid(settings)
    assert rows == ["style_weight 10", "style_weight 20", "style_weight 30"]
    assert cols == ["tv_weight 0", "tv_weight 1"]
    assert grid[2][1] == "style_weight-30_tv_weight-1"


@pytest.mark.parametrize(
    ("config", "cols"),
    [
        (
            {"sweep": {"style_weight": [10, 20], "tv_weight": [0]}},
            ["style_weight 10", "style_weight 20"],
        ),
        ({}, ["default"]),
        (
            {"settings": [{"seed": 1, "tv_weight": 0, "style_weight": 1}, {"seed": 2}]},
            ["seed-1_style_weight-1_tv_weight-0", "seed-2"],
        ),
    ],
)
def test_other_sweeps_make_a_row(config: dict, cols: list[str]) -> None:
    settings = sweep.make_settings(config)
    assert present.sweep_grid(settings) == ([""], cols, [[s.id for s in settings]])


def test_a_partial_grid_leaves_gaps() -> None:
    settings = sweep.make_settings(
        {"settings": [{"seed": 1, "tv_weight": 0}, {"seed": 2, "tv_weight": 1}]}
    )
    assert present.sweep_grid(settings)[2] == [
        ["seed-1_tv_weight-0", None],
        [None, "seed-2_tv_weight-1"],
    ]


def test_settings_tsv_maps_ids_to_values() -> None:
    settings = sweep.make_settings(
        {"settings": [{"style_weight": 1e4, "tv_weight": 0}, {"seed": 3}]}
    )
    assert present.settings_tsv(settings) == (
        "id\tstyle_weight\ttv_weight\tseed\n"
        "style_weight-10000_tv_weight-0\t10000\t0\t\n"
        "seed-3\t\t\t3\n"
    )


# --- contact sheets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "cols", "cell", "pad"), [(1, 1, 32, 0), (2, 3, 64, 4), (4, 5, 160, 4)]
)
def test_sheet_is_the_grid_plus_a_header_row_and_column(
    rows: int, cols: int, cell: int, pad: int
) -> None:
    grid = [[solid(RED)] * cols for _ in range(rows)]
    sheet = present.contact_sheet(
        grid,
        row_headers=[Header(f"r{r}", (solid(GREEN),)) for r in range(rows)],
        col_headers=[Header(f"c{c}") for c in range(cols)],
        cell=cell,
        pad=pad,
    )
    assert sheet.size == present.sheet_size(rows, cols, cell, pad)
    assert sheet.size == (
        (cols + 1) * cell + (cols + 2) * pad,
        (rows + 1) * cell + (rows + 2) * pad,
    )


def test_cells_hold_their_images_and_none_stays_blank() -> None:
    cell, pad = 50, 4
    sheet = present.contact_sheet(
        [[solid(RED), None], [solid(BLUE), solid(GREEN)]],
        row_headers=[Header("a"), Header("b")],
        col_headers=[Header("x"), Header("y")],
        cell=cell,
        pad=pad,
    )

    def centre(r: int, c: int) -> tuple[int, ...]:
        # r, c count the header row and column as 0.
        return sheet.getpixel(
            (pad + c * (cell + pad) + cell // 2, pad + r * (cell + pad) + cell // 2)
        )

    assert near(centre(1, 1), RED)
    assert centre(1, 2) == present.SHEET_BACKGROUND
    assert near(centre(2, 1), BLUE) and near(centre(2, 2), GREEN)


def test_a_blend_header_shows_its_styles_side_by_side() -> None:
    cell = 80
    img = present.header_cell(Header("mix", (solid(RED, (30, 30)), solid(BLUE, (30, 30)))), cell)
    assert img.size == (cell, cell)
    assert near(img.getpixel((cell // 4, cell // 3)), RED)
    assert near(img.getpixel((3 * cell // 4, cell // 3)), BLUE)


def test_labels_are_drawn_and_cut_to_fit() -> None:
    img = present.draw_label(solid((128, 128, 128), (60, 60)), "a very long label indeed")
    assert img.getpixel((1, 59)) == present.LABEL_BAND
    assert img.getpixel((30, 10)) == (128, 128, 128)
    draw = ImageDraw.Draw(img)
    face = present.font(12)
    cut = present.fit_text(draw, "a very long label indeed", 60, face)
    assert cut.endswith("…") and draw.textlength(cut, font=face) <= 60


def test_text_headers_wrap_at_spaces() -> None:
    draw = ImageDraw.Draw(solid(RED))
    lines = present.wrap_text(draw, "style_weight 1000 tv_weight 0", 90, present.font(12))
    assert len(lines) >= 2 and " ".join(lines) == "style_weight 1000 tv_weight 0"


# --- GIFs ------------------------------------------------------------------------------------


def test_frames_are_ordered_by_iteration_not_by_name(tmp_path: Path) -> None:
    write_frames(tmp_path, [100, 20, 1000, 5])
    (tmp_path / "notes.txt").write_text("not a frame")
    assert [it for it, _ in present.frames_in_order(tmp_path)] == [5, 20, 100, 1000]


def test_gif_has_every_frame_numbered_and_holds_the_last(tmp_path: Path) -> None:
    write_frames(tmp_path / "frames", [2, 4, 6])
    out = tmp_path / "progress.gif"
    n = present.gif_from_frames(tmp_path / "frames", out, frame_ms=100, hold_ms=900)
    assert n == 3
    frames = iio.imread(out, index=None)
    assert frames.shape[:3] == (3, 32, 48)
    with Image.open(out) as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert durations == [100, 100, 900]
    raw = np.asarray(Image.open(tmp_path / "frames/0002.png"))
    assert np.abs(frames[0, -6:, :, :3].astype(int) - raw[-6:]).max() > 50  # the label band
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "progress.gif"]  # no temp


def test_coarse_frames_are_shown_at_the_final_size(tmp_path: Path) -> None:
    write_frames(tmp_path / "frames", [5], size=(24, 16))
    write_frames(tmp_path / "frames", [10], size=(48, 32))
    present.gif_from_frames(tmp_path / "frames", tmp_path / "p.gif")
    assert iio.imread(tmp_path / "p.gif", index=None).shape[:3] == (2, 32, 48)


def test_a_gif_of_no_frames_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no frames"):
        present.gif_from_frames(tmp_path, tmp_path / "x.gif")


def test_small_frames_show_the_number_alone() -> None:
    wide, small = present.gif_frames([(300, solid(RED, (200, 120))), (300, solid(RED, (24, 24)))])
    assert wide.size == (200, 120) and small.size == (24, 24)


# --- loss plots ------------------------------------------------------------------------------


def test_loss_plot_draws_each_nonzero_term(tmp_path: Path) -> None:
    tsv = tmp_path / "losses.tsv"
    tsv.write_text(
        "iteration\ttotal\tcontent\tstyle\tstyle_relu1_1\ttv\telapsed_s\n"
        "1\t10\t4\t6\t6\t0\t0.1\n"
        "2\t8\t3\t5\t5\t0\t0.2\n"
    )
    losses = present.read_losses(tsv)
    assert losses["iteration"] == [1.0, 2.0] and losses["total"] == [10.0, 8.0]
    fig = present.loss_plot(losses, title="cat / wave / default")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["total", "content", "style", "style_relu1_1"]
    assert ax.get_yscale() == "log"
    out = tmp_path / "losses.png"
    present.save_figure(fig, out)
    assert Image.open(out).size == (640, 400)


def test_a_gif_of_one_frame(tmp_path: Path) -> None:
    present.write_gif(tmp_path / "one.gif", [Image.new("RGB", (8, 6), "red")], hold_ms=700)
    assert iio.imread(tmp_path / "one.gif", index=None).shape[:3] == (1, 6, 8)
