"""Print-size renders of chosen sweep runs: the `render` config, its runs, options and needs."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import present
from .errors import ConfigError, OptionError
from .images import style_size
from .memory import (
    CPU_SECONDS_PER_MEGAPIXEL_ITERATION,
    GPU_SECONDS_PER_MEGAPIXEL_ITERATION,
    MEMORY_MARGIN,
    MemoryPlan,
    plan_memory,
    scaled_size_or_square,
)
from .options import (
    PRINT_RECIPE_ABOVE,
    Options,
    auto_scale_iterations,
    auto_scales,
    defaults,
    ladder,
)
from .registry import get_spec
from .sweep import Plan, build_options, uses_gpu

# `render.format` -> (file extension, bits per channel).
FORMATS = {"png": ("png", 8), "png16": ("png", 16), "tiff16": ("tif", 16), "jpg": ("jpg", 8)}
AUTO = "auto"
# The chain's GIF is at most this many px on its longest side: a print-size GIF is of no use.
GIF_LONGEST = 512

RunId = tuple[str, str, str]  # (content, style, setting), as the sweep names them


@dataclass(frozen=True)
class RenderConfig:
    """The `render` section, its runs resolved against the sweep (the one home of its defaults)."""

    runs: tuple[RunId, ...] = ()  # the runs listed, or every run for `all`; () for none or best
    best: bool = False  # the summary's pick of each content x style (known once scores exist)
    size: int = 2048  # the longest side, px
    scales: tuple[int, ...] | None = None  # None: auto (options.auto_scales of size)
    # None: auto (the print recipe's counts above PRINT_RECIPE_ABOVE px, else the run's own)
    scale_iterations: tuple[int, ...] | None = None
    num_iterations: int | None = None  # at the final size; None: the run's own
    max_memory: str | None = None  # None: the job's memory request on the CPU
    format: str = "png"

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    @property
    def depth(self) -> int:
        return FORMATS[self.format][1]


def read_config(section: Mapping[str, Any] | None, plan: Plan) -> RenderConfig:
    """The (schema-valid) `render` section as a RenderConfig; no section renders nothing.

    Raises ConfigError, in one line naming the entry, for a run the sweep does not have or a
    size, scale or iteration count the engine refuses.
    """
    if not section:
        return RenderConfig()
    runs = section.get("runs", ())
    given = {k: v for k, v in section.items() if k != "runs"}
    for key in ("size", "num_iterations"):  # 2048.0 is an integer to the schema
        if key in given:
            given[key] = int(given[key])
    for key in ("scales", "scale_iterations"):
        value = given.get(key, AUTO)
        given[key] = None if value == AUTO else tuple(int(v) for v in value)
    chosen: tuple[RunId, ...] = ()
    if runs == "all":
        chosen = tuple((r.content, r.style.name, r.setting.id) for r in plan.runs())
    elif runs != "best":
        chosen = resolve_runs(runs, plan)
    config = RenderConfig(runs=chosen, best=runs == "best", **given)
    check_options(config, plan)
    return config


def resolve_runs(entries: Sequence[Mapping[str, str]], plan: Plan) -> tuple[RunId, ...]:
    """Each `{content, style, setting}` as the sweep's ids, in order, once each; a content or
    single style may also be named by its file's stem, as `blends` does."""
    contents = {Path(p).stem: name for name, p in plan.contents.items()}
    contents.update({name: name for name in plan.contents})
    styles = {Path(s.images[0]).stem: n for n, s in plan.styles.items() if not s.is_blend}
    styles.update({name: name for name in plan.styles})
    settings = {s.id: s.id for s in plan.settings}
    out: list[RunId] = []
    for i, entry in enumerate(entries):
        where = f"render.runs[{i}]"
        run = (
            _known(str(entry["content"]), contents, where, "content"),
            _known(str(entry["style"]), styles, where, "style"),
            _known(str(entry["setting"]), settings, where, "setting"),
        )
        if run not in out:
            out.append(run)
    return tuple(out)


def _known(name: str, known: Mapping[str, str], where: str, key: str) -> str:
    if name not in known:
        names = ", ".join(sorted(set(known.values())))
        raise ConfigError(f"{where}: unknown {key} {name!r}; the sweep's are {names}")
    return known[name]


