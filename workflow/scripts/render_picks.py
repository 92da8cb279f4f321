"""Rule render_picks: the summary's rank-1 run of each content x style, which `runs: best`
renders."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep import pick, render
from stylesweep.atomic import write_text

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
runs = render.best_runs(pick.read_summary(snakemake.input[0]))
write_text(snakemake.output[0], render.picks_tsv(runs))
logging.info("%d picks -> %s", len(runs), snakemake.output[0])
