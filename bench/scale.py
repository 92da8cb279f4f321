"""Planning cost of big sweeps: dry-run time, peak memory and time per job, on synthetic inputs.

python bench/scale.py                              # 100, 1,000 and 10,000 runs, then the ratio
python bench/scale.py --runs 100 1000              # smaller figures
python bench/scale.py --issue                      # 20 contents x 5 styles x 25 settings, < 40 s
python bench/scale.py --issue --profile prof.out   # the same under cProfile: the workflow's share
python bench/scale.py --issue --real               # on copies of the bundled photos and paintings

Each size is one fresh `snakemake -n` process on a project of tiny PNGs in a temporary folder
(the default config otherwise: only the files' headers are read), or with `--real` on copies of
the bundled content photographs and style paintings (full-size files, as the issue measured:
reading a real file's size costs what a tiny PNG's does not). The time per job is the dry
run's CPU time (user + system: on a shared machine less noisy than wall time) over the jobs it
planned; the last line is that at the largest size over that at 1,000 runs (target: <= 1.5,
nothing in planning grows faster than the jobs). Also `python bench/bench.py scale --runs ...`.
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STYLES = 5  # style images in every size
# 25 settings: 5 style weights x 5 TV weights; a size of fewer runs sweeps fewer style weights.
STYLE_WEIGHTS = [10, 30, 100, 300, 1000]
TV_WEIGHTS = [0, 0.0001, 0.001, 0.01, 0.1]
# What counts as the workflow's own code in a profile: the package and the workflow's files.
OWN = (str(ROOT / "stylesweep") + os.sep, str(ROOT / "workflow") + os.sep)


def shape(runs: int) -> tuple[int, int]:
    """(contents, settings) for a sweep of `runs` runs over STYLES styles."""
    settings = 25 if runs >= 25 * STYLES else 5
    contents, rest = divmod(runs, STYLES * settings)
    if rest or not contents:
        raise SystemExit(f"{runs} runs: use a multiple of {STYLES * settings}")
    return contents, settings


def make_project(folder: Path, contents: int, settings: int, real: bool = False) -> None:
    """Tiny PNGs (odd sizes, so every file has its own header), or with `real` copies of the
    bundled images taken in turn, and a config sweeping them."""
    for kind, count in (("content", contents), ("styles", STYLES)):
        (folder / kind).mkdir(parents=True)
        sources = sorted((ROOT / "inputs" / kind).iterdir())
        for i in range(count):
            if real:
                source = sources[i % len(sources)]
                shutil.copyfile(source, folder / kind / f"{kind}_{i:05d}{source.suffix}")
            else:
                Image.new("RGB", (16 + i % 7, 12 + i % 5), (i % 256, 90, 160)).save(
                    folder / kind / f"{kind}_{i:05d}.png"
                )
    tv = TV_WEIGHTS if settings == 25 else TV_WEIGHTS[:1]
    (folder / "config").mkdir()
    (folder / "config/config.yaml").write_text(
        textwrap.dedent(
            f"""\
            content: content
            styles: styles
            sweep:
              style_weight: {STYLE_WEIGHTS}
              tv_weight: {tv}
            """
        )
    )


@dataclass
class DryRun:
    wall_s: float
    cpu_s: float  # user + system time of the snakemake process: less noisy than wall time
    peak_mib: float
    jobs: int


# Runs in the child: Snakemake's entry point (under cProfile when given a file), then the peak
# RSS of this process alone (VmHWM; ru_maxrss would count the parent's pages from before exec).
CHILD = """
import atexit, cProfile, runpy, sys

def peak():
    try:
        with open("/proc/self/status") as status:
            kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    except OSError:
        import resource
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak_kib={kib}", file=sys.stderr)

atexit.register(peak)
profile, sys.argv = sys.argv[1], sys.argv[2:]
if profile:
    cProfile.run(f"runpy.run_path({sys.argv[0]!r}, run_name='__main__')", profile)
