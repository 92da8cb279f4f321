"""The slurm profile on a real single-node SLURM (cluster/slurm-up.sh): one sbatch job per run,
its resources, GPUs, resume."""

# Needs root and the Debian SLURM packages (slurm-up.sh installs them with apt); skipped otherwise.
# About 5 minutes on 2 idle cores, most of it Snakemake starting twice inside each of 15 jobs.

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import make_image

from stylesweep import memory, sweep

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
UP, DOWN = ROOT / "cluster/slurm-up.sh", ROOT / "cluster/slurm-down.sh"
PARTITION = "local"  # slurm-up.sh's partition

# 2 contents x 2 styles x 2 settings, the whole sweep through SLURM. The short runs check sbatch,
# GPUs and bytes; a long one (LONG_RUN) lives long enough to be cancelled after a checkpoint.
CONFIG = textwrap.dedent(
    """\
    content: inputs/content
    styles: inputs/styles
    stylize:
      image_size: 48
      save_iter: 10
      print_iter: 10
    settings:
      - {num_iterations: 6}
      - {num_iterations: 150}
    model: random
    pick: {score_size: 48}
    device: cpu
    """
)
SAVE_ITER = 10
IMAGES = {
    "content/cat": (48, 36),
    "content/dog": (36, 48),
    "styles/wave": (40, 40),
    "styles/cafe": (36, 44),
}
RUNS = 2 * 2 * 2
SHEETS = 2 + 2 * 2  # a sheet per setting and per content x style, each a job of its own
# One sbatch job (the group `run`).
RUN_RULES = ["gif", "publish", "stylize"]
PICKS = 2  # the trade-off plots and the best sheet, a job each (summary and overview are local)
GPU_STYLE = "wave"  # its stylize job asks SLURM for a GPU (and still computes on the CPU)
# One torch thread per run, in both places: the engine is byte-deterministic at a fixed count.
THREADS = ["--set-threads", "stylize=1"]


def run_paths() -> tuple[str, str, str]:
    """(short run on the GPU style, short run on the other, long run to cancel) as run paths."""
    short, long = (s.id for s in sweep.make_settings(yaml.safe_load(CONFIG)))
    return f"cat/{GPU_STYLE}/{short}", f"cat/cafe/{short}", f"cat/cafe/{long}"


TARGETS = run_paths()  # the runs compared with a local run
GPU_RUN, _, LONG_RUN = TARGETS


def local_job_of(run: str) -> str:
    """The folder of a run's stylize job (batch off: the group is the setting), with a folder
    per setting inside."""
    return f"results/jobs/{run}"


def checkpoint_of(run: str) -> str:
    """Where stylize keeps a run's checkpoint every save_iter: beside its job folder (the group
    is the setting without `batch`)."""
    return f"results/jobs/{run}.checkpoint.pt"


# --- the cluster -------------------------------------------------------------------------------


@dataclass
class Cluster:
    folder: Path
    env: dict[str, str]

    def run(self, *args: str) -> str:
        return subprocess.run(
            args, env=self.env, capture_output=True, text=True, check=True, timeout=30
        ).stdout


