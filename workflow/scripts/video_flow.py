"""Rule video_flow: DIS optical flow, forward and backward, of each consecutive pair of a clip."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys
from pathlib import Path

from stylesweep import clip

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
folders = clip.ClipFolders(Path(snakemake.input.info).parent)
Path(snakemake.output[0]).mkdir(parents=True, exist_ok=True)  # a one-frame clip has no pairs
clip.compute_flows(folders)
logging.info("flows -> %s", folders.flow)
