"""Side by side with neural-style-pt on the same stand-in VGG-19 weights: seconds per iteration.

    python bench/peer.py --neural-style-pt PATH [--size 512] [--iterations 3 13] [--device cpu]

PATH is a checkout of ProGamerGov/neural-style-pt (its neural_style.py is run as it is, in a
subprocess). Both programs run end to end with the same content, style, layers, weights and
iteration counts, from the same weight file: the `random` stand-in written in the layout
neural-style-pt loads. The time per iteration is the difference between two iteration counts,
so start-up and set-up cancel.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402

from stylesweep.models import build_extractor, get_spec  # noqa: E402


def write_weights(path: Path) -> None:
    """The random stand-in's convolutions as `features.N.*`, the keys neural-style-pt reads."""
    extractor = build_extractor(get_spec("random"), common.LAYERS)
    torch.save({f"features.{k}": v for k, v in extractor.features.state_dict().items()}, path)


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neural-style-pt", required=True, type=Path, help="its checkout")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, nargs=2, default=[3, 13])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the minimum")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="stylesweep-peer-"))
    weights = tmp / "vgg19-stand-in.pth"  # neural-style-pt picks the VGG-19 layout by "19"
    write_weights(weights)
    shared = ["-content_image", str(common.CONTENT), "-style_image", str(common.STYLE),
              "-image_size", str(args.size), "-print_iter", "0", "-save_iter", "0",
              "-seed", "0"]  # fmt: skip
    gpu = "c" if args.device == "cpu" else "0"
    peer = [sys.executable, "neural_style.py", *shared, "-model_file", str(weights),
            "-disable_check", "-gpu", gpu, "-output_image", str(tmp / "peer.png")]  # fmt: skip
    ours = [sys.executable, "-c", "from stylesweep.cli import main; main()", "stylize",
            *shared, "--model", "random", "--device", args.device,
            "--output-image", str(tmp / "ours.png")]  # fmt: skip
    print(
        f"# side by side, {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, "
        f"{args.device}, {args.size} px, iterations {args.iterations[0]} and "
        f"{args.iterations[1]}, the minimum of {args.repeats} runs each"
    )
    per_iteration = {}
    for name, command, cwd in (
        ("neural-style-pt", peer, args.neural_style_pt),
        ("stylesweep", ours, Path(__file__).resolve().parent.parent),
    ):
        seconds = []
        for n in args.iterations:
            run = [*command, "-num_iterations", str(n)]
            seconds.append(min(timed(run, cwd) for _ in range(args.repeats)))
        per_iteration[name] = (seconds[1] - seconds[0]) / (args.iterations[1] - args.iterations[0])
        print(f"{name:>16}: {seconds[0]:.1f} s and {seconds[1]:.1f} s; "
              f"{per_iteration[name]:.3f} s/iteration")  # fmt: skip
    ratio = per_iteration["stylesweep"] / per_iteration["neural-style-pt"]
    print(f"stylesweep / neural-style-pt per iteration: {ratio:.2f}")


if __name__ == "__main__":
    main()
