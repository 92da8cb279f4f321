"""Rule run_scores: one run's scores.json beside its final image, from its score job's file."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import json
import logging
import sys

from stylesweep.atomic import write_text

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # logs and tracebacks alike
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
with open(snakemake.input.scores) as f:
    job = json.load(f)
w = snakemake.wildcards
record = {
    "content": w.content,
    "style": w.style,
    "setting": w.setting,
    "image": snakemake.input.final,
}
record.update({k: v for k, v in job.items() if k != "scores"})
record["scores"] = job["scores"][w.setting]
write_text(snakemake.output[0], json.dumps(record, indent=2) + "\n")
logging.info("%s -> %s", snakemake.input.scores, snakemake.output[0])
