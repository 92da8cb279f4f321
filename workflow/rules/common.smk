import os
import sys

# The package beside the Snakefile, whether or not it is installed; Snakemake passes this
# search path on to the rules' scripts.
sys.path.insert(0, workflow.basedir)
# The conda envs (envs/*.yaml) pip-install the package from here; pip expands ${VAR} in them.
os.environ.setdefault("STYLESWEEP_SOURCE", workflow.basedir)

from stylesweep import sweep
from stylesweep.registry import get_spec

PLAN = sweep.plan(config)
RUNS = PLAN.runs()
BATCHES = PLAN.batches()
RUN_DIR = "results/runs/{content}/{style}/{setting}"
WEIGHTS_DIR = os.path.expanduser(config["weights"]["dir"])
ENVS = os.path.join(workflow.basedir, "envs")


wildcard_constraints:
    content=sweep.alternatives(PLAN.contents),
    style=sweep.alternatives(PLAN.styles),
    setting=sweep.alternatives(s.id for s in PLAN.settings),


def all_targets():
    """Every output of the experiment: per-run files, sheets, and the settings table."""
    per_run = ["final.png", "progress.gif", "losses.png", "run.json"]
    return (
        [f"results/runs/{run.path}/{name}" for run in RUNS for name in per_run]
        + [f"results/sheets/settings/{s.id}.png" for s in PLAN.settings]
        + [
            f"results/sheets/sweeps/{content}/{style}.png"
            for content in PLAN.contents
            for style in PLAN.styles
        ]
        + ["results/settings.tsv"]
    )


def run_of(wildcards):
    return PLAN.run(wildcards.content, wildcards.style, wildcards.setting)


def content_image(wildcards):
    return PLAN.contents[wildcards.content]


def style_images(wildcards):
    return list(PLAN.styles[wildcards.style].images)


def blend_weights(wildcards):
    """A blend's weights as a list (None for a single style)."""
    weights = PLAN.styles[wildcards.style].weights
    return list(weights) if weights else None


def run_options(wildcards):
    """The run's own options where they differ from the engine's defaults: only they (not the
    rest of the config) decide whether it reruns."""
    return run_of(wildcards).changed_options()


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
    return os.path.join(ENVS, f"stylesweep-{name}.yaml")


def cpu_conda_env():
    """The CPU-only env, for the download, GIF, plot and sheet rules."""
    return os.path.join(ENVS, "stylesweep-cpu.yaml")


def options_of(content, style, setting):
    """A run's Options as the engine will see them."""
    run = PLAN.run(content, style, setting)
    return sweep.build_options(
        run.options_dict(), content_image=PLAN.contents[content], style=run.style
    )


def engine_options(wildcards):
    return options_of(wildcards.content, wildcards.style, wildcards.setting)


def stylize_mem_mb(wildcards):
    return sweep.estimate_mem_mb(engine_options(wildcards), model=PLAN.model)


def stylize_runtime(wildcards):
    gpu = sweep.uses_gpu(PLAN.device)
    return sweep.estimate_runtime_min(engine_options(wildcards), gpu=gpu)


def single_settings():
    """A wildcard constraint: the settings rule stylize runs, one job each (not a batch's)."""
    batched = {sid for batch in BATCHES for sid in batch.setting_ids}
    single = [s.id for s in PLAN.settings if s.id not in batched]
    return sweep.alternatives(single) if single else "(?!)"


def batch_files(batch, name):
    """The files `name` of every run of a batch, with {content} and {style} left open."""
    return expand(f"{RUN_DIR}/{name}", setting=batch.setting_ids, allow_missing=True)


def batch_options(batch):
    """An input function: run_options of each of a batch's runs, in its order."""

    def options(wildcards):
        return [
            PLAN.run(wildcards.content, wildcards.style, sid).changed_options()
            for sid in batch.setting_ids
        ]

    return options


def batch_mem_mb(batch):
    """A resource function: a batch's memory (the first run's options, once per member)."""

    def mem_mb(wildcards):
        opts = options_of(wildcards.content, wildcards.style, batch.setting_ids[0])
        return sweep.estimate_mem_mb(opts, model=PLAN.model, batch=len(batch.settings))

    return mem_mb


def batch_runtime(batch):
    """A resource function: a batch's wall time bound."""

    def runtime(wildcards):
        opts = options_of(wildcards.content, wildcards.style, batch.setting_ids[0])
        gpu = sweep.uses_gpu(PLAN.device)
        return sweep.estimate_runtime_min(opts, gpu=gpu, batch=len(batch.settings))

    return runtime


def header_of_style(style):
    """(label, image paths) of a style column's header: a blend shows each of its styles."""
    s = PLAN.styles[style]
    return [style, list(s.images)]


def setting_sheet_cells(wildcards):
    """final.png of every content x style of one setting, row by row."""
    return [
        f"results/runs/{content}/{style}/{wildcards.setting}/final.png"
        for content in PLAN.contents
        for style in PLAN.styles
    ]


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


def sweep_sheet_cells(wildcards):
    """final.png of every setting of one content x style, in the order of its grid."""
    _, _, grid = sweep.sweep_grid(PLAN.settings)
    return [
        f"results/runs/{wildcards.content}/{wildcards.style}/{sid}/final.png"
        for row in grid
        for sid in row
        if sid is not None
    ]


def sweep_sheet_headers(wildcards):
    return [content_image(wildcards)] + style_images(wildcards)


def sweep_sheet_layout(wildcards):
    """Row and column labels and the grid of setting ids (None = no such setting)."""
    rows, cols, grid = sweep.sweep_grid(PLAN.settings)
    return {
        "rows": rows,
        "cols": cols,
        "grid": grid,
        "content": [wildcards.content, PLAN.contents[wildcards.content]],
        "style": header_of_style(wildcards.style),
    }


def settings_table():
    return sweep.settings_tsv(PLAN.settings)
