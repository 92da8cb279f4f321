"""Rule score: the scores of one stylize job's runs (one content x style, one setting or a
batch of them), the model loaded once for all of them."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import json
import logging
import os
import sys

from stylesweep import score
from stylesweep.atomic import write_text
from stylesweep.errors import StyleSweepError
from stylesweep.runner import STAND_IN_NOTE

console, sys.stderr = sys.stderr, open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
try:
    # On the CPU: scores are then the same wherever they were measured (a GPU rounds
    # otherwise), and the job needs no GPU of its own. Snakemake sets its threads.
    scorer = score.Scorer.load(
        snakemake.params.model,
        content=snakemake.input.content,
        styles=snakemake.input.styles,
        blend_weights=snakemake.params.blend_weights,
        device="cpu",
        model_file=snakemake.input.weights[0] if snakemake.input.weights else None,
        score_size=snakemake.params.score_size,
    )
    # The job folder holds a subfolder per setting (runner.RunOutputs), final.png in each.
    job = snakemake.input.job
    settings = snakemake.params.settings
    scores = {s: scorer.score_file(os.path.join(job, s, "final.png")) for s in settings}
except StyleSweepError as error:
    sys.stderr.write(f"{error}\n")
    w = snakemake.wildcards
    sys.exit(print(f"score {w.content}/{w.style}/{w.group}: {error}", file=console) or 1)
record = {
    "model": snakemake.params.model,
    "stand_in": scorer.stand_in,
    "note": STAND_IN_NOTE if scorer.stand_in else "",
    "score_size": scorer.score_size,
    "scores": scores,
}
write_text(snakemake.output[0], json.dumps(record, indent=2) + "\n")
logging.info("%d runs scored -> %s", len(scores), snakemake.output[0])
