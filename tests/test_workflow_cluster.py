"""The workflow as a cluster sees it, without a cluster: dry runs with the slurm profile show which
jobs go to SLURM together (one submission per stylize job, with its runs' small jobs)."""

from __future__ import annotations

import importlib.util
import re
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from test_workflow import ROOT, make_image, snakemake

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
    reason="the slurm extra is not installed",
)

# 2 contents x 2 styles x 2 settings: the sweep.
CONFIG = textwrap.dedent(
    """\
    content: inputs/content
    styles: inputs/styles
    stylize:
      image_size: 32
      num_iterations: 6
      save_iter: 2
    sweep:
      style_weight: [100, 1000]
    model: random
    pick: {score_size: 48}
    device: cpu
    """
)
RUNS, SETTINGS = 8, 2
SHEETS = 2 + 2 * 2  # one per setting, one per content x style
# The best sheet and the trade-off plots: one job each, after the summary.
PICKS = 2
RUN_RULES = {"stylize", "publish", "gif"}
# Rules that run where Snakemake runs, never on the cluster (`localrule: True`).
LOCAL_RULES = {"all", "settings_table", "inputs_table", "fetch_weights", "summary", "overview"}


@dataclass
class Submission:
    """One job as the cluster would get it: a group job, or a job of its own."""

    group: str | None
    rules: list[str]
    wildcards: list[dict[str, str]]


def submissions(output: str) -> list[Submission]:
    """The cluster jobs of a dry run's listing, local rules left out."""
    found: list[Submission] = []
    group = None
    for line in output.splitlines():
        if header := re.match(r"^\[.*\] Group job (\S+) ", line):
            group = Submission(header[1], [], [])
            found.append(group)
        elif rule := re.match(r"^(?:local)?rule (\w+):$", line):
            group = None
            if rule[1] not in LOCAL_RULES:
                found.append(Submission(None, [rule[1]], [{}]))
        elif group and (rule := re.match(r"^    (?:local)?rule (\w+):$", line)):
            group.rules.append(rule[1])
        elif group and (wildcards := re.match(r"^        wildcards: (.*)$", line)):
            group.wildcards.append(dict(kv.split("=", 1) for kv in wildcards[1].split(", ")))
    return found


def dry_run_on_slurm(project: Path, *args: str) -> list[Submission]:
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    (project / "profile").mkdir(exist_ok=True)
    (project / "profile/config.yaml").write_text(yaml.safe_dump(profile))
    out = snakemake(
        project, "-n", "--profile", str(project / "profile"), "--workflow-profile", "none", *args
    )
    return submissions(out)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for seed, name in enumerate(["content/cat", "content/dog", "styles/wave", "styles/cafe"]):
        make_image(tmp_path / f"inputs/{name}.png", (40 + 4 * seed, 36), seed)
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text(CONFIG)
    return tmp_path


def test_a_sweep_is_one_submission_per_run_plus_its_sheets(project: Path) -> None:
    jobs = dry_run_on_slurm(project)
    runs = [job for job in jobs if job.group == "run"]
    # Scoring adds no submission of its own: a run's stylize job scores it.
    assert len(jobs) == RUNS + SHEETS + PICKS
    assert len(runs) == RUNS
    for job in runs:
        assert sorted(job.rules) == sorted(RUN_RULES)
        # Every job of the group is of one run: one content, style and setting.
        assert len({(w["content"], w["style"]) for w in job.wildcards}) == 1
        assert len({w.get("setting", w.get("group")) for w in job.wildcards}) == 1
    others = Counter(rule for job in jobs if job.group is None for rule in job.rules)
    assert others == {"setting_sheet": SETTINGS, "sweep_sheet": 4, "best_sheet": 1, "tradeoffs": 1}


def test_a_batch_is_one_submission_for_its_settings(project: Path) -> None:
    jobs = dry_run_on_slurm(project, "--config", "batch=true")
    runs = [job for job in jobs if job.group == "run"]
    assert len(runs) == RUNS // SETTINGS  # both settings differ only in style_weight
    for job in runs:
        assert Counter(job.rules) == {
            "stylize": 1,
            "publish": 2,
            "gif": 2,
        }
    assert len(jobs) == len(runs) + SHEETS + PICKS
