"""Rule publish: one run's files from its stylize job's folder into the run's own folder."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import os
import sys

from stylesweep import publish

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
source = os.path.join(snakemake.input.job, snakemake.wildcards.setting)
run = os.path.dirname(snakemake.output.final)
os.makedirs(snakemake.output.frames, exist_ok=True)  # declared even if a run saved no frame
made = publish.publish(source, run)
logging.info("%d files: %s -> %s", len(made), source, run)
