"""Rule publish: one run's folder: its files from its stylize job's folder, its scores from its
score job's file, and its loss curves as a PNG."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import json
import logging
import os
import sys

from stylesweep import present, publish
from stylesweep.atomic import write_text

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
i, o, w = snakemake.input, snakemake.output, snakemake.wildcards
source = os.path.join(i.job, w.setting)
os.makedirs(o.frames, exist_ok=True)  # declared even if a run saved no frame
made = publish.publish(source, os.path.dirname(o.final))
logging.info("%d files: %s -> %s", len(made), source, os.path.dirname(o.final))

with open(i.scores) as f:
    job = json.load(f)
record = {"content": w.content, "style": w.style, "setting": w.setting, "image": o.final}
record.update({k: v for k, v in job.items() if k != "scores"})
record["scores"] = job["scores"][w.setting]
write_text(o.scores, json.dumps(record, indent=2) + "\n")

title = f"{w.content} / {w.style} / {w.setting}"
present.save_figure(present.loss_plot(present.read_losses(o.losses), title=title), o.plot)
logging.info("%s, %s", o.scores, o.plot)
