"""Rule fetch_weights: download and verify one model's weight file (once, on the local host)."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import os
import sys

from stylesweep import fetch
from stylesweep.errors import StyleSweepError

console, sys.stderr = sys.stderr, open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
try:
    path = fetch.fetch(
        snakemake.params.model,
        os.path.dirname(snakemake.output[0]),
        mirror=snakemake.params.mirror,
        progress=False,
    )
except StyleSweepError as error:
    # No network, a 404, a bad checksum: one line, in the log and on the console.
    sys.stderr.write(f"{error}\n")
    sys.exit(print(f"fetch_weights: {error}", file=console) or 1)
logging.info("%s: %s", snakemake.params.model, path)
