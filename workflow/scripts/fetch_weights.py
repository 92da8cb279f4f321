"""Rule fetch_weights: download and verify one model's weight file (once, on the local host)."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import os
import sys

from stylesweep import fetch

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
path = fetch.fetch(
    snakemake.params.model,
    os.path.dirname(snakemake.output[0]),
    mirror=snakemake.params.mirror,
    progress=False,
)
logging.info("%s: %s", snakemake.params.model, path)
