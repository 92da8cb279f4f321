"""Rule overview: results/summary.html, the best sheet, the trade-offs and the summary as a
table sorted by clicking its headers; one self-contained page, first in the report."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep import present
from stylesweep.atomic import write_text

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
i = snakemake.input
with open(i.summary) as f:
    tsv = f.read()
figures = [("The pick of each content x style", i.best), ("Trade-offs", i.tradeoffs)]
page = present.summary_html(
    tsv, figures, title="stylesweep: the sweep's summary", note=snakemake.params.note
)
write_text(snakemake.output[0], page)
logging.info("%s -> %s", i.summary, snakemake.output[0])
