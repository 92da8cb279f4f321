"""Rule overview: results/summary.html, the best sheet, the trade-offs and the summary as a
table sorted by clicking its headers, one self-contained page; and the same without the page
around it, which the report's first page shows."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep import page
from stylesweep.atomic import write_text

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
i, o, note = snakemake.input, snakemake.output, snakemake.params.note
with open(i.summary) as f:
    tsv = f.read()
figures = [("The pick of each content x style", i.best), ("Trade-offs", i.tradeoffs)]
title = "stylesweep: the sweep's summary"
write_text(o.page, page.summary_html(tsv, figures, title=title, note=note))
write_text(o.body, page.summary_body(tsv, figures, note=note))
logging.info("%s -> %s, %s", i.summary, o.page, o.body)
