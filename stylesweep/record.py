"""What the optimization loop records and hands out: its scales, progress reports, stops,
results and checkpoints, and the per-setting record of the loss rows that makes them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import OptionError
from .lbfgs import Optimizer
from .objective import loss_names
from .options import Options

# (iteration, loss values in the order of `names`, elapsed seconds)
Row = tuple[int, tuple[float, ...], float]


@dataclass(frozen=True)
class Scale:
    """One rung of the coarse-to-fine ladder: iterations `first`..`last` at `size`."""

    index: int
    size: tuple[int, int]  # (H, W)
    first: int  # 1-based, numbered continuously across scales
    last: int


@dataclass(frozen=True, kw_only=True)
class Progress:
    """What the loop reports to one setting at a print, save or final iteration.

    Attributes:
        iteration: 1-based, continuous across scales; the losses and image are those evaluated
            at this iteration.
        num_iterations: the run's total over every scale.
        names: the loss names, in the order of each row's values.
        rows: every iteration's row since the last report.
        elapsed: seconds since the loop started.
        image: the current image, RGB in [0, 1], (1, 3, H, W) at the final size on the CPU,
            when a save is due.
        is_print: whether print_iter (or the last iteration) asks for a progress line.
        scale: the index of this iteration's scale (0 for a single-scale run).
        num_scales: how many scales the run has (1 for a single-scale run).
        is_last: whether this setting's run ends here: num_iterations, or an early stop
            (tol_loss_relative); its image is then the final one.
    """

    iteration: int
    num_iterations: int
    names: tuple[str, ...]
    rows: tuple[Row, ...]
    elapsed: float
    image: Tensor | None
    is_print: bool
    scale: int = 0
    num_scales: int = 1
    is_last: bool = False

    @property
    def losses(self) -> dict[str, float]:
        """This iteration's losses by name."""
        return dict(zip(self.names, self.rows[-1][1], strict=True))


@dataclass(frozen=True)
class Stop:
    """Where a setting's run ended, and why: num_iterations, or tol_loss_relative (early)."""

    iteration: int
    early: bool
    reason: str


@dataclass(frozen=True)
class Result:
    """The outcome of one setting: the final image and every iteration's losses.

    After an early stop the image is the one evaluated at `stop.iteration` and the rows end
    there; `elapsed` is the time at that iteration.
    """

    image: Tensor  # (1, 3, H, W) RGB in [0, 1], on the CPU
    names: tuple[str, ...]
    rows: tuple[Row, ...]
    elapsed: float
    scales: tuple[Scale, ...] = ()
    stop: Stop | None = None

    @property
    def final_losses(self) -> dict[str, float]:
        return dict(zip(self.names, self.rows[-1][1], strict=True))

    def scale_of(self, iteration: int) -> Scale | None:
        """The scale an iteration ran at (None when the run recorded none)."""
        return next((s for s in self.scales if s.first <= iteration <= s.last), None)


@dataclass(frozen=True)
class Checkpoint:
    """The loop's whole state after iteration `iteration`'s step: enough to resume exactly."""

    iteration: int
    # (B, C, h, w) at scale `scale`, on the CPU: the network's input, or for color_control
    # luminance its one grey channel (canvas.Canvas)
    image: Tensor
    optimizer_state: dict[str, Any]
    rng_state: Tensor
    rows: tuple[tuple[Row, ...], ...]  # each setting's rows so far
    elapsed: float
    seed: int
    scale: int = 0
    # per setting, None while it runs, else (iteration, reason, its final image (1, 3, H, W))
    # for a batch member that stopped early (tol_loss_relative) while the others went on
    stops: tuple[tuple[int, str, Tensor | None] | None, ...] = ()


@dataclass(frozen=True)
class Due:
    """What iteration i owes: a progress line, a saved image, a checkpoint."""

    print: bool  # a progress line: print_iter, or the last iteration
    save: bool  # save_iter: a frame, and a checkpoint after the step
    image: bool  # an image for the callbacks: a save, or the last iteration
    report: bool  # anything for the callbacks at all

    @classmethod
    def at(cls, opts: Options, i: int, n: int) -> Due:
        """What iteration i of n owes."""
        is_print = opts.print_iter > 0 and i % opts.print_iter == 0
        is_save = opts.save_iter > 0 and i % opts.save_iter == 0
        last = i == n
        return cls(is_print or last, is_save, is_save or last, is_print or is_save or last)


