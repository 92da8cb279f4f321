"""Print sizes on this machine: peak memory tiled and untiled, and the chain against one scale.

python bench/render.py                                  # peak RSS 256..2048 px, then the chain
python bench/render.py memory --sizes 256 512 --iterations 2 --max-memory 2G
python bench/render.py chain --size 512 --iterations 20

Each figure is one `stylesweep stylize` in a fresh process (the random model, the bundled
content and style); its peak RSS is the process's own (run.json's peak_memory, ru_maxrss), its
time run.json's wall_time_s (the loop, model and inputs loaded before).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "inputs" / "content" / "chelsea.png"
STYLE = ROOT / "inputs" / "styles" / "vangogh_cafe_terrace_at_night.png"
UNLIMITED = "1000G"  # max_memory for the untiled runs: every scale whole


def stylize(size: int, iterations: int, *extra: str) -> dict:
    """One run in a fresh process; its run.json."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.png"
        command = [
            sys.executable, "-m", "stylesweep.cli", "stylize", "--quiet",
            "--content-image", str(CONTENT), "--style-image", str(STYLE),
            "--model", "random", "--image-size", str(size),
            "--num-iterations", str(iterations), "--print-iter", "0", "--save-iter", "0",
            "--output-image", str(out), *extra,
        ]  # fmt: skip
        subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        return json.loads(out.with_suffix(".run.json").read_text())


def memory(args: argparse.Namespace) -> None:
    """Peak RSS against size, whole and within --max-memory."""
    print(f"\n## peak RSS (MiB), {args.iterations} iterations; tiled within {args.max_memory}")
    print(f"{'size':>6} {'untiled':>9} {'est.':>7} {'tiled':>9} {'est.':>7}  plan")
    for size in args.sizes:
        whole = stylize(size, args.iterations, "--max-memory", UNLIMITED)
        tiled = stylize(size, args.iterations, "--max-memory", args.max_memory)
        scale = tiled["memory_plan"]["scales"][-1]
        plan = (
            f"{scale['tiles']} tiles of {scale['tile']} px, {scale['optimizer']} "
            f"{scale['history'] or ''}".rstrip()
            if scale["tile"]
            else "whole"
        )
        figures = [r[key] for r in (whole, tiled) for key in ("peak_memory", "estimated_memory_mb")]
        figures[0::2] = [m["rss_mb"] for m in figures[0::2]]
        print(f"{size:>6} {figures[0]:>9.0f} {figures[1]:>7.0f} {figures[2]:>9.0f} "
              f"{figures[3]:>7.0f}  {plan}")  # fmt: skip


def chain(args: argparse.Namespace) -> None:
    """The coarse-to-fine chain (scales auto) against one scale, to the same final size."""
    print(f"\n## chain vs single scale at {args.size} px ({args.iterations} at the final size)")
    single = stylize(args.size, args.iterations)
    chained = stylize(args.size, args.iterations, "--scales", "auto", *args.scale_iterations)
    ladder = chained["options"]["scales"]
    loss = single["final_losses"]["total"]
    print(f"single scale: {single['wall_time_s']:.1f} s, final loss {loss:.4g}")
    print(
        f"chain {ladder} + {args.size}: {chained['wall_time_s']:.1f} s, final loss "
        f"{chained['final_losses']['total']:.4g}; time ratio "
        f"{chained['wall_time_s'] / single['wall_time_s']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", default=["memory", "chain"], help="memory, chain")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--max-memory", default="2G")
    parser.add_argument("--size", type=int, default=512, help="chain: the final size")
    parser.add_argument(
        "--scale-iterations", nargs="*", default=[], help="chain: e.g. --scale-iterations 10"
    )
    args = parser.parse_args()
    if args.scale_iterations:
        args.scale_iterations = ["--scale-iterations", *args.scale_iterations]
    for what in args.what:
        {"memory": memory, "chain": chain}[what](args)


if __name__ == "__main__":
    main()
