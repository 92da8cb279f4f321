"""Rule stylize: one style transfer with the run's own options, on a GPU of its own if any."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import os
import sys

from stylesweep import gpus, runner, sweep
from stylesweep.errors import StyleSweepError

# stderr to the log: progress, warnings and a failure's traceback all land there. Snakemake
# sets OMP_NUM_THREADS to the job's threads, which torch follows.
console, sys.stderr = sys.stderr, open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
options = sweep.build_options(
    snakemake.params.options,
    content_image=snakemake.input.content,
    style=snakemake.input.styles,
    style_blend_weights=snakemake.params.blend_weights,
    output_image=snakemake.output.final,
    model=snakemake.params.model,
)
# The device comes from the config, not params: a finished sweep moved to another machine
# must not rerun. The checkpoint is no output: it outlives a killed job, whose rerun resumes.
try:
    with gpus.job_device(snakemake.config["device"]) as device:
        runner.run(
            options.replace(device=device),
            frames=os.path.join(snakemake.output.frames, "{iteration:04d}.png"),
            final_frame=True,
            losses_tsv=snakemake.output.losses,
            run_json=snakemake.output.run_json,
            weights=snakemake.input.weights[0] if snakemake.input.weights else None,
            checkpoint=os.path.join(os.path.dirname(snakemake.output.final), "checkpoint.pt"),
        )
except StyleSweepError as error:
    # A bad input or option: one line in the log and on the console, no traceback.
    sys.stderr.write(f"{error}\n")
    w = snakemake.wildcards
    sys.exit(print(f"stylize {w.content}/{w.style}/{w.setting}: {error}", file=console) or 1)
