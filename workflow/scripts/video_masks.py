"""Rule video_masks: each frame's consistency weights from its forward and backward flows."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys
from pathlib import Path

from stylesweep import clip

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
folders = clip.ClipFolders(Path(snakemake.input.info).parent)
Path(snakemake.output[0]).mkdir(parents=True, exist_ok=True)  # a one-frame clip has no masks
clip.compute_masks(folders)
logging.info("masks -> %s", folders.mask)
