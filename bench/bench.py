"""Benchmarks run by hand (never by the tests): speed, coarse-to-fine, memory; prints ratios.

OMP_NUM_THREADS=2 python bench/bench.py                      # everything, the issue's sizes
python bench/bench.py speed --sizes 128 256 --speed-iterations 5   # smaller figures on a slow CPU
python bench/bench.py multiscale --size 128 --iterations 200 --scales 64 --scale-iterations 50
python bench/bench.py memory --sizes 128 256
python bench/bench.py colour                                 # colour control's cost, 256 px
python bench/bench.py scale --runs 100 1000 10000            # planning cost (bench/scale.py)
python bench/bench.py score                                  # scoring one 256 px image
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import colour  # noqa: E402
import common  # noqa: E402
import objective  # noqa: E402
import scale  # noqa: E402

from stylesweep import tensors, transfer  # noqa: E402
from stylesweep.options import auto_scales, total_iterations  # noqa: E402
from stylesweep.runner import peak_rss_mb  # noqa: E402
from stylesweep.score import Scorer  # noqa: E402


def speed(args: argparse.Namespace, device: torch.device) -> None:
    """Seconds per iteration, engine vs a plain eager NCHW loop (target: <= 0.9x at 512 px)."""
    extractor, convention, name = common.model(args.weights, device)
    print(f"\n## speed ({name} model, {device}, {torch.get_num_threads()} threads)")
    print(f"{'size':>6} {'engine s/it':>12} {'plain s/it':>12} {'engine/plain':>13}")
    for size in args.sizes:
        content, styles = common.inputs(size)
        opts = common.options(size, model=name, num_iterations=args.speed_iterations)

        def engine(n: int, opts=opts, content=content, styles=styles) -> float:
            common.sync(device)
            start = time.perf_counter()
            transfer.stylize(
                [opts.replace(num_iterations=n)], extractor, convention, content, styles,
                device=device,
            )  # fmt: skip
            common.sync(device)
            return time.perf_counter() - start

        plain = common.plain_loop(opts, extractor, convention, content, styles, device)
        # Alternate the two so that a neighbour's load hits both alike.
        e, p = [], []
        for _ in range(args.repeats):
            e.append(common.median_s_per_iteration(engine, args.speed_iterations, 1))
            p.append(common.median_s_per_iteration(plain, args.speed_iterations, 1))
        e_s, p_s = sorted(e)[len(e) // 2], sorted(p)[len(p) // 2]
        print(f"{size:>6} {e_s:>12.3f} {p_s:>12.3f} {e_s / p_s:>13.2f}")


def objective_figures(args: argparse.Namespace, device: torch.device) -> None:
    """Closure / network-only forward+backward, the profile's shares, and the L-BFGS step."""
    print(f"\n## objective (random model, {device}, {torch.get_num_threads()} threads)")
    print(f"{'size':>6} {'network s':>10} {'closure s':>10} {'closure/network':>16}")
    closures = {}
    for size in args.sizes:
        c, n, closure = objective.closure_vs_network(size, device, args.repeats)
        closures[size] = (c, closure)
        print(f"{size:>6} {n:>10.3f} {c:>10.3f} {c / n:>16.3f}")
    if args.batch > 1:
        size = min(args.sizes)
        c, n, _ = objective.closure_vs_network(size, device, args.repeats, args.batch)
        print(f"{f'{size} x{args.batch}':>6} {n:>10.3f} {c:>10.3f} {c / n:>16.3f}  (a batch)")
    size = max(args.sizes)
    print(f"\nshare of the closure's op time at {size} px, by part:")
    for part, share in objective.profile_shares(closures[size][1], device).items():
        print(f"  {part:<22} {100 * share:6.1f}%")
    print("\nL-BFGS step with a full history of 100 pairs, one image:")
    print(f"{'size':>6} {'engine s':>9} {'torch s':>9} {'engine/torch':>13} {'step/closure':>13}")
    for size in args.lbfgs_sizes:
        e, t = objective.lbfgs_step(size, device)
        share = f"{e / closures[size][0]:>13.3f}" if size in closures else f"{'-':>13}"
        print(f"{size:>6} {e:>9.3f} {t:>9.3f} {e / t:>13.2f} {share}")


def multiscale(args: argparse.Namespace, device: torch.device) -> None:
    """Wall time of single scale vs coarse-to-fine to reach the single scale's final loss."""
    extractor, convention, name = common.model(args.weights, device)
    size, n = args.size, args.iterations
    content, styles = common.inputs(size)
    scales = tuple(args.scales) if args.scales else auto_scales(size)
    single = common.options(size, model=name, num_iterations=n)
    ladder = single.replace(scales=scales, scale_iterations=tuple(args.scale_iterations))
    print(f"\n## coarse to fine ({name} model, {device}, {size} px, {n} iterations)")
    (ref,) = transfer.stylize([single], extractor, convention, content, styles, device=device)
    target = ref.final_losses["total"]
    (result,) = transfer.stylize([ladder], extractor, convention, content, styles, device=device)
    final = result.scales[-1]
    reached = next(
        ((it, t) for it, values, t in result.rows if it >= final.first and values[0] <= target),
        None,
    )
    print(f"single scale: {n} iterations, {ref.elapsed:.1f} s, final total loss {target:.4g}")
    print(
        f"ladder {list(scales)} x {list(args.scale_iterations)} then {size} px: "
        f"{total_iterations(ladder)} iterations, {result.elapsed:.1f} s, "
        f"final total loss {result.final_losses['total']:.4g}"
    )
    if reached is None:
        best = min(v[0] for it, v, _ in result.rows if it >= final.first)
        print(f"the ladder did not reach {target:.4g} (best {best:.4g}); ratio: n/a")
    else:
        it, t = reached
        print(
            f"the ladder reached it at iteration {it} ({it - final.first + 1} at {size} px) "
            f"after {t:.1f} s: time ratio {t / ref.elapsed:.2f} (target <= 0.33)"
        )