def cannot(reason: str) -> None:
    """Skip: no SLURM here. Where it must run (CI sets STYLESWEEP_REQUIRE_SLURM=1), fail."""
    if os.environ.get("STYLESWEEP_REQUIRE_SLURM"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A fresh single-node SLURM in a folder of its own, stopped (by pid) at the end."""
    if os.geteuid() != 0:
        cannot("a local SLURM needs root (cluster/slurm-up.sh)")
    # Not under pytest's 0700 tmp folders: munged runs as user munge and must reach its socket.
    folder = Path(tempfile.mkdtemp(prefix="stylesweep-slurm-"))
    folder.chmod(0o755)
    up = subprocess.run([UP, folder], capture_output=True, text=True, timeout=600)
    if up.returncode != 0:
        subprocess.run([DOWN, folder], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
        why = {2: "not root", 3: "SLURM packages missing and not installable"}.get(
            up.returncode, "SLURM did not come up"
        )
        cannot(f"{why} (slurm-up.sh exit {up.returncode}): {up.stderr.strip()[-600:]}")
    conf = re.fullmatch(r"export SLURM_CONF=(\S+)\n", up.stdout)
    assert conf, up.stdout
    env = {**os.environ, "SLURM_CONF": conf[1], "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    failed = request.session.testsfailed
    try:
        yield Cluster(folder, env)
    finally:
        down = subprocess.run([DOWN, folder], capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        if request.session.testsfailed == failed:  # keep the logs of a failure
            shutil.rmtree(folder, ignore_errors=True)


# --- one sweep through SLURM, one locally -----------------------------------------------------


@dataclass
class Job:
    id: str
    state: str
    tres_per_job: str
    job_gres: str
    memory_mb: int  # what it asked for (--mem)
    minutes: int  # its time limit (-t)
    rules: list[str]  # the rules of its Snakemake jobs
    run: str | None  # content/style/group of its stylize job, if it has one


def what_runs_in(cluster: Cluster, job_id: str) -> tuple[list[str], str | None]:
    """(rules, stylize run) of a SLURM job, from its batch script: the plugin's --wrap starts
    Snakemake on --target-jobs 'rule:wildcards' (a group job's comment names no wildcards)."""
    script = cluster.run("scontrol", "write", "batch_script", job_id, "-")
    rules = sorted(set(re.findall(r"'(\w+):\w+=", script)))
    run = re.search(r"'stylize:content=([^,']+),style=([^,']+),group=([^,']+)'", script)
    return rules, "/".join(run.groups()) if run else None


@dataclass
class Sweep:
    slurm: Path  # the project run through SLURM
    local: Path  # the same project, the stylize jobs of TARGETS run locally
    output: str  # Snakemake's output of the SLURM run
    jobs: list[Job]  # every SLURM job of that run, in submission order
    cancelled: str | None  # the job id cancelled mid-run, if a checkpoint appeared
    tasks: str = field(repr=False)  # log/tasks.log: what slurm-up.sh's TaskProlog saw


def make_project(folder: Path) -> Path:
    for name, size in IMAGES.items():
        path = folder / f"inputs/{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        make_image(path, size, seed=len(name) + size[0])
    (folder / "config").mkdir()
    (folder / "config/config.yaml").write_text(CONFIG)
    return folder


def slurm_profile(folder: Path) -> Path:
    """profiles/slurm as shipped, with this cluster's partition in place of the placeholders."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"].update(slurm_account="stylesweep", slurm_partition=PARTITION)
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def snakemake(project: Path, *args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    cmd = [BIN / "snakemake", "--snakefile", ROOT / "workflow/Snakefile", "--directory", project]
    # --workflow-profile none: profiles/default is this machine's, not the cluster's.
    cmd += ["--workflow-profile", "none", *THREADS, *args]
    with log.open("w") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def job_id_of(cluster: Cluster, run: str, state: str = "RUNNING") -> str | None:
    """The SLURM job of a run's stylize job, if it is in `state`."""
    for i in cluster.run("squeue", "-h", "-t", state, "-o", "%i").split():
        if what_runs_in(cluster, i)[1] == run:
            return i
    return None


def jobs_of(cluster: Cluster, run_uuid: str) -> list[Job]:
    """Every job of one Snakemake run (the plugin names them by its run id), from slurmctld."""
    ids = cluster.run("squeue", "-h", "-t", "all", "--name", run_uuid, "-o", "%i").split()
    jobs = []
    for i in sorted(ids, key=int):
        show = cluster.run("scontrol", "show", "job", "-d", i)

        def value(key: str, text: str = show) -> str:
            found = re.search(rf"\b{key}=(\S*)", text)
            return "" if not found or found[1] == "(null)" else found[1]

        memory = re.fullmatch(r"(\d+)M", value("MinMemoryNode"))
        limit = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d+):(\d+)", value("TimeLimit"))
        assert memory and limit, show
        days, hours, minutes, _ = (int(v or 0) for v in limit.groups())
        rules, run = what_runs_in(cluster, i)
        jobs.append(
            Job(
                i,
                value("JobState"),
                value("TresPerJob"),
                value("JOB_GRES"),
                int(memory[1]),
                (days * 24 + hours) * 60 + minutes,
                rules,
                run,
            )
        )
    return jobs


@pytest.fixture(scope="module")
def swept(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """The sweep through SLURM (cancelling a long run once it has a checkpoint) and locally.

    Both run at once: their bytes cannot depend on it.
    """
    base = tmp_path_factory.mktemp("slurm-sweep")
    slurm, local = make_project(base / "slurm"), make_project(base / "local")
    profile = slurm_profile(base / "profile")
    # The local run: these runs' stylize jobs only (their scores and sheets are not compared).
    targets = [local_job_of(run) for run in TARGETS]
    local_run = snakemake(local, "--cores", "2", *targets, env=cluster.env, log=base / "local.log")
    slurm_run = snakemake(
        slurm,
        "--profile",
        str(profile),
        # The test node has 2 CPUs: a run's GIF, loss plot and scoring are stacked to fit.
        "--cores",
        "2",
        # Every run asks for a GPU on its own terms; here only the GPU style's does.
        "--set-resources",
        f"stylize:gpu=int(wildcards.style == {GPU_STYLE!r})",
        # Quick status checks and every job's SLURM log kept: evidence for the tests.
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
        env=cluster.env,
        log=base / "slurm.log",
    )
    cancelled = None
    checkpoint = slurm / checkpoint_of(LONG_RUN)
    deadline = time.monotonic() + 900
    while slurm_run.poll() is None and time.monotonic() < deadline:
        if cancelled is None and checkpoint.exists():
            cancelled = job_id_of(cluster, LONG_RUN)
            if cancelled:
                cluster.run("scancel", cancelled)
        time.sleep(0.2)
    for proc in (slurm_run, local_run):
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=120)
    output = (base / "slurm.log").read_text()
    assert slurm_run.returncode == 0, output[-5000:]
    assert local_run.returncode == 0, (base / "local.log").read_text()[-5000:]
    run_uuid = re.search(r"SLURM run ID: (\S+)", output)
    assert run_uuid, output[-3000:]
    return Sweep(
        slurm,
        local,
        output,
        jobs_of(cluster, run_uuid[1]),
        cancelled,
        (cluster.folder / "log/tasks.log").read_text(),
    )


# --- the tests -------------------------------------------------------------------------------


def test_one_sbatch_job_per_run_plus_one_per_sheet(swept: Sweep) -> None:
    done = [job for job in swept.jobs if job.state == "COMPLETED"]
    assert {job.state for job in swept.jobs} <= {"COMPLETED", "CANCELLED"}
    # The cancelled job was submitted again (the profile's retries): nothing else was.
    assert len(swept.jobs) == len(done) + (swept.cancelled is not None) <= RUNS + SHEETS + PICKS + 1
    runs = [job for job in done if job.run]
    plan = sweep.plan(yaml.safe_load(CONFIG), root=swept.slurm)
    assert sorted(job.run for job in runs) == sorted(run.path for run in plan.runs())
    assert all(job.rules == RUN_RULES for job in runs)
    # Every submission as Snakemake logged it (SLURM's own job list can miss the sweep's last
    # jobs): a run's group job, or one rule's job, each named by its log folder.
    submitted = r"submitted with SLURM jobid \d+ \(log: .*?/slurm_logs/"
    groups = re.findall(submitted + r"group_run_", swept.output)
    assert len(groups) == RUNS + (swept.cancelled is not None)
    sheets = re.findall(submitted + r"rule_(\w+)/", swept.output)
    assert sorted(sheets) == [
        "best_sheet",
        *["setting_sheet"] * 2,
        *["sweep_sheet"] * 4,
        "tradeoffs",
    ]
    for job in done:
        assert f"submitted with SLURM jobid {job.id}" in swept.output
        assert list((swept.slurm / ".snakemake/slurm_logs").rglob(f"{job.id}.log"))


def test_a_run_job_asks_for_its_busiest_stage(swept: Sweep) -> None:
    """A run's jobs form a chain (stylize with its scoring, publish, gif), so its group job asks
    for the most memory of any of them and the sum of their times."""
    plan = sweep.plan(yaml.safe_load(CONFIG), root=swept.slurm)
    every = [
        sweep.build_options(r.options_dict(), content_image=plan.contents[r.content], style=r.style)
        for r in plan.runs()
    ]
    gif_mb = max(memory.estimate_gif_mem_mb(o) for o in every)
    gif_min = max(memory.estimate_gif_runtime_min(o) for o in every)
    score_size = yaml.safe_load(CONFIG)["pick"]["score_size"]
    scored = [o.replace(image_size=score_size, style_scale=1.0) for o in every]
    score_mb = max(memory.estimate_mem_mb(o, model="random") for o in scored)
    for job in swept.jobs:
        if not job.run:
            continue
        content, style, setting = job.run.split("/")
        run = plan.run(content, style, setting)
        opts = sweep.build_options(
            run.options_dict(), content_image=plan.contents[content], style=run.style
        )
        stylize_mb = memory.estimate_mem_mb(opts, model="random")
        # The GIF job and scoring ask for about the most of any run (common.smk's
        # small_job_resources, from the options with the default config's keys merged in).
        # The stylize job asks for its scoring's memory at least (common.smk's group_mem_mb).
        floor = max(stylize_mb, score_mb, memory.PUBLISH_MEM_MB)
        assert floor <= job.memory_mb <= max(floor, gif_mb)
        # Scoring's 5 minutes in stylize; publish's minute to score a run again.
        serial = memory.estimate_runtime_min(opts) + 5 + memory.PUBLISH_RUNTIME_MIN + 1
        assert serial < job.minutes <= serial + gif_min


@pytest.mark.parametrize("run", TARGETS)
def test_results_equal_a_local_run(swept: Sweep, run: str) -> None:
    # A run's folder holds its stylize job's files (hard links): locally, the job's are read.
    slurm_run = swept.slurm / "results/runs" / run
    local_run = swept.local / local_job_of(run) / run.rsplit("/", 1)[1]
    assert (slurm_run / "final.png").read_bytes() == (local_run / "final.png").read_bytes()
    there, here = (json.loads((p / "run.json").read_text()) for p in (slurm_run, local_run))
    assert there["threads"] == here["threads"] == 1
    assert there["device"] == here["device"] == "cpu"


def test_a_job_that_asks_for_a_gpu_gets_one_of_its_own(swept: Sweep) -> None:
    def wants_gpu(job: Job) -> bool:
        return job.run is not None and job.run.split("/")[1] == GPU_STYLE

    assert any(wants_gpu(job) for job in swept.jobs)
    # slurmctld's record: the request (TresPerJob) and the typed device it assigned (JOB_GRES).
    for job in swept.jobs:
        assert (job.tres_per_job, job.job_gres) == (
            ("gres:gpu:1", "gpu:fake:1") if wants_gpu(job) else ("", "")
        ), job
    # The job's own view: the step that runs the group's jobs (step 0, under srun) has its GPU in
    # CUDA_VISIBLE_DEVICES, as the cluster's TaskProlog recorded; the others have none.
    for job in swept.jobs:
        if job.state == "COMPLETED":
            seen = re.findall(
                rf"^job={job.id} step=0 CUDA_VISIBLE_DEVICES=(\S+)$", swept.tasks, re.M
            )
            expected = {"0", "1"} if wants_gpu(job) else {"unset"}
            assert len(seen) == 1 and seen[0] in expected, (job, seen)


def test_a_cancelled_job_resumes_from_its_checkpoint(swept: Sweep) -> None:
    assert swept.cancelled, (
        f"no {checkpoint_of(LONG_RUN)} appeared while its job ran: the stylize rule must "
        f"write one every save_iter"
    )
    states = [(j.id, j.state) for j in swept.jobs if j.run == LONG_RUN]
    assert states[0] == (swept.cancelled, "CANCELLED")
    # The profile's `retries` resubmitted it, and the new job carried on from the checkpoint.
    assert [state for _, state in states[1:]] == ["COMPLETED"]
    record = json.loads((swept.slurm / "results/runs" / LONG_RUN / "run.json").read_text())
    assert record["resumed_from"] and record["resumed_from"] % SAVE_ITER == 0
    assert not (swept.slurm / checkpoint_of(LONG_RUN)).exists()


# --- the scripts themselves ------------------------------------------------------------------


def test_slurm_up_again_reuses_the_running_cluster(cluster: Cluster) -> None:
    pids = (cluster.folder / "pids").read_text()
    start = time.monotonic()
    again = subprocess.run([UP, cluster.folder], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr
    assert time.monotonic() - start < 10
    assert (cluster.folder / "pids").read_text() == pids
    assert cluster.run("sinfo", "-h", "-o", "%T").split() in (["idle"], ["mixed"])


def test_slurm_down_with_nothing_to_stop(tmp_path: Path) -> None:
    down = subprocess.run([DOWN, tmp_path], capture_output=True, text=True, timeout=30)
    assert down.returncode == 0
    assert "nothing to stop" in down.stderr