class Record:
    """Every setting's loss rows: kept on the device as they come, synced at a report, split
    per setting and handed to each setting's callback."""

    def __init__(
        self,
        settings: Sequence[Options],
        scales: list[Scale],
        callbacks: Sequence[Callable[[Progress], None] | None] | None,
        resume: Checkpoint | None,
        device: torch.device,
        temporal: bool = False,  # a video frame's temporal term: a column of its own
    ):
        b = len(settings)
        self.names = loss_names(settings[0], temporal)
        self.scales = scales
        self.num_iterations = n = scales[-1].last
        self.callbacks = list(callbacks) if callbacks is not None else [None] * b
        self.rows: list[list[Row]] = [[] for _ in range(b)]
        # Early stops (tol_loss_relative): each stopped setting's Stop and final image.
        self.stops: list[Stop | None] = [None] * b
        self.finals: list[Tensor | None] = [None] * b
        self.done, self.scale, offset = 0, 0, 0.0
        if resume is not None:
            if len(resume.rows) != b or resume.iteration >= n:
                raise OptionError(
                    f"resume: a checkpoint of another run (iteration {resume.iteration})"
                )
            self.rows = [list(r) for r in resume.rows]
            self.done, self.scale, offset = resume.iteration, resume.scale, resume.elapsed
            for j, stopped in enumerate(resume.stops):
                if stopped is not None:
                    self.stops[j] = Stop(stopped[0], True, stopped[1])
                    self.finals[j] = stopped[2]
        self.history = torch.zeros(n, b, len(self.names), device=device)  # no host sync
        self.times = [0.0] * n
        self.reported = self.done
        self.start = time.perf_counter() - offset

    def add(self, i: int, objective: Tensor, rows: Tensor) -> Tensor:
        """Keep iteration i's rows (B, K) and time; returns the objective (B,)."""
        self.history[i - 1] = rows
        self.times[i - 1] = time.perf_counter() - self.start
        return objective

    @property
    def finished(self) -> bool:
        """Whether every setting has stopped early."""
        return all(s is not None for s in self.stops)

    def running(self, objective: Tensor) -> Tensor:
        """The objective (B,) of the settings still running (a stopped one's no longer counts)."""
        if not any(s is not None for s in self.stops):
            return objective
        return objective[[j for j, s in enumerate(self.stops) if s is None]]

    def settled(self, opts: Options, i: int, scale: Scale) -> frozenset[int]:
        """The running settings whose run ends early at iteration i, their Stops recorded.

        artistic-videos' criterion: every tol_loss_window iterations of the final scale (whose
        loss does not jump at a change of size), stop when the total loss moved by less than
        tol_loss_relative x its value tol_loss_window iterations before. Syncs the host only
        at those iterations.
        """
        tol, window = opts.tol_loss_relative, opts.tol_loss_window
        k = i - scale.first + 1  # 1-based within the scale
        last = i == self.num_iterations  # ends anyway: not an early stop
        if tol <= 0 or scale is not self.scales[-1] or k % window or k <= window or last:
            return frozenset()
        now, then = self.history[[i - 1, i - 1 - window], :, 0].tolist()  # total, (2, B)
        ending = set()
        for j, stop in enumerate(self.stops):
            change = abs(now[j] - then[j])
            if stop is None and change < tol * abs(then[j]):
                self.stops[j] = Stop(
                    i,
                    True,
                    f"tol_loss_relative: the total loss changed by {change / abs(then[j]):.3g} "
                    f"of itself (< {tol:g}) from iteration {i - window} to {i}",
                )
                ending.add(j)
        return frozenset(ending)

    def report(
        self,
        i: int,
        scale: Scale,
        image: Tensor | None,
        due: Due,
        ending: frozenset[int] = frozenset(),
    ) -> None:
        """Sync the rows since the last report; call each running setting's callback with its
        own, and keep the final image of those `ending` here (an early stop)."""
        values = self.history[self.reported : i].tolist()  # (iterations, B, K)
        if image is not None and scale.size != self.scales[-1].size:
            # Every scale's frames at the final size, so that they make one animation.
            image = F.interpolate(
                image, size=self.scales[-1].size, mode="bilinear", align_corners=False
            )
        for j, callback in enumerate(self.callbacks):
            if self.stops[j] is not None and j not in ending:
                continue  # stopped earlier: its rows and image are final
            new = tuple(
                (k + 1, tuple(values[k - self.reported][j]), self.times[k])
                for k in range(self.reported, i)
            )
            self.rows[j].extend(new)
            last = i == self.num_iterations or j in ending
            mine = image[j : j + 1] if image is not None and (due.image or last) else None
            if j in ending:
                self.finals[j] = mine
            if callback is not None:
                callback(
                    Progress(
                        iteration=i,
                        num_iterations=self.num_iterations,
                        names=self.names,
                        rows=new,
                        elapsed=self.times[i - 1],
                        image=mine,
                        is_print=due.print or last,
                        scale=scale.index,
                        num_scales=len(self.scales),
                        is_last=last,
                    )
                )
        self.reported = i

    def snapshot(
        self, i: int, img: Tensor, optimizer: Optimizer, seed: int, scale: Scale
    ) -> Checkpoint:
        """The state after iteration i's step, copied to the CPU."""
        return Checkpoint(
            iteration=i,
            image=img.detach().cpu().clone(),
            optimizer_state=to_cpu(optimizer.state_dict()),
            rng_state=torch.get_rng_state(),
            rows=tuple(tuple(r) for r in self.rows),
            elapsed=self.times[i - 1],
            seed=seed,
            scale=scale.index,
            stops=tuple(
                None if s is None else (s.iteration, s.reason, self.finals[j])
                for j, s in enumerate(self.stops)
            ),
        )

    def results(self, final: Tensor) -> list[Result]:
        """One Result per setting from the final images (B, 3, H, W); a setting that stopped
        early keeps its image, rows and time from its stop."""
        n = self.num_iterations
        out = []
        for j, rows in enumerate(self.rows):
            stop, image = self.stops[j], self.finals[j]
            if stop is None or image is None:
                stop, image = Stop(n, False, "num_iterations"), final[j : j + 1]
            # The time of its last row: its stop's, even when that came from a checkpoint.
            elapsed = rows[-1][2]
            out.append(Result(image, self.names, tuple(rows), elapsed, tuple(self.scales), stop))
        return out


def to_cpu(value: Any) -> Any:
    # A deep copy on the CPU: the optimizer keeps changing its own tensors in place.
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_cpu(v) for v in value)
    return value
