"""Rule gif: a run's frames, each with its iteration number, as a looping GIF."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep import present

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
n = present.gif_from_frames(
    snakemake.input.frames,
    snakemake.output[0],
    frame_ms=snakemake.params.frame_ms,
    hold_ms=snakemake.params.hold_ms,
)
logging.info("%d frames -> %s", n, snakemake.output[0])
