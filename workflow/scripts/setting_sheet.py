"""Rule setting_sheet: one setting's results, contents down and styles (and blends) across."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep import images, present

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
layout = snakemake.params.layout
rows = [present.header(label, paths) for label, paths in layout["rows"]]
cols = [present.header(label, paths) for label, paths in layout["cols"]]
grid = [[images.load_image(path) for path in row] for row in snakemake.params.grid]
sheet = present.contact_sheet(
    grid,
    row_headers=rows,
    col_headers=cols,
    corner=present.Header(layout["corner"]),
    cell=snakemake.params.cell,
)
images.save_image(sheet, snakemake.output[0])
logging.info("%d x %d sheet -> %s", len(rows), len(cols), snakemake.output[0])
