"""Rule inputs_table: results/inputs.tsv, each content and style name -> its file and sha256."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep.atomic import write_text
from stylesweep.digest import sha256_file

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
lines = ["kind\tname\tfile\tsha256"]
lines += [
    f"{kind}\t{name}\t{path}\t{sha256_file(path)}" for kind, name, path in snakemake.params.rows
]
write_text(snakemake.output[0], "\n".join(lines) + "\n")
logging.info("%d inputs -> %s", len(lines) - 1, snakemake.output[0])
