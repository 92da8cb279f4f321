import functools
import inspect
import os

from snakemake.common import overwrite_function_params

from stylesweep import memory, pick, present, sweep
from stylesweep.registry import get_spec
from stylesweep import video as videos
from stylesweep.options import defaults

PLAN = sweep.plan(config)
RUNS = PLAN.runs()
GROUPS = {group.id: group for group in PLAN.groups()}
GROUP_OF = {s.id: group for group in GROUPS.values() for s in group.settings}
# A sweep sheet's row labels, column labels and grid of setting ids: the same for every sheet.
SWEEP_GRID = present.sweep_grid(PLAN.settings)
# The largest image_size of any setting: the most a contact sheet's cell holds.
LARGEST_IMAGE_SIZE = max(PLAN.options_for(s)["image_size"] for s in PLAN.settings)
RUN_DIR = "results/runs/{content}/{style}/{setting}"
# A stylize job's folder: a subfolder per setting of its group, published into RUN_DIRs.
JOB_DIR = "results/jobs/{content}/{style}/{group}"
WEIGHTS_DIR = os.path.expanduser(config["weights"]["dir"])
# Snakemake's job group of a run (on a cluster only; locally groups do nothing): a stylize job
# (which also scores its runs) and the publish and gif jobs of its runs depend on each other, so
# they form one group job, one submission. The sheets stay jobs of their own: grouped side by
# side, their CPUs would add up past what a small node has.
RUN_GROUP = "run"
# What "best" means (config `pick`): balance, a score's name or {score: weight}.
PICK_BY = config["pick"]["by"]
pick.check_criterion(PICK_BY)
# The longest side every image is scored at (config `pick.score_size`).
SCORE_SIZE = int(config["pick"].get("score_size", pick.SCORE_SIZE))
# The checkout's envs/, relative to workflow/rules/: Snakemake reads a conda env file's path from
# the folder of the file that uses it, also in a module read from GitHub.
ENVS = "../../envs"


def signature_once(function):
    """Snakemake reads an input, params or resources function's signature (inspect) each time it
    calls it: about a dozen times a run, a tenth of a big sweep's planning. Read it once.
    """
    overwrite_function_params(function, inspect.signature(function).parameters)
    return function


wildcard_constraints:
    content=sweep.alternatives(PLAN.contents),
    style=sweep.alternatives(PLAN.styles),
    setting=sweep.alternatives(s.id for s in PLAN.settings),
    group=sweep.alternatives(GROUPS),


def all_targets():
    """Every output of the experiment: per-run files and scores, sheets, the settings and inputs
    tables, the summary and its trade-off plots."""
    per_run = ["final.png", "progress.gif", "losses.png", "run.json"]
    return (
        [f"results/runs/{run.path}/{name}" for run in RUNS for name in per_run]
        + [f"results/sheets/settings/{s.id}.png" for s in PLAN.settings]
        + [
            f"results/sheets/sweeps/{content}/{style}.png"
            for content in PLAN.contents
            for style in PLAN.styles
        ]
        + ["results/settings.tsv", "results/inputs.tsv"]
        + [f"results/runs/{run.path}/scores.json" for run in RUNS]
        + ["results/summary.tsv", "results/summary.html", "results/sheets/best.png"]
        + tradeoff_plots()
        + ["results/tradeoffs/all.png"]
        + video_targets()  # video.smk; none without `videos`
        + render_targets()  # render.smk; none without `render`
    )


@signature_once
def content_image(wildcards):
    return PLAN.contents[wildcards.content]


@signature_once
def style_images(wildcards):
    return list(PLAN.styles[wildcards.style].images)


@signature_once
def run_images(wildcards):
    """A run's content and styles as named inputs (for unpack): one function for both, since
    Snakemake's cost is per function and job."""
    w = wildcards
    return {
        "content": PLAN.contents[w.content],
        "styles": list(PLAN.styles[w.style].images),
    }


@signature_once
def blend_weights(wildcards):
    """A blend's weights as a list (None for a single style)."""
    weights = PLAN.styles[wildcards.style].weights
    return list(weights) if weights else None


def weight_files():
    """weight file -> model, for the configured model; empty for the random model."""
    spec = get_spec(PLAN.model)
    return (
        {} if spec.stand_in else {os.path.join(WEIGHTS_DIR, spec.filename): spec.name}
    )


def weights_file():
    """The model's weight file as a list: one file, or none for the random model."""
    return list(weight_files())


def weight_file_names():
    """A wildcard constraint: the file names fetch_weights may make."""
    return sweep.alternatives(os.path.basename(path) for path in weight_files())


@signature_once
def model_of_weights(wildcards):
    return weight_files()[os.path.join(WEIGHTS_DIR, wildcards.filename)]


