"""Rule sweep_sheet: one content x style across the sweep (a 2-D grid for two options); with
`present.annotate` each cell's scores under it and the pick framed."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import json
import logging
import sys

from stylesweep import images, pick, present

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
layout = snakemake.params.layout
(content, content_path), (style, style_paths) = layout["content"], layout["style"]
pair = present.header(f"{content} / {style}", [content_path, *style_paths])
grid = [
    [None if path is None else images.load_image(path) for path in row]
    for row in snakemake.params.grid  # None: no setting has these two values
]
two_d = len(layout["rows"]) > 1
# A 2-D grid labels its rows with values; a single row is labelled by content and style.
rows = [present.Header(label) for label in layout["rows"]] if two_d else [pair]
captions, marked = None, set()
if annotate := snakemake.params.annotate:  # each cell's scores and rank; the pick framed
    scores = {}
    for path in snakemake.input.scores:
        with open(path) as f:
            record = json.load(f)
        scores[record["setting"]] = record["scores"]
    settings = annotate["settings"]
    rank = dict(
        zip(settings, pick.rank([scores[s] for s in settings], annotate["by"]), strict=True)
    )
    ids = annotate["grid"]
    captions = [[s and present.score_caption(scores[s], rank[s]) for s in row] for row in ids]
    marked = {(r, c) for r, row in enumerate(ids) for c, s in enumerate(row) if rank.get(s) == 1}
sheet = present.contact_sheet(
    grid,
    row_headers=rows,
    col_headers=[present.Header(label) for label in layout["cols"]],
    corner=pair if two_d else present.Header("setting"),
    cell=snakemake.params.cell,
    captions=captions,
    marked=marked,
)
images.save_image(sheet, snakemake.output[0])
logging.info("%d x %d sheet -> %s", len(rows), len(layout["cols"]), snakemake.output[0])
