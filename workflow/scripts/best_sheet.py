"""Rule best_sheet: the pick of every content x style, contents down and styles across, the
winning setting's id under each cell."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep import images, pick, present

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
layout = snakemake.params.layout
winners = {
    key: next(row["setting"] for row in rows if row["rank"] == 1)
    for key, rows in pick.by_pair(pick.read_summary(snakemake.input.summary)).items()
}
contents, styles = [c for c, _ in layout["rows"]], [s for s, _ in layout["cols"]]
grid = [
    [
        images.load_image(snakemake.params.final.format(content=c, style=s, setting=winners[c, s]))
        for s in styles
    ]
    for c in contents
]
sheet = present.contact_sheet(
    grid,
    row_headers=[present.header(label, [path]) for label, path in layout["rows"]],
    col_headers=[present.header(label, paths) for label, paths in layout["cols"]],
    corner=present.Header(layout["corner"]),
    cell=snakemake.params.cell,
    captions=[
        [present.wrap_caption(winners[c, s], snakemake.params.cell) for s in styles]
        for c in contents
    ],
)
images.save_image(sheet, snakemake.output[0])
logging.info("%d x %d best sheet -> %s", len(contents), len(styles), snakemake.output[0])