def stylize_gpus():
    """1 when the config names a CUDA device, else 0 (auto takes a GPU if one is free)."""
    return 1 if sweep.uses_gpu(PLAN.device) else 0


def stylize_threads():
    """CPU threads for torch: a GPU run needs few."""
    return 2 if sweep.uses_gpu(PLAN.device) else 4


def stylize_conda_env():
    """The small CPU-only torch for device cpu or mps, else PyPI's torch (CUDA on Linux)."""
    name = "cpu" if PLAN.device in ("cpu", "mps") else "cuda"
    return f"{ENVS}/stylesweep-{name}.yaml"


def cpu_conda_env():
    """The CPU-only env, for the download, GIF, plot and sheet rules."""
    return f"{ENVS}/stylesweep-cpu.yaml"


@signature_once
def group_members(wildcards):
    """A stylize job's settings as data: id, run folder, and the options that differ
    from the engine's defaults (only they, not the rest of the config, decide whether
    it reruns)."""
    w = wildcards
    return [
        {
            "setting": s.id,
            "run": RUN_DIR.format(content=w.content, style=w.style, setting=s.id),
            "options": PLAN.run(w.content, w.style, s.id).changed_options(),
        }
        for s in GROUPS[w.group].settings
    ]


@functools.cache
def options_of(content, style, setting):
    """The engine's Options of one run, for its resource estimates (built once per run: each
    of a run's jobs asks for its memory and runtime)."""
    run = PLAN.run(content, style, setting)
    image = PLAN.contents[content]
    return sweep.build_options(run.options_dict(), content_image=image, style=run.style)


@signature_once
def group_options(wildcards):
    """The engine's Options of a job's first setting."""
    w = wildcards
    return options_of(w.content, w.style, GROUPS[w.group].setting_ids[0])


@signature_once
def group_mem_mb(wildcards):
    """A job's memory: its settings' images optimized at once, or its scoring after them."""
    opts, size = group_options(wildcards), len(GROUPS[wildcards.group].settings)
    return max(
        memory.estimate_mem_mb(opts, model=PLAN.model, batch=size),
        SMALL_JOBS["score"][0],
    )


@signature_once
def group_runtime(wildcards):
    """A job's wall time bound, in minutes: the optimization, then the scoring."""
    opts, size = group_options(wildcards), len(GROUPS[wildcards.group].settings)
    gpu = sweep.uses_gpu(PLAN.device)
    return (
        memory.estimate_runtime_min(opts, gpu=gpu, batch=size) + SMALL_JOBS["score"][1]
    )


def small_job_resources():
    """The memory and runtime of a GIF job and of scoring (a stylize job's runs after their
    optimization, or one run in publish when pick.score_size changed): the most any run of the
    sweep needs.

    One number each, worked out once here: a resource function costs Snakemake more to call
    for every job than the estimate itself (bench/README.md, "Planning cost"), and on a cluster
    a run's stylize job sets its group's memory anyway. A GIF's need depends on the content's
    size and the setting, not the style; scoring's on the content and style at SCORE_SIZE (it
    optimizes nothing: the first setting stands for all).
    """
    first_style = next(iter(PLAN.styles))
    gifs = [
        options_of(c, first_style, s.id) for c in PLAN.contents for s in PLAN.settings
    ]
    first_setting = PLAN.settings[0].id
    scored = [
        options_of(c, style, first_setting).replace(
            image_size=SCORE_SIZE, style_scale=1.0
        )
        for c in PLAN.contents
        for style in PLAN.styles
    ]
    largest_group = max(len(group.settings) for group in GROUPS.values())
    return {
        "gif": (
            max(memory.estimate_gif_mem_mb(o) for o in gifs),
            max(memory.estimate_gif_runtime_min(o) for o in gifs),
        ),
        # A few seconds a run on a CPU.
        "score": (
            max(memory.estimate_mem_mb(o, model=PLAN.model) for o in scored),
            5 + largest_group // 30,
        ),
    }


SMALL_JOBS = small_job_resources()


@signature_once
def sheet_mem_mb(wildcards, input):
    """A contact sheet's memory: its header images and its cells (at most the largest
    image_size of the sweep) at once."""
    cell, cells = config["present"]["thumbnail"], len(input.cells)
    return memory.estimate_sheet_mem_mb(input.headers, cells, LARGEST_IMAGE_SIZE, cell)


@signature_once
def job_of_run(wildcards):
    """The folder of the stylize job that ran a run."""
    group = GROUP_OF[wildcards.setting].id
    return JOB_DIR.format(content=wildcards.content, style=wildcards.style, group=group)


def final_image(content, style, setting):
    """A run's final.png."""
    return f"{RUN_DIR.format(content=content, style=style, setting=setting)}/final.png"


