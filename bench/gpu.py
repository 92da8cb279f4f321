"""The GPU figures, in one prepared run (about 10 minutes on one H200); writes them to a file.

    python bench/gpu.py [--out bench/gpu-results.txt] [--weights vgg19-d01eb7cb.pth]

Needs only PyTorch and this project. Without CUDA it says so and exits 0 (nothing measured).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
import objective  # noqa: E402

from stylesweep import transfer  # noqa: E402
from stylesweep.options import auto_scales, total_iterations  # noqa: E402

SIZE = 512
# Iterations: a run of the batch case, a warm-up, a timed stretch, the loss case, a ladder rung.
RUN, WARM, TIMED, LOSS, LADDER = 100, 5, 50, 300, 200
# The print case: neural-style's recipe to 4096 px, at most this many iterations per scale.
RENDER_SIZE, RENDER_ITERATIONS = 4096, 20
# Six settings of one content x style that differ only in loss weights.
WEIGHTS = [(5.0, s, 1e-3) for s in (30.0, 100.0, 300.0)] + [(20.0, s, 1e-3) for s in (30, 100, 300)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("gpu-results.txt")))
    parser.add_argument("--weights", help="a vgg19 weight file (default: the random model)")
    parser.add_argument("--iterations", type=int, default=1000, help="the single-scale run")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every case on the CPU at toy sizes: checks the script before a GPU is spent on it",
    )
    parser.add_argument("--render-only", action="store_true", help="only the 4096 px renders")
    parser.add_argument(
        "--render-cap",
        default="8G",
        help="a second 4096 px render planned within this max_memory, so that it runs in tiles",
    )
    args = parser.parse_args()
    global SIZE, RENDER_SIZE, RENDER_ITERATIONS, RUN, WARM, TIMED, LOSS, LADDER
    if args.smoke:
        SIZE, RENDER_SIZE, RENDER_ITERATIONS, args.iterations = 32, 96, 3, 10
        RUN, WARM, TIMED, LOSS, LADDER = 4, 1, 2, 4, 3
        device = torch.device("cpu")
    elif not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device visible to this torch; nothing measured (skipped)")
        return 0
    else:
        device = torch.device("cuda")
    cuda = device.type == "cuda"
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)
        Path(args.out).write_text("\n".join(lines) + "\n")  # kept up to date if killed

    @contextlib.contextmanager
    def section(title: str):
        """A case that fails is reported with its error; the cases after it still run."""
        try:
            yield
        except Exception:
            say(f"\n## {title}: FAILED\n" + traceback.format_exc(limit=6))
            if cuda:
                torch.cuda.empty_cache()

    extractor, convention, name = common.model(args.weights, device)
    content, styles = common.inputs(SIZE)
    say(
        f"# stylesweep GPU bench {time.strftime('%Y-%m-%d %H:%M')}: "
        f"{torch.cuda.get_device_name(device) if cuda else 'CPU (smoke)'}, "
        f"torch {torch.__version__}, {name} model, {SIZE} px"
    )

    def timed(opts, settings=None, n=None) -> tuple[float, list[transfer.Result]]:
        """(seconds, results) for one run or a batch, synchronised."""
        opts = opts if n is None else opts.replace(num_iterations=n)
        group = (
            [opts]
            if settings is None
            else [o.replace(num_iterations=opts.num_iterations) for o in settings]
        )
        common.sync(device)
        start = time.perf_counter()
        out = transfer.stylize(group, extractor, convention, content, styles, device=device)
        common.sync(device)
        return time.perf_counter() - start, out

    base = common.options(SIZE, model=name, num_iterations=RUN, device=device.type)
    variants = {
        "fp32 (IEEE)": base,
        "tf32": base.replace(precision="tf32"),
        "bf16": base.replace(precision="bf16"),
        "tf32 + cudnn_benchmark": base.replace(precision="tf32", cudnn_benchmark=True),
        "bf16 + cudnn_benchmark": base.replace(precision="bf16", cudnn_benchmark=True),
    }

    if args.render_only:
        for cap in (None, args.render_cap):
            with section(f"render within {cap or 'the default'}"):
                render(say, extractor, convention, name, device, max_memory=cap)
        return 0

    # 1. Seconds per iteration at 512 px, and the final loss after 300 iterations.
    with section("s/iteration"):
        say(
            f"\n## s/iteration at {SIZE} px (median of 3 x {TIMED} iterations) and total "
            f"loss after {LOSS}"
        )
        fp32_loss = None
        for label, opts in variants.items():
            timed(opts, n=WARM)  # warm-up (and cuDNN's autotuning)
            per = sorted(timed(opts, n=TIMED)[0] / TIMED for _ in range(3))[1]
            loss = timed(opts, n=LOSS)[1][0].final_losses["total"]
            fp32_loss = fp32_loss or loss
            say(
                f"{label:<44} {per * 1000:8.2f} ms/it   loss {loss:.5g} "
                f"({(loss - fp32_loss) / fp32_loss:+.2%} vs fp32)"
            )

    # 1b. The closure against the network alone (fp32), as bench.py objective on the CPU.
    with section("closure vs network"):
        with transfer.backend_flags(base, device):
            closure_s, network_s, closure = objective.closure_vs_network(SIZE, device, 20)
            shares = objective.profile_shares(closure, device)
            step_s, torch_step_s = objective.lbfgs_step(SIZE, device)
        say(
            f"\n## closure vs network-only forward+backward, fp32: {closure_s * 1000:.2f} vs "
            f"{network_s * 1000:.2f} ms, ratio {closure_s / network_s:.3f}; shares of the closure: "
            + ", ".join(f"{part} {100 * share:.1f}%" for part, share in shares.items())
        )
        say(
            f"L-BFGS step, 100 pairs: {step_s * 1000:.2f} ms (torch.optim.LBFGS "
            f"{torch_step_s * 1000:.2f} ms, which syncs 200 times)"
        )

    # 2. The engine against a plain eager NCHW loop of the same computation (fp32).
    with section("engine vs plain loop"):
        with transfer.backend_flags(base, device):
            plain = common.plain_loop(base, extractor, convention, content, styles, device)
            plain_s = common.median_s_per_iteration(plain, TIMED, 3)
        engine_s = sorted(timed(base, n=TIMED)[0] / TIMED for _ in range(3))[1]
        say(
            f"\n## engine vs plain loop, fp32: {engine_s * 1000:.2f} vs "
            f"{plain_s * 1000:.2f} ms/it, ratio {engine_s / plain_s:.2f}"
        )

    # 3. A batch of 6 settings against 6 separate runs, 100 iterations each.
    with section("batch vs separate"):
        fast = variants["tf32 + cudnn_benchmark"]
        for label, opts in (("fp32", base), ("fast (tf32, cudnn_benchmark)", fast)):
            settings = [
                opts.replace(content_weight=c, style_weight=s, tv_weight=t) for c, s, t in WEIGHTS
            ]
            timed(opts, settings, n=3)
            separate = sum(timed(o)[0] for o in settings)
            batch, _ = timed(opts, settings)
            say(
                f"\n## batch of 6 vs 6 separate runs, {RUN} iterations, {label}: {batch:.1f} s vs "
                f"{separate:.1f} s: throughput x{separate / batch:.2f}"
            )

    # 4. Coarse to fine: single scale (args.iterations at 512 px) vs the auto ladder.
    with section("coarse to fine"):
        single = base.replace(num_iterations=args.iterations)
        ladder = single.replace(scales=auto_scales(SIZE), scale_iterations=(LADDER,))
        for label, opts in (("fp32", None), ("fast", variants[list(variants)[3]])):
            extra = {} if opts is None else dict(precision="tf32", cudnn_benchmark=True)
            t_single, (ref,) = timed(single.replace(**extra))
            target = ref.final_losses["total"]
            t_ladder, (res,) = timed(ladder.replace(**extra))
            final = res.scales[-1]
            hits = ((it, t) for it, v, t in res.rows if it >= final.first and v[0] <= target)
            hit = next(hits, None)
            say(
                f"\n## coarse to fine, {label}: single {args.iterations} its {t_single:.1f} s "
                f"(loss {target:.5g}); ladder {list(ladder.scales)} x {LADDER} then {SIZE} px, "
                f"{total_iterations(ladder)} its {t_ladder:.1f} s (loss "
                f"{res.final_losses['total']:.5g}); "
                + (
                    f"reached the single-scale loss at iteration {hit[0]} after {hit[1]:.1f} s: "
                    f"ratio {hit[1] / t_single:.2f}"
                    if hit
                    else "did not reach the single-scale loss"
                )
            )
    if cuda:
        say(f"\npeak memory allocated: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB")
    with section("render"):
        render(say, extractor, convention, name, device)
    with section(f"render within {args.render_cap}"):
        render(say, extractor, convention, name, device, max_memory=args.render_cap)
    return 0


def render(
    say, extractor, convention: str, name: str, device: torch.device, max_memory: str | None = None
) -> None:
    """5. A print: 4096 px by neural-style's recipe (scales auto, a few iterations each),
    planned within max_memory (default: the device's, less a margin; memory.plan_memory):
    tiles where a scale needs them."""
    from stylesweep.memory import plan_memory
    from stylesweep.models import get_spec
    from stylesweep.options import auto_scale_iterations

    size, its = RENDER_SIZE, RENDER_ITERATIONS
    content, styles = common.inputs(size)
    scales = auto_scales(size)
    cuda = device.type == "cuda"
    opts = common.options(size, model=name, num_iterations=its, device=device.type, init="image")
    opts = opts.replace(
        scales=scales,
        scale_iterations=tuple(min(n, its) for n in auto_scale_iterations(scales)),
        max_memory=max_memory,
    )
    total_mb = torch.cuda.get_device_properties(device).total_memory / 2**20 if cuda else None
    wh = (content.shape[-1], content.shape[-2])
    plan = plan_memory(get_spec(name), opts, wh, [(s.shape[-1], s.shape[-2]) for s in styles],
                       device=device.type, device_mb=total_mb)  # fmt: skip
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    common.sync(device)
    start = time.perf_counter()
    transfer.stylize([opts], extractor, convention, content, styles, device=device, plan=plan)
    common.sync(device)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else float("nan")
    seconds = time.perf_counter() - start
    tiles = [s["tiles"] if s["tile"] else 1 for s in plan.to_dict()["scales"]]
    say(
        f"\n## render {wh[0]}x{wh[1]}: scales {list(scales)} + {size}, "
        f"{total_iterations(opts)} its, max_memory {max_memory or 'default'}, tiles per scale "
        f"{tiles}, optimizer per scale "
        f"{[(s.optimizer, s.history) for s in plan.scales]}: {seconds:.1f} s; peak "
        f"{peak:.0f} MiB (plan "
        f"{plan.estimate_mb:.0f} MiB of {plan.max_memory_mb:.0f})"
    )


if __name__ == "__main__":
    sys.exit(main())
