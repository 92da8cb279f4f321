"""Rule video_encode: a run's stylized frames as an MP4 at the clip's rate, and a GIF."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import json
import logging
import sys
from pathlib import Path

from stylesweep import clip

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
info = json.loads(Path(snakemake.input.info).read_text())
frames = snakemake.input.frames
clip.encode(
    Path(frames[0]).parent, len(frames), info["rate"], snakemake.output.video, snakemake.output.gif
)
logging.info("%d frames at %s fps -> %s", len(frames), info["rate"], snakemake.output.video)