def header_of_style(style):
    """(label, image paths) of a style column's header: a blend shows each of its styles."""
    s = PLAN.styles[style]
    return [style, list(s.images)]


@signature_once
def setting_sheet_grid(wildcards):
    """final.png of one setting: a row per content, a column per style."""
    return [
        [final_image(content, style, wildcards.setting) for style in PLAN.styles]
        for content in PLAN.contents
    ]


@signature_once
def setting_sheet_cells(wildcards):
    return [path for row in setting_sheet_grid(wildcards) for path in row]


@signature_once
def setting_sheet_layout(wildcards):
    """Rows (content headers), columns (style headers) and the corner label of a setting sheet."""
    setting = PLAN.setting(wildcards.setting)
    lines = [f"{k} {sweep.format_value(v)}" for k, v in setting.values] or [setting.id]
    if get_spec(PLAN.model).stand_in:
        lines.append("(random model: a stand-in)")
    return {
        "rows": [[name, [path]] for name, path in PLAN.contents.items()],
        "cols": [header_of_style(style) for style in PLAN.styles],
        "corner": "\n".join(lines),
    }


@signature_once
def setting_sheet_headers(wildcards):
    """The content and style images its headers show."""
    styles = [path for s in PLAN.styles.values() for path in s.images]
    return list(PLAN.contents.values()) + list(dict.fromkeys(styles))


@signature_once
def sweep_sheet_grid(wildcards):
    """final.png of every setting of one content x style in the sweep's grid (None: a gap)."""
    _, _, grid = SWEEP_GRID
    w = wildcards
    return [
        [None if sid is None else final_image(w.content, w.style, sid) for sid in row]
        for row in grid
    ]


@signature_once
def sweep_sheet_cells(wildcards):
    return [path for row in sweep_sheet_grid(wildcards) for path in row if path]


@signature_once
def sweep_sheet_headers(wildcards):
    return [content_image(wildcards)] + style_images(wildcards)


@signature_once
def sweep_sheet_layout(wildcards):
    """Row and column labels, and the content and style of a sweep sheet's headers."""
    rows, cols, _ = SWEEP_GRID
    return {
        "rows": rows,
        "cols": cols,
        "content": [wildcards.content, PLAN.contents[wildcards.content]],
        "style": header_of_style(wildcards.style),
    }


def input_images():
    """Every content and style image, as kind, name and file rows for results/inputs.tsv."""
    singles = [s for s in PLAN.styles.values() if not s.is_blend]
    return [["content", name, path] for name, path in PLAN.contents.items()] + [
        ["style", style.name, style.images[0]] for style in singles
    ]


def settings_table():
    return present.settings_tsv(PLAN.settings)


# --- scores, the summary and the picks ----------------------------------------------------


def run_file(run, name):
    return f"results/runs/{run.path}/{name}"


def summary_runs():
    """Each run's content, style, setting and swept values (one entry per option any setting
    sets), in the order of RUNS."""
    swept = present.set_options(PLAN.settings)
    return [
        {
            "content": run.content,
            "style": run.style.name,
            "setting": run.setting.id,
            "values": {name: run.options_dict()[name] for name in swept},
        }
        for run in RUNS
    ]


@signature_once
def final_image_pattern(wildcards):
    """final.png with {content}, {style} and {setting} to fill in (a function: Snakemake would
    take the braces of a plain string for wildcards)."""
    return final_image("{content}", "{style}", "{setting}")


def stand_in_note():
    """The label of a stand-in model's plots and sheets; empty for a real model."""
    return "random model: a stand-in" if get_spec(PLAN.model).stand_in else ""


def tradeoff_plots():
    """results/tradeoffs/<content>/<style>.png of every content x style."""
    return [
        f"results/tradeoffs/{c}/{s}.png" for c in PLAN.contents for s in PLAN.styles
    ]


def tradeoff_pairs():
    """(content, style) of each of tradeoff_plots()."""
    return [[c, s] for c in PLAN.contents for s in PLAN.styles]


def best_sheet_layout():
    """Rows (content headers), columns (style headers) and the corner label of the best sheet."""
    lines = [f"best by {pick.describe(PICK_BY)}"]
    if stand_in_note():
        lines.append(f"({stand_in_note()})")
    return {
        "rows": [[name, path] for name, path in PLAN.contents.items()],
        "cols": [header_of_style(style) for style in PLAN.styles],
        "corner": "\n".join(lines),
    }


@signature_once
def sweep_sheet_scores(wildcards):
    """scores.json of every setting of a sweep sheet, when `present.annotate` prints them."""
    if not config["present"]["annotate"]:
        return []
    w = wildcards
    return [
        f"{RUN_DIR.format(content=w.content, style=w.style, setting=s.id)}/scores.json"
        for s in PLAN.settings
    ]


