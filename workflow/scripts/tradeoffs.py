"""Rule tradeoffs: style_distance against content_distance, one plot per content x style and
all of them as small multiples."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep import pick, present

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
p = snakemake.params
pairs = pick.by_pair(pick.read_summary(snakemake.input.summary))
tradeoffs = {
    (content, style): present.Tradeoff(
        title=f"{content} / {style}",
        labels=tuple(row["setting"] for row in rows),
        points=tuple(pick.tradeoff_points(rows)),
        picked=[row["rank"] for row in rows].index(1),
    )
    for (content, style), rows in pairs.items()
}
note = f"pick: {p.criterion}" + (f"; {p.stand_in_note}" if p.stand_in_note else "")
for (content, style), path in zip(p.pairs, snakemake.output.pairs, strict=True):
    present.save_figure(present.tradeoff_plot(tradeoffs[content, style], note=note), path)
grid = present.tradeoff_grid(tradeoffs, p.contents, p.styles, note=note)
present.save_figure(grid, snakemake.output.all)
logging.info("%d trade-off plots -> %s", len(tradeoffs), snakemake.output.all)
