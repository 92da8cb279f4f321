"""Which setting is best: scores normalised within a content x style, the Pareto front, ranks."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigError
from .sweep import format_value

# The scores of a run (stylesweep.score measures them; this module is torch-free, for the
# scheduler): the columns of scores.json and of the summary, in this order.
SCORE_NAMES = ("content_distance", "style_distance", "color_distance", "structure", "noise")
# The default longest side, in pixels, every image is scored at (score_size).
SCORE_SIZE = 256
# SSIM: more is better. The others are distances: less is better.
HIGHER_IS_BETTER = frozenset({"structure"})
# The default criterion: the Pareto-front setting nearest the utopia point of these two axes.
BALANCE = "balance"
TRADEOFF_AXES = ("content_distance", "style_distance")
# The final weighted losses of run.json that the summary shows, as loss_<name>.
SUMMARY_LOSSES = ("total", "content", "style", "tv")

# `pick.by`: "balance", one score's name, or {score name: weight}.
Criterion = str | Mapping[str, float]


def check_criterion(by: Criterion) -> None:
    """A ConfigError naming `pick.by` unless it is balance, a score name or {score: weight >= 0}
    with some weight above 0."""
    names = ", ".join(SCORE_NAMES)
    if isinstance(by, str):
        if by != BALANCE and by not in SCORE_NAMES:
            raise ConfigError(f"pick.by: {by!r} is neither balance nor a score ({names})")
        return
    unknown = [name for name in by if name not in SCORE_NAMES]
    if unknown:
        raise ConfigError(f"pick.by: {', '.join(unknown)} is not a score ({names})")
    if any(w < 0 for w in by.values()) or not any(w > 0 for w in by.values()):
        raise ConfigError("pick.by: the weights must be >= 0, and one of them > 0")


def describe(by: Criterion) -> str:
    """The criterion in a few words, for sheets and plots: `balance`, `structure`,
    `1 style_distance + 0.5 content_distance`."""
    if isinstance(by, str):
        return by
    return " + ".join(f"{format_value(float(w))} {name}" for name, w in by.items())


def normalise(values: Sequence[float]) -> list[float]:
    """`values` scaled to [0, 1] by their minimum and maximum; all 0 when they are all equal."""
    low, high = min(values), max(values)
    if not high > low:
        return [0.0] * len(values)
    return [(v - low) / (high - low) for v in values]


def badness(scores: Sequence[Mapping[str, float]], name: str) -> list[float]:
    """One score of each setting normalised within them: 0 the best of them, 1 the worst
    (structure is turned round: the highest SSIM is 0)."""
    sign = -1.0 if name in HIGHER_IS_BETTER else 1.0
    return normalise([sign * s[name] for s in scores])


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Whether each (x, y) point is on the Pareto front, less being better on both axes: no
    other point is at most as large on both and smaller on one. Equal points are both on it."""
    return [
        not any(qx <= px and qy <= py and (qx < px or qy < py) for j, (qx, qy) in enumerate(points))
        for px, py in points
    ]


def tradeoff_points(scores: Sequence[Mapping[str, float]]) -> list[tuple[float, float]]:
    """(content_distance, style_distance) of each setting, as measured."""
    x, y = TRADEOFF_AXES
    return [(s[x], s[y]) for s in scores]


def criterion_keys(scores: Sequence[Mapping[str, float]], by: Criterion) -> list[float]:
    """Each setting's value of the criterion, within its content x style; less is better.

    balance: the distance to the utopia point (0, 0) once content_distance and style_distance
    are each normalised to [0, 1]. The nearest point is on the Pareto front: a point that
    dominates another is at most as far on both normalised axes, and nearer on one.
    A score's name: that score, normalised. {score: weight}: the weighted sum of the scores,
    each normalised (0 the best, 1 the worst of this content x style).
    """
    if not scores:
        return []
    if by == BALANCE:
        x, y = (badness(scores, name) for name in TRADEOFF_AXES)
        return [math.hypot(a, b) for a, b in zip(x, y, strict=True)]
    weights = {by: 1.0} if isinstance(by, str) else by
    columns = [[w * v for v in badness(scores, name)] for name, w in weights.items() if w]
    return [sum(values) for values in zip(*columns, strict=True)]


def ranks(keys: Sequence[float]) -> list[int]:
    """1 for the least key, then 2, ...: a permutation of 1..n, ties in the settings' order."""
    order = sorted(range(len(keys)), key=lambda i: (keys[i], i))
    out = [0] * len(keys)
    for rank, i in enumerate(order, start=1):
        out[i] = rank
    return out


def rank(scores: Sequence[Mapping[str, float]], by: Criterion) -> list[int]:
    """The rank of each setting of one content x style by `by` (1 = the pick)."""
    return ranks(criterion_keys(scores, by))


def pick(scores: Sequence[Mapping[str, float]], by: Criterion) -> int:
    """The index of the best setting of one content x style by `by`."""
    return rank(scores, by).index(1)


# --- the summary table ----------------------------------------------------------------------


def summary_row(
    run: Mapping[str, str],
    values: Mapping[str, Any],
    record: Mapping[str, Any],
    scores: Mapping[str, float],
) -> dict[str, Any]:
    """One run's row, rank left out: `run` names its content, style and setting, `values` are
    its swept values, `record` is its run.json and `scores` its scores."""
    losses = record.get("final_losses") or {}
    memory = record.get("peak_memory") or {}
    # The GPU's peak for a GPU run, else the process's peak resident memory.
    peak = memory.get("cuda_max_allocated_mb", memory.get("rss_mb"))
    stop = record.get("stop") or {}
    return {
        "content": run["content"],
        "style": run["style"],
        "setting": run["setting"],
        **{name: format_value(value) for name, value in values.items()},
        **{f"loss_{name}": losses.get(name) for name in SUMMARY_LOSSES},
        **{name: scores[name] for name in SCORE_NAMES},
        "iterations": stop.get("iteration", record.get("options", {}).get("num_iterations")),
        "wall_s": record.get("wall_time_s"),
        "peak_mem_mb": peak,
        "device": record.get("device"),
    }


def add_ranks(rows: Sequence[dict[str, Any]], by: Criterion) -> list[dict[str, Any]]:
    """The rows with `rank`: each run's place within its content x style by `by`."""
    pairs: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(rows):
        pairs.setdefault((row["content"], row["style"]), []).append(i)
    out = [dict(row) for row in rows]
    for members in pairs.values():
        for i, r in zip(members, rank([rows[i] for i in members], by), strict=True):
            out[i]["rank"] = r
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def summary_tsv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as a TSV table with a header; empty cells for missing values."""
    if not rows:
        raise ValueError("summary_tsv: no runs")
    names = list(rows[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(names)
    writer.writerows([_cell(row.get(name)) for name in names] for row in rows)
    return buffer.getvalue()


def read_summary(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """results/summary.tsv as rows: the scores and rank as numbers, the rest as text."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        for name in SCORE_NAMES:
            row[name] = float(row[name])
        row["rank"] = int(row["rank"])
    return rows


def by_pair(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """The rows of each content x style, in the table's order."""
    out: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault((row["content"], row["style"]), []).append(row)
    return out
