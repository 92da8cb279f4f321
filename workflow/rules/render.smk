# Print-size renders (config `render`): chosen runs of the sweep again at `render.size` px, each
# starting from its run's final image, with the run's own setting and the render's scales,
# iterations, max_memory and format. One job per render, in no group: on a cluster it is a job
# of its own, with the memory and time its memory plan needs. Without `render` there are no
# render targets. The helpers are stylesweep.render.Renders' methods.
from stylesweep import render as renders

# The summary's pick of each content x style, for `runs: best` (checkpoint render_picks).
RENDER_PICKS = "results/renders/picks.tsv"
RENDERS = renders.Renders(
    config.get("render"),
    PLAN,
    run_dir=RUN_DIR,
    # A render's files: <size>px.<ext>, <size>px.losses.tsv, <size>px.run.json, <size>px.gif.
    stem="results/renders/{content}/{style}/{setting}/{size}px",
    # Raises until the checkpoint has run: Snakemake then runs it, and asks again.
    picks=lambda: checkpoints.render_picks.get().output[0],
)
RENDER_FILE = RENDERS.stem
# What rule all asks for (all_targets in common.smk).
render_targets = RENDERS.targets


# The summary's rank-1 run of each content x style, for `runs: best`. A checkpoint: which runs
# are rendered is known only once the summary is, and rule all asks for them through
# RENDERS.best_targets, an input function that reads this file.
checkpoint render_picks:
    input:
        "results/summary.tsv",
    output:
        RENDER_PICKS,
    log:
        "logs/render_picks.log",
    localrule: True
    conda:
        cpu_conda_env()
    script:
        "../scripts/render_picks.py"


rule render:
    input:
        unpack(run_images),
        init=RENDERS.init_image,
        # The weight file is verified by its checksum; its date must not rerun every render.
        weights=ancient(weights_file()),
    output:
        image=f"{RENDER_FILE}.{RENDERS.config.extension}",
        losses=f"{RENDER_FILE}.losses.tsv",
        run_json=f"{RENDER_FILE}.run.json",
        gif=f"{RENDER_FILE}.gif",
        # Every scale's frames, for the GIF; print-size frames are large, so not kept.
        frames=temp(directory(f"{RENDER_FILE}.frames")),
    log:
        "logs/render/{content}/{style}/{setting}/{size}px.log",
    benchmark:
        "benchmarks/render/{content}/{style}/{setting}/{size}px.tsv"
    wildcard_constraints:
        size=r"\d+",
    conda:
        stylize_conda_env()
    threads: stylize_threads()
    resources:
        gpu=stylize_gpus(),
        mem_mb=RENDERS.mem_mb,
        runtime=RENDERS.runtime,
    params:
        options=RENDERS.params,
        blend_weights=blend_weights,
        model=PLAN.model,
        # Beside the outputs, as stylize's: a killed render resumes from it.
        checkpoint=f"{RENDER_FILE}.checkpoint.pt",
        frame_ms=config["present"]["frame_ms"],
        hold_ms=config["present"]["hold_ms"],
    script:
        "../scripts/render.py"
