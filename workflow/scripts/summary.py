"""Rule summary: results/summary.tsv, one row per run with its swept values, final losses,
scores, iterations, time, memory, device and rank within its content x style."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import json
import logging
import sys

from stylesweep import pick
from stylesweep.atomic import write_text

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


def read_json(path):
    with open(path) as f:
        return json.load(f)


runs = zip(snakemake.params.runs, snakemake.input.run_json, snakemake.input.scores, strict=True)
rows = [
    pick.summary_row(run, run["values"], read_json(record), read_json(scores)["scores"])
    for run, record, scores in runs
]
write_text(snakemake.output[0], pick.summary_tsv(pick.add_ranks(rows, snakemake.params.by)))
logging.info("%d runs -> %s", len(rows), snakemake.output[0])
