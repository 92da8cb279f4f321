"""Rule stylize: one job of a group of settings (one, or a batch) for one content x style, each
setting's files in its own folder of the job folder, on a GPU of the job's own if any; then the
runs' scores, the model loaded once for all of them (scores.json in the job folder)."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import json
import logging
import os
import sys
from pathlib import Path

from stylesweep import gpus, pick, runner, score, sweep
from stylesweep.atomic import write_text
from stylesweep.errors import StyleSweepError

# stderr to the log: progress, warnings and a failure's traceback all land there. Snakemake
# sets OMP_NUM_THREADS to the job's threads, which torch follows.
console, sys.stderr = sys.stderr, open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
job, members = snakemake.output.job, snakemake.params.members
folders = [os.path.join(job, member["setting"]) for member in members]
settings = [
    sweep.build_options(
        member["options"],
        content_image=snakemake.input.content,
        style=snakemake.input.styles,
        style_blend_weights=snakemake.params.blend_weights,
        output_image=os.path.join(folder, "final.png"),
        model=snakemake.params.model,
    )
    for member, folder in zip(members, folders, strict=True)
]
outputs = [
    runner.RunOutputs(
        frames=os.path.join(folder, "frames", "{iteration:04d}.png"),
        losses_tsv=os.path.join(folder, "losses.tsv"),
        run_json=os.path.join(folder, "run.json"),
        name=member["run"],  # what the other members' run.json list under batched_with
    )
    for member, folder in zip(members, folders, strict=True)
]
weights = snakemake.input.weights[0] if snakemake.input.weights else None
try:
    # The device comes from the config, not params: a finished sweep moved to another machine
    # must not rerun.
    with gpus.job_device(snakemake.config["device"]) as device:
        runner.run(
            [options.replace(device=device) for options in settings],
            outputs,
            final_frame=True,
            weights=weights,
            checkpoint=snakemake.params.checkpoint,
            # Kept until the runs are scored: a job killed while scoring resumes from it.
            keep_checkpoint=True,
        )
    # The size comes from the config, not params: if pick.score_size changes, rule publish
    # scores the run again at the new size, and this job need not run again for it.
    record = score.score_finals(
        snakemake.params.model,
        {m["setting"]: os.path.join(f, "final.png") for m, f in zip(members, folders, strict=True)},
        content=snakemake.input.content,
        styles=snakemake.input.styles,
        blend_weights=snakemake.params.blend_weights,
        model_file=weights,
        score_size=int(snakemake.config["pick"].get("score_size", pick.SCORE_SIZE)),
    )
except StyleSweepError as error:
    # A bad input or option: one line in the log and on the console, no traceback.
    sys.stderr.write(f"{error}\n")
    w = snakemake.wildcards
    sys.exit(print(f"stylize {w.content}/{w.style}/{w.group}: {error}", file=console) or 1)
write_text(os.path.join(job, "scores.json"), json.dumps(record, indent=2) + "\n")
Path(snakemake.params.checkpoint).unlink(missing_ok=True)  # the job is done
logging.info("%d runs scored at %d px", len(record["scores"]), record["score_size"])
