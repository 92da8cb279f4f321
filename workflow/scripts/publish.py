"""Rule publish: one run's folder: its files from its stylize job's folder, its scores from the
job's scores.json (scored again here if pick.score_size changed since), and its loss curves as a
PNG."""

# ruff: noqa: F821 (Snakemake's script directive defines `snakemake`)
import json
import logging
import os
import sys

from stylesweep import present, publish
from stylesweep.atomic import write_text
from stylesweep.errors import StyleSweepError

console, sys.stderr = sys.stderr, open(snakemake.log[0], "w", buffering=1)  # logs, tracebacks
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
i, o, p, w = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
source = os.path.join(i.job, w.setting)
os.makedirs(o.frames, exist_ok=True)  # declared even if a run saved no frame
made = publish.publish(source, os.path.dirname(o.final))
logging.info("%d files: %s -> %s", len(made), source, os.path.dirname(o.final))


def fail(problem):
    """One line in the log and on the console, and a failed job."""
    sys.stderr.write(f"{problem}\n")
    sys.exit(print(f"publish {w.content}/{w.style}/{w.setting}: {problem}", file=console) or 1)


def job_scores():
    """The job's scores record: in its folder, or beside it where a stylesweep from before its
    stylize jobs scored their runs had a score job write it; None if neither holds this run."""
    for path in (os.path.join(i.job, "scores.json"), f"{i.job}.scores.json"):
        if os.path.exists(path):
            try:
                with open(path) as f:
                    job = json.load(f)
                return job if w.setting in job["scores"] else None
            except (OSError, ValueError, KeyError, TypeError) as error:
                fail(f"{path}: unreadable scores ({error})")
    return None


job = job_scores()
if job is None or job["score_size"] != p.score_size:
    # The job scored its runs at another size (pick.score_size changed since) or not at all:
    # score this one here, with the images, blend and model its run.json names (torch is
    # imported only then).
    from stylesweep import score

    with open(o.run_json) as f:
        opts = json.load(f)["options"]
    why = f"were scored at {job['score_size']} px" if job else "were not scored"
    logging.info("the job's runs %s, pick.score_size is %d: scoring here", why, p.score_size)
    try:
        job = score.score_finals(
            opts["model"],
            {w.setting: o.final},
            content=opts["content_image"],
            styles=opts["style_image"],
            blend_weights=opts["style_blend_weights"],
            model_file=p.weights or None,
            score_size=p.score_size,
        )
    except StyleSweepError as error:
        fail(error)
record = {"content": w.content, "style": w.style, "setting": w.setting, "image": o.final}
record.update({k: v for k, v in job.items() if k != "scores"})
record["scores"] = job["scores"][w.setting]
write_text(o.scores, json.dumps(record, indent=2) + "\n")

title = f"{w.content} / {w.style} / {w.setting}"
present.save_figure(present.loss_plot(present.read_losses(o.losses), title=title), o.plot)
logging.info("%s, %s", o.scores, o.plot)
