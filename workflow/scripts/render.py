"""Rule render: one sweep run again at print size, from its final image, with a GIF of the
chain of scales."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep import gpus, render, sweep
from stylesweep.errors import StyleSweepError

# stderr to the log: progress, warnings and a failure's traceback all land there.
console, sys.stderr = sys.stderr, open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
i, o, p = snakemake.input, snakemake.output, snakemake.params
opts = sweep.build_options(
    {**p.options, "init_image": i.init},
    content_image=i.content,
    style=i.styles,
    style_blend_weights=p.blend_weights,
    output_image=o.image,
    model=p.model,
)
outputs = render.RenderOutputs(o.frames, o.losses, o.run_json, o.gif)
try:
    # The device comes from the config, not params: a finished render moved to another machine
    # must not rerun.
    with gpus.job_device(snakemake.config["device"]) as device:
        render.render(
            opts.replace(device=device),
            outputs,
            mem_mb=snakemake.resources.mem_mb,
            weights=i.weights[0] if i.weights else None,
            checkpoint=p.checkpoint,
            frame_ms=p.frame_ms,
            hold_ms=p.hold_ms,
        )
except StyleSweepError as error:
    # A bad input or option, or a render that cannot fit: one line in the log and the console.
    sys.stderr.write(f"{error}\n")
    w = snakemake.wildcards
    where = f"{w.content}/{w.style}/{w.setting}/{w.size}px"
    sys.exit(print(f"render {where}: {error}", file=console) or 1)
