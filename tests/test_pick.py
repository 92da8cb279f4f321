"""Picking the best setting: normalisation, the Pareto front, criteria, ranks, the summary."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image

from stylesweep import page, pick, present
from stylesweep.errors import ConfigError


def scores(content: float, style: float, **others: float) -> dict[str, float]:
    base = {"color_distance": 1.0, "structure": 0.5, "noise": 0.01}
    return {"content_distance": content, "style_distance": style, **base, **others}


# (content_distance, style_distance) of four settings: A and D are extremes, B balanced, C
# dominated by B.
POINTS = [(0.0, 10.0), (4.0, 4.0), (6.0, 6.0), (10.0, 0.0)]
SWEEP = [scores(x, y) for x, y in POINTS]


def test_normalise_maps_the_range_to_0_1_and_a_flat_column_to_0() -> None:
    assert pick.normalise([2.0, 4.0, 3.0]) == [0.0, 1.0, 0.5]
    assert pick.normalise([7.0, 7.0]) == [0.0, 0.0]


def test_structure_is_better_when_higher() -> None:
    rows = [scores(1, 1, structure=0.9), scores(1, 1, structure=0.1)]
    assert pick.badness(rows, "structure") == [0.0, 1.0]
    assert pick.pick(rows, "structure") == 0
    assert pick.pick(rows[::-1], "structure") == 1


@pytest.mark.parametrize(
    ("points", "front"),
    [
        (POINTS, [True, True, False, True]),
        ([(1, 1), (2, 2), (3, 0.5)], [True, False, True]),
        ([(1, 1), (1, 1)], [True, True]),  # equal points are both on it
        ([(1, 2), (1, 1)], [False, True]),  # equal on one axis, worse on the other
        ([(5, 5)], [True]),
    ],
)
def test_pareto_front(points: list[tuple[float, float]], front: list[bool]) -> None:
    assert pick.pareto_front(points) == front


@pytest.mark.parametrize(
    ("by", "best"),
    [
        ("balance", 1),  # B: nearest (0, 0) once both axes are normalised
        ("content_distance", 0),
        ("style_distance", 3),
        ({"style_distance": 1, "content_distance": 0}, 3),
        ({"content_distance": 3, "style_distance": 1}, 0),
    ],
)
def test_pick(by: pick.Criterion, best: int) -> None:
    assert pick.pick(SWEEP, by) == best


def test_balance_picks_a_front_point_whatever_the_units() -> None:
    scaled = [scores(1e6 * x, 1e-3 * y) for x, y in POINTS]
    assert pick.pick(scaled, "balance") == 1
    keys = pick.criterion_keys(scaled, "balance")
    assert keys[1] == pytest.approx(math.hypot(0.4, 0.4))


def test_ranks_are_a_permutation_with_ties_in_order() -> None:
    assert pick.ranks([3.0, 1.0, 2.0]) == [3, 1, 2]
    assert pick.ranks([1.0, 1.0, 0.0]) == [2, 3, 1]
    assert sorted(pick.rank(SWEEP, "balance")) == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("by", "message"),
    [
        ("sharpness", "neither balance nor a score"),
        ({"sharpness": 1}, "sharpness is not a score"),
        ({"noise": 0}, "one of them > 0"),
        ({"noise": -1, "structure": 1}, ">= 0"),
    ],
)
def test_a_bad_criterion_names_pick_by(by: pick.Criterion, message: str) -> None:
    with pytest.raises(ConfigError, match=f"pick.by: .*{message}"):
        pick.check_criterion(by)


def test_the_summary_ranks_within_each_content_and_style(tmp_path: Path) -> None:
    record = {
        "final_losses": {"total": 3.0, "content": 1.0, "style": 2.0, "tv": 0.0, "style_relu1_1": 1},
        "stop": {"iteration": 40, "early": True, "reason": "tol"},
        "wall_time_s": 1.5,
        "peak_memory": {"rss_mb": 800.0},
        "device": "cpu",
    }
    rows = [
        pick.summary_row(
            {"content": c, "style": s, "setting": f"sw-{i}"}, {"style_weight": 10.0**i}, record, sc
        )
        for c in ("cat", "dog")
        for s in ("wave", "mix")
        for i, sc in enumerate(SWEEP)
    ]
    ranked = pick.add_ranks(rows, "balance")
    path = tmp_path / "summary.tsv"
    path.write_text(pick.summary_tsv(ranked))
    header = path.read_text().splitlines()[0].split("\t")
    assert header == [
        "content", "style", "setting", "style_weight",
        "loss_total", "loss_content", "loss_style", "loss_tv",
        *pick.SCORE_NAMES,
        "iterations", "wall_s", "peak_mem_mb", "device", "rank",
    ]  # fmt: skip
    table = pick.read_summary(path)
    assert len(table) == 16
    for pair, members in pick.by_pair(table).items():
        assert sorted(r["rank"] for r in members) == [1, 2, 3, 4], pair
        assert next(r["setting"] for r in members if r["rank"] == 1) == "sw-1"
    assert table[0]["style_weight"] == "1" and table[3]["style_weight"] == "1000"
    assert table[0]["iterations"] == "40" and table[0]["peak_mem_mb"] == "800"


def test_a_gpu_runs_peak_memory_is_the_gpus() -> None:
    record = {"peak_memory": {"rss_mb": 900.0, "cuda_max_allocated_mb": 300.0}, "device": "cuda:0"}
    row = pick.summary_row({"content": "c", "style": "s", "setting": "x"}, {}, record, SWEEP[0])
    assert row["peak_mem_mb"] == 300.0


# --- what a person sees ---------------------------------------------------------------------


def test_a_tradeoff_plot_and_its_small_multiples(tmp_path: Path) -> None:
    labels = ("style_weight-10", "style_weight-100", "style_weight-300", "style_weight-1000")
    tradeoff = present.Tradeoff("cat / wave", labels, tuple(POINTS), picked=1)
    present.save_figure(present.tradeoff_plot(tradeoff, note="pick: balance"), tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").size == (640, 480)
    grid = {(c, s): tradeoff for c in ("cat", "dog") for s in ("wave", "cafe", "mix")}
    figure = present.tradeoff_grid(grid, ["cat", "dog"], ["wave", "cafe", "mix"])
    present.save_figure(figure, tmp_path / "all.png")
    width, height = Image.open(tmp_path / "all.png").size
    assert width > height  # three styles across, two contents down


def test_distances_spanning_decades_are_plotted_on_log_axes(tmp_path: Path) -> None:
    # Tiny or short runs: content distances from 0.01 to 5, style distances from 1e3 to 1e6.
    points = ((0.01, 1e6), (0.1, 3e4), (1.0, 5e3), (5.0, 1e3))
    tradeoff = present.Tradeoff("cat / wave", ("a", "b", "c", "d"), points, picked=2)
    figure = present.tradeoff_plot(tradeoff)
    (ax,) = [a for a in figure.axes if a.get_title() == "cat / wave"]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    present.save_figure(figure, tmp_path / "log.png")
    assert Image.open(tmp_path / "log.png").size == (640, 480)


def test_captions_lengthen_each_row_and_the_pick_is_framed() -> None:
    cell, pad = 64, 4
    red = Image.new("RGB", (32, 32), (0, 0, 255))
    captions = [["#1 pick\ncontent 1", "#2\ncontent 2"]]
    sheet = present.contact_sheet(
        [[red, red]],
        row_headers=[present.Header("row")],
        col_headers=[present.Header("a"), present.Header("b")],
        cell=cell,
        pad=pad,
        captions=captions,
        marked={(0, 0)},
    )
    band = present.caption_height(captions)
    assert band > 0
    assert sheet.size == present.sheet_size(1, 2, cell, pad, band)
    x, y = pad + (cell + pad), pad + (cell + pad)  # the first cell's corner
    assert sheet.getpixel((x - 2, y + cell // 2)) == present.MARK
    assert sheet.getpixel((x + cell + pad + cell + 1, y + cell // 2)) != present.MARK


def test_the_summary_page_embeds_its_figures_and_marks_the_picks(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "best.png")
    tsv = "content\tsetting\trank\ncat\ta\t2\ncat\tb\t1\n"
    html = page.summary_html(tsv, [("Best", tmp_path / "best.png")], title="t", note="stand-in")
    assert html.count("data:image/png;base64,") == 1
    assert html.count("<tr class='pick'>") == 1 and ">rank</th>" in html
    assert "stand-in" in html


def test_the_summary_table_sorts_without_a_script_element() -> None:
    # The report's first page is put in with innerHTML: only event attributes run there.
    table = page.summary_table("content\tsetting\trank\ncat\ta\t2\ncat\tb\t1\n")
    assert "<script" not in table
    assert table.count("onclick=") == 3 and table.count("<tr class='pick'>") == 1
    assert "<td>cat</td><td>b</td><td>1</td>" in table
