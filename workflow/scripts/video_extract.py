"""Rule video_extract: a clip's frames at one processing size, and clip.json (rate, count)."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import logging
import sys
from pathlib import Path

from stylesweep import clip
from stylesweep.errors import StyleSweepError
from stylesweep.video import VideoOptions

console, sys.stderr = sys.stderr, open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
folders = clip.ClipFolders(Path(snakemake.output.info).parent)
try:
    n = clip.extract(
        snakemake.input[0],
        VideoOptions(**snakemake.params.video),
        int(snakemake.wildcards.size),
        folders,
    )
except StyleSweepError as error:
    # A bad clip: one line in the log and on the console, nothing written.
    sys.stderr.write(f"{error}\n")
    sys.exit(print(f"video_extract {snakemake.wildcards.clip}: {error}", file=console) or 1)
logging.info("%d frames -> %s", n, folders.frames)
