"""Rules stylize and stylize_batch_N: one style transfer, or a batch of settings that differ
only in loss weights, each run with its own options, on a GPU of its own if any."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import os
import sys

from stylesweep import gpus, runner, sweep
from stylesweep.errors import StyleSweepError


def as_list(value):
    """A named output or param: one run's value, or a list with one per batch member."""
    return [value] if isinstance(value, (str, dict)) else list(value)


# stderr to the log: progress, warnings and a failure's traceback all land there. Snakemake
# sets OMP_NUM_THREADS to the job's threads, which torch follows.
console, sys.stderr = sys.stderr, open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
out = snakemake.output
settings = [
    sweep.build_options(
        options,
        content_image=snakemake.input.content,
        style=snakemake.input.styles,
        style_blend_weights=snakemake.params.blend_weights,
        output_image=final,
        model=snakemake.params.model,
    )
    for options, final in zip(as_list(snakemake.params.options), as_list(out.final), strict=True)
]
outputs = [
    runner.RunOutputs(os.path.join(frames, "{iteration:04d}.png"), losses, run_json)
    for frames, losses, run_json in zip(
        as_list(out.frames), as_list(out.losses), as_list(out.run_json), strict=True
    )
]
batched = len(settings) > 1
# The device comes from the config, not params: a finished sweep moved to another machine
# must not rerun. The checkpoint is no output: it outlives a killed job, whose rerun resumes.
# A batch keeps its one checkpoint in its first run's folder.
checkpoint = os.path.join(
    os.path.dirname(settings[0].output_image),
    "checkpoint-batch.pt" if batched else "checkpoint.pt",
)
shared = dict(
    final_frame=True,
    weights=snakemake.input.weights[0] if snakemake.input.weights else None,
    checkpoint=checkpoint,
)
try:
    with gpus.job_device(snakemake.config["device"]) as device:
        settings = [options.replace(device=device) for options in settings]
        if batched:
            runner.run_batch(settings, outputs=outputs, **shared)
        else:
            (one,) = outputs
            runner.run(
                settings[0],
                frames=one.frames,
                losses_tsv=one.losses_tsv,
                run_json=one.run_json,
                **shared,
            )
except StyleSweepError as error:
    # A bad input or option: one line in the log and on the console, no traceback.
    sys.stderr.write(f"{error}\n")
    w = snakemake.wildcards
    ids = ",".join(snakemake.params.settings) if batched else w.setting
    sys.exit(print(f"stylize {w.content}/{w.style}/{ids}: {error}", file=console) or 1)