else:
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def dry_run(folder: Path, profile: Path | None = None) -> DryRun:
    """One `snakemake -n` of the project in `folder`, in a child process of its own."""
    command = [sys.executable, "-c", CHILD, str(profile or "")]
    command += [str(BIN / "snakemake"), "-n", "--quiet", "rules", "--cores", "1"]
    command += ["--snakefile", str(ROOT / "workflow/Snakefile"), "--directory", str(folder)]
    # --workflow-profile none: the checkout's profiles/default is not part of what is measured.
    command += ["--workflow-profile", "none"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = proc.stdout + proc.stderr
    total = re.search(r"^total\s+(\d+)$", out, flags=re.M)
    if proc.returncode != 0 or not total:
        raise SystemExit(out[-4000:])
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak = re.search(r"^peak_kib=(\d+)$", out, flags=re.M)
    return DryRun(wall, cpu, int(peak[1]) / 1024 if peak else float("nan"), int(total[1]))


def own_share(profile: Path) -> tuple[float, float, list[str]]:
    """(total s, the workflow's own cumulative s, its top lines) from a cProfile file.

    The own time is the cumulative time of the calls into OWN code from elsewhere (Snakemake
    calling an input function, say); it includes what that code calls (Pillow, yaml, Snakemake's
    validate). The .smk files' module code is left out: the Snakefile's includes run it, and the
    Snakefile's time holds it already.
    """
    stats = pstats.Stats(str(profile))
    raw = stats.stats  # type: ignore[attr-defined]
    total = max(ct for _, _, _, ct, _ in raw.values())

    def own(func: tuple[str, int, str]) -> bool:
        return func[0].startswith(OWN)

    outer = 0.0
    rows = []
    for func, (_, _, _, ct, callers) in raw.items():
        if not own(func):
            continue
        rows.append((ct, func))
        if func[2] == "<module>" and func[0].endswith(".smk"):
            continue
        outer += sum(v[3] for caller, v in callers.items() if not own(caller))
    rows.sort(reverse=True)
    top = [f"{ct:8.2f} s  {Path(f[0]).name}:{f[1]} {f[2]}" for ct, f in rows[:12]]
    return total, outer, top


def scale(sizes: list[int], profile: Path | None = None, real: bool = False) -> dict[int, DryRun]:
    """Dry-run a synthetic sweep of each size in `sizes` (runs); print a row for each."""
    print(f"{'runs':>7} {'contents':>9} {'settings':>9} {'jobs':>7} {'wall s':>7} {'cpu s':>7} "
          f"{'ms/job':>7} {'peak MiB':>9}")  # fmt: skip
    results = {}
    for runs in sorted(sizes):
        contents, settings = shape(runs)
        with tempfile.TemporaryDirectory(prefix="stylesweep-scale-") as tmp:
            make_project(Path(tmp), contents, settings, real)
            r = results[runs] = dry_run(Path(tmp), profile)
        row = f"{runs:>7} {contents:>9} {settings:>9} {r.jobs:>7} {r.wall_s:>7.1f} {r.cpu_s:>7.1f}"
        print(f"{row} {1000 * r.cpu_s / r.jobs:>7.2f} {r.peak_mib:>9.0f}", flush=True)
    largest = max(results)
    if 1000 in results and largest > 1000:
        ratio = (results[largest].cpu_s / results[largest].jobs) / (
            results[1000].cpu_s / results[1000].jobs
        )
        print(f"CPU time per job, {largest} runs / 1000 runs: {ratio:.2f} (target <= 1.5)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--issue", action="store_true", help="only the issue's 2,500-run sweep")
    parser.add_argument("--profile", type=Path, help="with --issue: cProfile output file")
    parser.add_argument(
        "--real", action="store_true", help="copies of the bundled images, not tiny PNGs"
    )
    args = parser.parse_args()
    print(f"# stylesweep scale, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    if not args.issue:
        scale(args.runs, real=args.real)
        return
    result = scale([2500], real=args.real)[2500]
    print(f"2,500 runs: {result.wall_s:.1f} s wall, {result.cpu_s:.1f} s CPU (target <= 40 s)")
    if args.profile:
        print("\nagain, under cProfile (slower):")
        scale([2500], args.profile, args.real)
        total, own, top = own_share(args.profile)
        print(f"\nprofile: {total:.1f} s in all, the workflow's own code {own:.2f} s "
              f"({100 * own / total:.1f}%, target < 10%)")  # fmt: skip
        print("the workflow's own functions by cumulative time:")
        print("\n".join(top))


if __name__ == "__main__":
    main()
