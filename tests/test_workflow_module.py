"""The workflow from another folder: its own Snakefile run there, or used as another's module."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_workflow import PICKS, job_counts, make_image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Two photos x two paintings x two style weights, in folders named as a user might.
CONFIG = textwrap.dedent(
    """\
    content: my/photos
    styles: my/paintings
    stylize: {image_size: 32, num_iterations: 4, save_iter: 2}
    sweep:
      style_weight: [10, 100]
    model: random
    pick: {score_size: 48}
    device: cpu
    """
)
RUNS = 2 * 2 * 2
JOBS = {
    "stylize": RUNS,
    "publish": RUNS,
    "gif": RUNS,
    "setting_sheet": 2,
    "sweep_sheet": 2 * 2,
    "settings_table": 1,
    "inputs_table": 1,
    **PICKS,
    "all": 1,
}
# With batch, the two style weights of a content x style are one stylize job.
BATCHED = {**JOBS, "stylize": 2 * 2}


def module_snakefile(config: str, snakefile: str = str(ROOT / "workflow/Snakefile")) -> str:
    """A workflow of one's own that takes every rule of stylesweep, given `config` as its config."""
    return textwrap.dedent(
        f"""\
        configfile: "config.yaml"


        module stylesweep:
            snakefile:
                "{snakefile}"
            config:
                {config}


        use rule * from stylesweep
        """
    )


def project(folder: Path, files: dict[str, str]) -> Path:
    """Two photos and two paintings under my/, and `files` (path -> text)."""
    for seed, name in enumerate(["photos/cat", "photos/dog", "paintings/wave", "paintings/cafe"]):
        make_image(folder / f"my/{name}.png", (40, 32 + 8 * seed), seed)
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    return folder


def dry_run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`snakemake -n` in `folder`, which has no workflow profile; its own Snakefile unless given."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    command = [str(BIN / "snakemake"), "-n", "--cores", "1", "--quiet", "rules", *args]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env, timeout=300)


def counts(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return job_counts(out)


def test_the_workflow_runs_from_a_project_folder(tmp_path: Path) -> None:
    folder = project(tmp_path, {"config/config.yaml": CONFIG})
    assert counts(dry_run(folder, "--snakefile", str(ROOT / "workflow/Snakefile"))) == JOBS


MODULE_CONFIGS = [
    # (what the module is given, the user's config.yaml)
    ("config", CONFIG),
    ("config", CONFIG + "pathvars: {results: results}\n"),  # Snakemake's own key
    ('config["stylesweep"]', "samples: my.tsv\nstylesweep:\n" + textwrap.indent(CONFIG, "  ")),
]


@pytest.mark.parametrize(("given", "text"), MODULE_CONFIGS, ids=["config", "pathvars", "section"])
def test_a_module_runs_every_rule_on_its_users_config(tmp_path, given, text) -> None:
    folder = project(tmp_path, {"config.yaml": text, "Snakefile": module_snakefile(given)})
    assert counts(dry_run(folder)) == JOBS


def test_a_module_takes_batch_true_from_the_command_line(tmp_path: Path) -> None:
    folder = project(tmp_path, {"config.yaml": CONFIG, "Snakefile": module_snakefile("config")})
    assert counts(dry_run(folder, "--config", "batch=true")) == BATCHED
    assert counts(dry_run(folder, "--config", "batch=True")) == BATCHED
    assert counts(dry_run(folder, "--config", "batch=false")) == JOBS


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served_checkout() -> Iterator[str]:
    """This checkout over HTTP on 127.0.0.1: the base URL."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(ROOT))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_module_read_from_a_url_plans_the_same_jobs(tmp_path, served_checkout) -> None:
    """As from github(...): no checkout on disk, so the package is the one installed."""
    snakefile = module_snakefile("config", f"{served_checkout}/workflow/Snakefile")
    folder = project(tmp_path, {"config.yaml": CONFIG, "Snakefile": snakefile})
    assert counts(dry_run(folder)) == JOBS
