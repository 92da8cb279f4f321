import functools
import os

from stylesweep import memory, pick, present, sweep
from stylesweep.pick import SCORE_SIZE
from stylesweep.registry import get_spec

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
# and the publish, gif, loss_plot, score and run_scores jobs of its runs depend on each other, so
# they form one group job, one submission. The sheets stay jobs of their own: grouped side by side, their CPUs would
# add up past what a small node has.
RUN_GROUP = "run"
# What "best" means (config `pick`): balance, a score's name or {score: weight}.
PICK_BY = config["pick"]["by"]
pick.check_criterion(PICK_BY)
# The checkout's envs/, relative to workflow/rules/: Snakemake reads a conda env file's path from
# the folder of the file that uses it, also in a module read from GitHub.
ENVS = "../../envs"


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
    )


def content_image(wildcards):
    return PLAN.contents[wildcards.content]


def style_images(wildcards):
    return list(PLAN.styles[wildcards.style].images)


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


def group_options(wildcards):
    """The engine's Options of a job's first setting."""
    w = wildcards
    return options_of(w.content, w.style, GROUPS[w.group].setting_ids[0])


def run_options(wildcards):
    w = wildcards
    return options_of(w.content, w.style, w.setting)


def group_mem_mb(wildcards):
    """A job's memory: its settings' images optimized at once."""
    opts, size = group_options(wildcards), len(GROUPS[wildcards.group].settings)
    return memory.estimate_mem_mb(opts, model=PLAN.model, batch=size)


def group_runtime(wildcards):
    """A job's wall time bound, in minutes."""
    opts, size = group_options(wildcards), len(GROUPS[wildcards.group].settings)
    gpu = sweep.uses_gpu(PLAN.device)
    return memory.estimate_runtime_min(opts, gpu=gpu, batch=size)


def gif_mem_mb(wildcards):
    return memory.estimate_gif_mem_mb(run_options(wildcards))


def gif_runtime(wildcards):
    return memory.estimate_gif_runtime_min(run_options(wildcards))


def sheet_mem_mb(wildcards, input):
    """A contact sheet's memory: its header images and its cells (at most the largest
    image_size of the sweep) at once."""
    cell, cells = config["present"]["thumbnail"], len(input.cells)
    return memory.estimate_sheet_mem_mb(input.headers, cells, LARGEST_IMAGE_SIZE, cell)


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


def setting_sheet_grid(wildcards):
    """final.png of one setting: a row per content, a column per style."""
    return [
        [final_image(content, style, wildcards.setting) for style in PLAN.styles]
        for content in PLAN.contents
    ]


def setting_sheet_cells(wildcards):
    return [path for row in setting_sheet_grid(wildcards) for path in row]


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


def setting_sheet_headers(wildcards):
    """The content and style images its headers show."""
    styles = [path for s in PLAN.styles.values() for path in s.images]
    return list(PLAN.contents.values()) + list(dict.fromkeys(styles))


def sweep_sheet_grid(wildcards):
    """final.png of every setting of one content x style in the sweep's grid (None: a gap)."""
    _, _, grid = SWEEP_GRID
    w = wildcards
    return [
        [None if sid is None else final_image(w.content, w.style, sid) for sid in row]
        for row in grid
    ]


def sweep_sheet_cells(wildcards):
    return [path for row in sweep_sheet_grid(wildcards) for path in row if path]


def sweep_sheet_headers(wildcards):
    return [content_image(wildcards)] + style_images(wildcards)


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


def group_finals(wildcards):
    """final.png of each run of a stylize job, in its settings' order."""
    w = wildcards
    return [final_image(w.content, w.style, s) for s in GROUPS[w.group].setting_ids]


def group_setting_ids(wildcards):
    return GROUPS[wildcards.group].setting_ids


def scores_of_run(wildcards):
    """The scores file of the score job that scored a run."""
    return f"{job_of_run(wildcards)}.scores.json"


def score_mem_mb(wildcards):
    """A score job's memory: the model and one image at the score size."""
    opts = group_options(wildcards).replace(image_size=SCORE_SIZE, style_scale=1.0)
    return memory.estimate_mem_mb(opts, model=PLAN.model)


def score_runtime(wildcards):
    """A score job's wall time bound, in minutes: a few seconds a run on a CPU."""
    return 5 + len(GROUPS[wildcards.group].settings) // 30


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
