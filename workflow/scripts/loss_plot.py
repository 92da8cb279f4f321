"""Rule loss_plot: a run's loss curves against iteration, as a PNG."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys

from stylesweep import present

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
w = snakemake.wildcards
figure = present.loss_plot(
    present.read_losses(snakemake.input.losses),
    title=f"{w.content} / {w.style} / {w.setting}",
)
present.save_figure(figure, snakemake.output[0])
logging.info("%s -> %s", snakemake.input.losses, snakemake.output[0])
