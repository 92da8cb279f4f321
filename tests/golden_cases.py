"""Golden outputs of tiny CPU runs: final image bytes and every loss column but elapsed_s.

`python tests/golden_cases.py` writes them to tests/data/golden (do so only in a commit that
says why the numbers changed); tests/test_golden.py checks that the code still makes them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "data" / "golden"
sys.path.insert(0, str(HERE.parent))

from stylesweep import checkpoint, runner  # noqa: E402
from stylesweep.options import Options  # noqa: E402

BASE: dict[str, Any] = dict(
    image_size=32, num_iterations=12, print_iter=0, save_iter=4, model="random", device="cpu"
)
# case -> the options of each member (a batch has several); all use the golden inputs.
CASES: dict[str, list[dict[str, Any]]] = {
    "lbfgs": [{}],
    "adam": [{"optimizer": "adam"}],
    "batch": [
        {"content_weight": 5.0, "style_weight": 100.0, "tv_weight": 1e-3},
        {"content_weight": 5.0, "style_weight": 300.0, "tv_weight": 1e-3},
        {"content_weight": 20.0, "style_weight": 50.0, "tv_weight": 1e-2},
    ],
    "two_scales": [{"image_size": 64, "scales": (32,), "scale_iterations": (5,)}],
    # lbfgs killed after its checkpoint at iteration 8, then resumed.
    "resumed": [{}],
}
KILL_AT = 8


class Killed(BaseException):
    """Stands for a scheduler's kill right after a checkpoint was written."""


def settings_of(case: str, out: Path) -> list[Options]:
    inputs = GOLDEN / "inputs"
    return [
        Options(
            content_image=str(inputs / "content.png"),
            style_image=(str(inputs / "style.png"),),
            output_image=str(out / f"member{i}" / "final.png"),
            **{**BASE, **changes},
        )
        for i, changes in enumerate(CASES[case])
    ]


def outputs_of(settings: list[Options]) -> list[runner.RunOutputs]:
    return [
        runner.RunOutputs(
            frames=str(Path(o.output_image).parent / "frames" / "{iteration:04d}.png"),
            losses_tsv=str(Path(o.output_image).parent / "losses.tsv"),
        )
        for o in settings
    ]


def produce(case: str, out: Path) -> list[Path]:
    """Run a case with one CPU thread into `out`; returns each member's folder."""
    settings = settings_of(case, out)
    outputs = outputs_of(settings)
    state = str(out / "checkpoint.pt")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reductions split across threads round differently
    try:
        if case == "resumed":
            _run_killed(settings, outputs, state)
        _run(settings, outputs, state)
    finally:
        torch.set_num_threads(threads)
    return [Path(o.output_image).parent for o in settings]


def _run(settings, outputs, state) -> None:
    runner.run(settings, outputs, final_frame=True, checkpoint=state)


def _run_killed(settings, outputs, state) -> None:
    save = checkpoint.save

    def save_then_die(*args):
        save(*args)
        if args[-1].iteration == KILL_AT:
            raise Killed

    checkpoint.save = save_then_die
    try:
        _run(settings, outputs, state)
    except Killed:
        pass
    finally:
        checkpoint.save = save
    for o in settings:  # as Snakemake removes a killed job's outputs
        shutil.rmtree(Path(o.output_image).parent)


def losses_without_time(path: Path) -> str:
    """losses.tsv without its last column (elapsed_s)."""
    return "".join(line.rsplit("\t", 1)[0] + "\n" for line in path.read_text().splitlines())


def cpu_capability() -> str:
    return str(torch.backends.cpu.get_cpu_capability())


def write() -> None:
    for case in CASES:
        target = GOLDEN / case
        shutil.rmtree(target, ignore_errors=True)
        tmp = GOLDEN / f".{case}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for i, folder in enumerate(produce(case, tmp)):
            member = target / f"member{i}"
            member.mkdir(parents=True)
            shutil.copy(folder / "final.png", member / "final.png")
            (member / "losses.tsv").write_text(losses_without_time(folder / "losses.tsv"))
        shutil.rmtree(tmp)
    meta = {"cpu_capability": cpu_capability(), "torch": torch.__version__}
    (GOLDEN / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    write()