def memory(args: argparse.Namespace, device: torch.device) -> None:
    """memory.estimate_memory_mb against the measured peak RSS, each size in a fresh process."""
    print(f"\n## memory ({device}): estimate vs measured peak")
    print(f"{'size':>6} {'estimate MiB':>13} {'measured MiB':>13} {'measured/est':>13}")
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "_memory_one", "--size", str(size), "--device", str(device)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"{size:>6} {r['estimate']:>13.0f} {r['measured']:>13.0f} "
            f"{r['measured'] / r['estimate']:>13.2f}"
        )


def _memory_one(args: argparse.Namespace, device: torch.device) -> None:
    from stylesweep.memory import estimate_memory_mb
    from stylesweep.registry import get_spec

    extractor, convention, name = common.model(args.weights, device)
    content, styles = common.inputs(args.size)
    opts = common.options(args.size, model=name, num_iterations=5)
    size = (content.shape[-1], content.shape[-2])
    style_sizes = [(s.shape[-1], s.shape[-2]) for s in styles]
    estimate = estimate_memory_mb(get_spec(name), opts, size, style_sizes, device=device.type)
    transfer.stylize([opts], extractor, convention, content, styles, device=device)
    if device.type == "cuda":
        measured = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        measured = peak_rss_mb() or float("nan")
    print(json.dumps({"estimate": estimate, "measured": measured}))


def colour_figures(args: argparse.Namespace, device: torch.device) -> None:
    """Each colour step's cost as a share of a run without it (target: < 1%)."""
    size, n = args.colour_size, args.colour_iterations
    outputs = n // args.colour_save_iter + 1  # the frames and the final image
    print(
        f"\n## colour steps (random model, {device}, {size} px, {n} iterations, {outputs} images)"
    )
    run = colour.run_seconds(size, n, device, args.repeats)
    print(f"a run without colour control: {run:.2f} s ({n} x one evaluation, no L-BFGS step)")
    print(f"{'step':<22} {'colour s':>9} {'share of the run':>17}")
    for label, seconds in colour.colour_seconds(size, n, outputs, device, args.repeats).items():
        print(f"{label:<22} {seconds:>9.4f} {100 * seconds / run:>16.3f}%")


def score_figures(args: argparse.Namespace, device: torch.device) -> None:
    """Seconds to score one image at --score-size, the model and targets set up before
    (target: <= 2 s on 2 CPU cores)."""
    model, model_file = ("vgg19", args.weights) if args.weights else ("random", None)
    scorer = Scorer.load(
        model,
        content=common.CONTENT,
        styles=[common.STYLE],
        score_size=args.score_size,
        device=str(device),
        model_file=model_file,
    )
    image = tensors.load_tensor(common.STYLE)  # any picture: resized to the content's size
    scorer.score(image)  # warm-up
    seconds = []
    for _ in range(args.repeats):
        common.sync(device)
        start = time.perf_counter()
        scorer.score(image)
        common.sync(device)
        seconds.append(time.perf_counter() - start)
    h, w = scorer.size
    print(f"\n## score ({model} model, {device}, {torch.get_num_threads()} threads)")
    print(f"one image at {w}x{h}: {sorted(seconds)[len(seconds) // 2]:.3f} s (median of "
          f"{args.repeats}; model load excluded); target <= 2 s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", nargs="*",
        default=["objective", "speed", "multiscale", "memory", "colour", "score"],
        help="objective, speed, multiscale, memory, colour, score (default: all); scale",
    )  # fmt: skip
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batch", type=int, default=3, help="objective: a batch's size")
    parser.add_argument(
        "--lbfgs-sizes", type=int, nargs="+", default=[512, 1024], help="objective: L-BFGS step"
    )
    parser.add_argument("--size", type=int, default=512, help="multiscale/memory: image size")
    parser.add_argument("--iterations", type=int, default=1000, help="multiscale: single scale's")
    parser.add_argument("--speed-iterations", type=int, default=5, help="speed: per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scales", type=int, nargs="*", default=None, help="default: auto")
    parser.add_argument("--scale-iterations", type=int, nargs="+", default=[200])
    parser.add_argument("--colour-size", type=int, default=256, help="colour: image size")
    parser.add_argument("--colour-iterations", type=int, default=100, help="colour: the run's")
    parser.add_argument("--colour-save-iter", type=int, default=10, help="colour: frame every")
    parser.add_argument("--score-size", type=int, default=256, help="score: longest side")
    parser.add_argument("--weights", help="a vgg19 weight file (default: the random model)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000, 10000], help="scale")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(
        f"# stylesweep bench, {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    for what in args.what:
        run = {
            "objective": objective_figures,
            "speed": speed,
            "multiscale": multiscale,
            "memory": memory,
            "colour": colour_figures,
            "score": score_figures,
            "_memory_one": _memory_one,
            "scale": lambda args, device: scale.scale(args.runs),
        }[what]
        run(args, device)


if __name__ == "__main__":
    main()
