"""Rule video_frame: frame i of one clip x style x setting, from frame i-1's result warped."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys
from pathlib import Path

from stylesweep import clip, gpus, sweep
from stylesweep.errors import StyleSweepError
from stylesweep.video import VideoOptions

# stderr to the log: progress, warnings and a failure's traceback all land there.
console, sys.stderr = sys.stderr, open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
folders = clip.ClipFolders(Path(snakemake.input.info).parent)
i = int(snakemake.wildcards.frame)
opts = sweep.build_options(
    snakemake.params.options,
    content_image=str(folders.frame(i)),
    style=snakemake.input.styles,
    style_blend_weights=snakemake.params.blend_weights,
    model=snakemake.params.model,
)
try:
    # The device comes from the config, not params: a finished sweep moved to another machine
    # must not rerun.
    with gpus.job_device(snakemake.config["device"]) as device:
        clip.stylize_frame(
            opts.replace(device=device),
            VideoOptions(**snakemake.params.video),
            folders,
            i,
            Path(snakemake.output.image).parent,
            weights=snakemake.input.weights[0] if snakemake.input.weights else None,
        )
except StyleSweepError as error:
    sys.stderr.write(f"{error}\n")
    w = snakemake.wildcards
    sys.exit(
        print(f"video_frame {w.clip}/{w.style}/{w.setting}/{w.frame}: {error}", file=console) or 1
    )
