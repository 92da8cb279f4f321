"""Rule video_sheet: a run's first, middle and last frames beside the clip's first frame."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys
from pathlib import Path

from stylesweep import images, present

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
frames = [Path(p) for p in snakemake.input.frames]
first_content = Path(snakemake.input.content) / frames[0].name
sheet = present.contact_sheet(
    [[images.load_image(p) for p in frames]],
    row_headers=[present.header(snakemake.params.label, [first_content])],
    col_headers=[present.Header(f"frame {int(p.stem)}") for p in frames],
    cell=snakemake.params.cell,
)
images.save_image(sheet, snakemake.output[0])
logging.info("%d frames -> %s", len(frames), snakemake.output[0])