def render_options(run_options: Mapping[str, Any], config: RenderConfig) -> dict[str, Any]:
    """A run's own resolved options, at config.size from an init image, as a render's: its
    scales and iterations, max_memory and output depth. The workflow adds init_image."""
    scales = auto_scales(config.size) if config.scales is None else config.scales
    counts = config.scale_iterations
    if counts is None:  # auto: as the CLI's --scales auto, the recipe's counts above 1024 px;
        # up to it the run's own, where they fit these scales (one count, or one per scale)
        own = tuple(run_options["scale_iterations"])
        fits = config.size <= PRINT_RECIPE_ABOVE and len(own) in (1, len(scales))
        counts = own if fits else auto_scale_iterations(scales)
    options = {
        **run_options,
        "image_size": config.size,
        "scales": scales,
        # Options wants one count for no scales: the default, which then counts for nothing.
        "scale_iterations": counts or defaults()["scale_iterations"],
        "init": "image",
        "max_memory": config.max_memory,
        "output_depth": config.depth,
    }
    if config.num_iterations is not None:
        options["num_iterations"] = config.num_iterations
    return options


def check_options(config: RenderConfig, plan: Plan) -> None:
    """Build every setting's render options once, so a value the engine refuses stops the
    workflow at start (a ConfigError naming `render`) instead of failing every render job."""
    content = next(iter(plan.contents.values()))
    style = next(iter(plan.styles.values()))
    for setting in plan.settings:
        try:
            build_options(
                render_options(plan.options_for(setting), config),
                content_image=content,
                style=style,
                output_image=f"x.{config.extension}",
                model=plan.model,
            )
        except OptionError as error:
            raise ConfigError(f"render (setting {setting.id}): {error}") from None


# --- best: the picks of the summary ------------------------------------------------------------


def best_runs(rows: Sequence[Mapping[str, Any]]) -> list[RunId]:
    """The runs of rank 1 in the summary's rows (pick.read_summary): one per content x style."""
    return [(r["content"], r["style"], r["setting"]) for r in rows if int(r["rank"]) == 1]