def sweep_sheet_annotate():
    """What an annotated sweep sheet needs beyond its scores: the criterion of the pick, the
    settings in the summary's order (ties rank in that order) and the grid's setting ids.
    None: not annotated."""
    if not config["present"]["annotate"]:
        return None
    _, _, grid = SWEEP_GRID
    return {"by": PICK_BY, "settings": [s.id for s in PLAN.settings], "grid": grid}


# --- videos (rules/video.smk) -------------------------------------------------------------

VIDEOS = videos.find_videos(config["videos"]) if config.get("videos") else {}
VIDEO = videos.video_options(config.get("video"))
# How many frames each clip gives (from its packets' times: no decoding while planning).
VIDEO_FRAMES = videos.frame_counts(VIDEOS, VIDEO)
# One clip's shared files at one size; one run's frames, then its video, GIF and sheet beside.
CLIP_DIR = "resources/videos/{clip}/{size}px"
VIDEO_RUN = "results/videos/{clip}/{style}/{setting}"


def video_targets():
    """Each clip x style x setting's frames, MP4, GIF and contact sheet; none without `videos`.
    The frames are targets too: one deleted is made again, and every frame after it."""
    return [
        path
        for clip in VIDEOS
        for style in PLAN.styles
        for setting in PLAN.settings
        for path in video_run_targets(clip, style, setting.id)
    ]


def video_run_targets(clip, style, setting):
    """One run's frames, MP4, GIF and contact sheet."""
    folder = VIDEO_RUN.format(clip=clip, style=style, setting=setting)
    frames = [
        f"{folder}/frames/{videos.FRAME_NAME.format(i)}"
        for i in range(1, VIDEO_FRAMES[clip] + 1)
    ]
    return frames + [f"{folder}.{ext}" for ext in ("mp4", "gif", "sheet.png")]


@signature_once
def video_file(wildcards):
    return VIDEOS[wildcards.clip]


@signature_once
def clip_dir(wildcards):
    """The shared folder of a run's clip at its setting's image_size."""
    size = PLAN.options_for(PLAN.setting(wildcards.setting))["image_size"]
    return CLIP_DIR.format(clip=wildcards.clip, size=size)


@signature_once
def clip_info(wildcards):
    return f"{clip_dir(wildcards)}/clip.json"


@signature_once
def clip_frames(wildcards):
    return f"{clip_dir(wildcards)}/frames"


@signature_once
def clip_flow(wildcards):
    return f"{clip_dir(wildcards)}/flow"


@signature_once
def clip_mask(wildcards):
    return f"{clip_dir(wildcards)}/mask"


@signature_once
def video_frame(wildcards, i):
    """Frame i's result in a run's folder."""
    w = wildcards
    folder = VIDEO_RUN.format(clip=w.clip, style=w.style, setting=w.setting)
    return f"{folder}/frames/{videos.FRAME_NAME.format(i)}"


@signature_once
def previous_frame(wildcards):
    """Frame i-1's result, which frame i starts from; nothing for the first frame."""
    i = int(wildcards.frame)
    return [video_frame(wildcards, i - 1)] if i > 1 else []


@signature_once
def video_run_frames(wildcards):
    """Every frame's result of a run, in order."""
    return [
        video_frame(wildcards, i) for i in range(1, VIDEO_FRAMES[wildcards.clip] + 1)
    ]


@signature_once
def video_sheet_frames(wildcards):
    """The first, middle and last frames of a run."""
    n = VIDEO_FRAMES[wildcards.clip]
    return [video_frame(wildcards, i) for i in sorted({1, (n + 1) // 2, n})]


@functools.cache
def video_options_of(clip, style, setting):
    """A run's engine Options with the clip in content_image (each frame replaces it): its
    resource estimates take a square image_size, as for an unreadable image."""
    run_options = PLAN.options_for(PLAN.setting(setting))
    return sweep.build_options(
        run_options,
        content_image=VIDEOS[clip],
        style=PLAN.styles[style],
        model=PLAN.model,
    )


@signature_once
def video_frame_options(wildcards):
    """A run's options that differ from the engine's defaults (they alone decide reruns, as
    for stylize)."""
    default = defaults()
    resolved = PLAN.options_for(PLAN.setting(wildcards.setting))
    return {k: v for k, v in resolved.items() if v != default[k]}


@signature_once
def video_frame_mem_mb(wildcards):
    return memory.estimate_mem_mb(
        video_options_of(wildcards.clip, wildcards.style, wildcards.setting),
        model=PLAN.model,
    )


@signature_once
def video_frame_runtime(wildcards):
    opts = video_options_of(wildcards.clip, wildcards.style, wildcards.setting)
    return memory.estimate_runtime_min(opts, gpu=sweep.uses_gpu(PLAN.device))
