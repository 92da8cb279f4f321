"""Rule settings_table: results/settings.tsv, setting id -> the values it sweeps."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep.atomic import write_text

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
write_text(snakemake.output[0], snakemake.params.table)
logging.info("%d settings -> %s", snakemake.params.table.count("\n") - 1, snakemake.output[0])