def picks_tsv(runs: Sequence[RunId]) -> str:
    """The runs as a TSV table with a header: content, style, setting."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(("content", "style", "setting"))
    writer.writerows(runs)
    return buffer.getvalue()


def read_picks(path: str | os.PathLike[str]) -> list[RunId]:
    """The runs of a picks_tsv file."""
    with open(path, newline="") as f:
        return [(r["content"], r["style"], r["setting"]) for r in csv.DictReader(f, delimiter="\t")]


# --- what a render job asks the scheduler for --------------------------------------------------


def render_plan(opts: Options) -> MemoryPlan:
    """The memory plan of a render on the CPU, from the images' sizes (size_of reads each
    file's header once per process); within max_memory, or this machine's memory less a margin."""
    size = scaled_size_or_square(opts.content_image, opts.image_size)
    longest = style_size(opts.image_size, opts.style_scale)
    styles = [scaled_size_or_square(p, longest) for p in opts.style_image]
    return plan_memory(get_spec(opts.model), opts, size, styles, device="cpu")


def render_mem_mb(plan: MemoryPlan) -> int:
    """A render's `mem_mb`: the plan's peak with head room, in 100s of MB."""
    return int(math.ceil(MEMORY_MARGIN * plan.estimate_mb * 1.048576 / 100) * 100)


def render_runtime_min(opts: Options, plan: MemoryPlan, *, gpu: bool = False) -> int:
    """A generous bound of a render's wall time in minutes: every scale's iterations over the
    pixels it evaluates (a tiled scale's tiles, overlaps included)."""
    rate = GPU_SECONDS_PER_MEGAPIXEL_ITERATION if gpu else CPU_SECONDS_PER_MEGAPIXEL_ITERATION
    work = 0.0
    for (_, iterations), s in zip(ladder(opts), plan.scales, strict=True):
        work += iterations * s.megapixels
    return max(1, math.ceil((30 + 1.5 * rate * work) / 60))


def job_max_memory(opts: Options, device: str, mem_mb: int | None) -> Options:
    """The options with max_memory set to the job's memory request (MB) on the CPU when the
    config leaves it unset, so that the render plans within what the scheduler gave it."""
    if opts.max_memory is not None or device != "cpu" or not mem_mb:
        return opts
    return opts.replace(max_memory=f"{round(mem_mb / 1.048576)}M")


# --- the workflow's side: targets, and each job's start, options and needs --------------------


class Renders:
    """The renders a config asks for, as rules/render.smk uses them: the targets, and each job's
    init image, options and resources as functions of Snakemake's wildcards (content, style,
    setting, size). Here rather than in the .smk: Snakemake's lint wants a rule file's helpers
    elsewhere.

    Args:
        section, plan: the `render` section and the sweep (read_config).
        run_dir: a run's folder, a pattern of content, style and setting (final.png in it).
        stem: a render's files' pattern without the extension, of those and size.
        picks: where the summary's picks are, for `best`; raises until they exist (the
            checkpoint's output, so that Snakemake makes them first).
    """

    def __init__(
        self,
        section: Mapping[str, Any] | None,
        plan: Plan,
        *,
        run_dir: str,
        stem: str,
        picks: Callable[[], str],
    ):
        self.config = read_config(section, plan)
        self.plan, self.run_dir, self.stem, self.picks = plan, run_dir, stem, picks
        self._options: dict[tuple[str, ...], dict[str, Any]] = {}
        self._needs: dict[tuple[str, ...], tuple[int, int]] = {}

    def files(self, content: str, style: str, setting: str) -> list[str]:
        """A render's image, losses, run.json and GIF at the configured size."""
        stem = self.stem.format(
            content=content, style=style, setting=setting, size=self.config.size
        )
        return [f"{stem}.{end}" for end in (self.config.extension, "losses.tsv", "run.json", "gif")]

    def targets(self) -> list[Any]:
        """Every render's files; for `best`, a function that reads the runs from the picks
        (Snakemake calls it again once the checkpoint has made them)."""
        if self.config.best:
            return [self.best_targets]
        return [path for run in self.config.runs for path in self.files(*run)]

    def best_targets(self, wildcards: Any) -> list[str]:
        return [path for run in read_picks(self.picks()) for path in self.files(*run)]

    def init_image(self, wildcards: Any) -> str:
        """The run's final image, where its render starts."""
        return os.path.join(self.run_dir.format(**_run_of(wildcards)), "final.png")

    def options(self, wildcards: Any) -> dict[str, Any]:
        """A render's resolved options: its run's, at the size of its path (so a size other
        than the config's may be asked for by file name)."""
        key = (*_run_of(wildcards).values(), wildcards.size)
        if key not in self._options:
            config = dataclasses.replace(self.config, size=int(wildcards.size))
            run = self.plan.run(**_run_of(wildcards))
            self._options[key] = render_options(run.options_dict(), config)
        return self._options[key]

    def params(self, wildcards: Any) -> dict[str, Any]:
        """The options that differ from the engine's defaults: they alone decide reruns, as
        for stylize (a new engine option leaves finished renders alone)."""
        default = defaults()
        return {k: v for k, v in self.options(wildcards).items() if v != default[k]}

    def needs(self, wildcards: Any) -> tuple[int, int]:
        """(mem_mb, runtime in minutes) of a render, from its memory plan on the CPU."""
        key = (*_run_of(wildcards).values(), wildcards.size)
        if key not in self._needs:
            opts = build_options(
                self.options(wildcards),
                content_image=self.plan.contents[wildcards.content],
                style=self.plan.styles[wildcards.style],
                model=self.plan.model,
            )
            plan = render_plan(opts)
            gpu = uses_gpu(self.plan.device)
            self._needs[key] = render_mem_mb(plan), render_runtime_min(opts, plan, gpu=gpu)
        return self._needs[key]

    def mem_mb(self, wildcards: Any) -> int:
        return self.needs(wildcards)[0]

    def runtime(self, wildcards: Any) -> int:
        return self.needs(wildcards)[1]


def _run_of(wildcards: Any) -> dict[str, str]:
    return {k: getattr(wildcards, k) for k in ("content", "style", "setting")}


# --- the job -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderOutputs:
    """A render's files besides its image (opts.output_image)."""

    frames: str  # a folder: NNNN.png every save_iter of every scale
    losses_tsv: str
    run_json: str
    gif: str  # the chain's frames, at most GIF_LONGEST px


def render(
    opts: Options,
    outputs: RenderOutputs,
    *,
    mem_mb: int | None = None,
    weights: str | None = None,
    checkpoint: str | None = None,
    frame_ms: int = 120,
    hold_ms: int = 1500,
) -> None:
    """One render: the run of `opts` (init_image its sweep run's final image), its files, and a
    GIF of every scale's frames. On the CPU without max_memory it plans within `mem_mb`."""
    # torch only in a render job: the scheduler imports this module for its planning.
    from . import runner

    device = runner.resolve_device(opts.device).type
    opts = job_max_memory(opts, device, mem_mb)
    os.makedirs(outputs.frames, exist_ok=True)
    frames = os.path.join(outputs.frames, "{iteration:04d}.png")
    run = runner.RunOutputs(frames=frames, losses_tsv=outputs.losses_tsv, run_json=outputs.run_json)
    runner.run_one(opts, run, final_frame=True, weights=weights, checkpoint=checkpoint)
    present.gif_from_frames(
        outputs.frames, outputs.gif, frame_ms=frame_ms, hold_ms=hold_ms, longest=GIF_LONGEST
    )
