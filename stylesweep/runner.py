"""One run from files to files: inputs, model, optimization, then image, frames, TSV, JSON."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import platform
import secrets
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL
import torch

from . import __version__, checkpoint, images, tensors
from .atomic import write_text
from .digest import cached_sha256, sha256_file
from .errors import ImageError, OptionError, OutputError, ResourceError
from .memory import MemoryPlan, chain_work, eta_seconds, plan_memory
from .models import FeatureExtractor, ModelSpec, build_extractor, check_layers, get_spec
from .options import Options, to_argv, total_iterations
from .registry import min_side
from .temporal import Temporal
from .transfer import Checkpoint, Progress, Result, Stop, stylize

log = logging.getLogger(__name__)

STAND_IN_NOTE = "random model: a seeded stand-in network, not real style transfer"


@dataclass(frozen=True)
class RunResult:
    """What `run` produced."""

    output_image: Path
    seed: int
    device: str
    final_losses: dict[str, float]
    record: dict[str, Any]  # the run.json content


def resolve_device(name: str) -> torch.device:
    """auto = CUDA when present, else the CPU; an unavailable device is an OptionError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise OptionError(f"device: {name} asked for, but this torch sees no CUDA device")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise OptionError(
                f"device: {name} asked for, but only {torch.cuda.device_count()} CUDA "
                "device(s) are visible"
            )
        return torch.device("cuda", index)
    if name == "mps" and not torch.backends.mps.is_available():
        raise OptionError("device: mps asked for, but this torch has no MPS device")
    return torch.device(name)


def resolve_seed(seed: int) -> int:
    """-1 means a fresh random seed (recorded in run.json); other values are kept."""
    return secrets.randbelow(2**31) if seed == -1 else seed


def _size(x: torch.Tensor) -> tuple[int, int]:
    """(width, height) of a (1, 3, H, W) picture."""
    return int(x.shape[-1]), int(x.shape[-2])


def _size_record(x: torch.Tensor) -> dict[str, int]:
    return dict(zip(("width", "height"), _size(x), strict=True))


def check_size(path: str, x: torch.Tensor, need: int, what: str) -> None:
    """Raise ImageError if picture `x` of file `path`, sized by `what`, is too small for the
    model (`need` pixels on each side)."""
    w, h = _size(x)
    if min(w, h) < need:
        raise ImageError(
            f"{path}: is {w}x{h} pixels after resizing ({what}); the model needs at least "
            f"{need} pixels on each side for its deepest layer"
        )


def _oom_message(opts: Options, size: tuple[int, int], device: torch.device, need: float) -> str:
    total = torch.cuda.get_device_properties(device).total_memory / 2**20
    return (
        f"a {size[0]}x{size[1]} image (image_size {opts.image_size}) needs about {need:,.0f} MiB "
        f"on {device}, which has {total:,.0f} MiB; try a smaller image_size, optimizer adam "
        "(no L-BFGS history), fewer or shallower style layers, or a smaller style_scale"
    )


def weights_file(
    opts: Options, spec: ModelSpec, weights: str | None, weights_dir: str | None
) -> Path | None:
    """The weight file of `spec`: `weights` or opts.model_file, else the registry's, fetched
    into `weights_dir` on first use; None for the random stand-in."""
    if spec.stand_in:
        if opts.model_file or weights:
            raise OptionError("model_file: the random model takes no weight file")
        return None
    if opts.model_file or weights:
        return Path(opts.model_file or weights)  # type: ignore[arg-type]
    from .fetch import fetch  # downloads on first use; offline gives one clear line

    return fetch(spec, weights_dir)


def _digests(entry: dict[str, Any] | list[dict[str, Any]]) -> Any:
    # Paths may move between a run and its resumption; contents may not.
    if isinstance(entry, list):
        return [e["sha256"] for e in entry]
    return entry["sha256"]


def _writable_folder(path: Path) -> None:
    """Make the output's folder now, so a bad output path fails before any work."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"{path}: cannot write (folder {path.parent} is not writable)")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def _peak_memory_mb(device: torch.device) -> dict[str, float]:
    rss = peak_rss_mb()
    out: dict[str, float] = {} if rss is None else {"rss_mb": rss}
    if device.type == "cuda":
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MiB; None where there is no `resource` (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in bytes on macOS, in KiB on Linux and the BSDs.
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _losses_tsv(result: Result) -> str:
    # A coarse-to-fine run says which size each iteration ran at.
    multi = len(result.scales) > 1
    lines = [
        "\t".join(("iteration", *result.names, *(("scale_px",) if multi else ()), "elapsed_s"))
    ]
    for it, values, elapsed in result.rows:
        scale = result.scale_of(it)
        extra = (str(max(scale.size)),) if multi and scale is not None else ()
        lines.append("\t".join((str(it), *(f"{v:.9g}" for v in values), *extra, f"{elapsed:.3f}")))
    return "\n".join(lines) + "\n"


class _Reporter:
    """The loop's callback: progress lines and frames."""

    def __init__(self, frames: str | None, final_frame: bool, stand_in: bool, work: tuple):
        self.frames, self.work = frames, work  # work: memory.chain_work, for the ETA
        self.final_frame = final_frame
        self.stand_in = stand_in
        self.written: list[str] = []
        self.last = (0, 0.0)

    def owns(self, frame: str) -> bool:
        """Whether a frame file is one of this run's (a batch restores each member's own)."""
        return self.frames is not None and Path(frame).parent == Path(self.frames).parent

    def __call__(self, p: Progress) -> None:
        last = p.is_last
        if p.image is not None and self.frames and (not last or self.final_frame):
            path = self.frames.format(iteration=p.iteration)
            images.save_image(tensors.to_image(p.image), path)
            self.written.append(path)
        if p.is_print:
            done, t = self.last
            rate = (p.iteration - done) / max(p.elapsed - t, 1e-9)
            eta = eta_seconds(self.work, self.last, (p.iteration, p.elapsed), p.num_iterations)
            losses = p.losses
            log.info(
                "iteration %d/%d  total %.4g  content %.4g  style %.4g  tv %.4g  "
                "%.2f it/s  ETA %dm%02ds%s",
                p.iteration,
                p.num_iterations,
                losses["total"],
                losses["content"],
                losses["style"],
                losses["tv"],
                rate,
                eta // 60,
                eta % 60,
                "  [random model: stand-in]" if self.stand_in else "",
            )
            self.last = (p.iteration, p.elapsed)


@dataclass(frozen=True)
class RunOutputs:
    """Where a run's files go besides its final image (`output_image`); None writes none.

    `frames` is a str.format pattern with `{iteration}`. `name` is how the other settings of
    the job name this run in their run.json (`batched_with`); its output folder by default.
    """

    frames: str | None = None
    losses_tsv: str | None = None
    run_json: str | None = None
    name: str | None = None


@dataclass
class _Setup:
    """What a run or a batch shares, read and checked before any work."""

    spec: ModelSpec
    seed: int
    device: torch.device
    content: torch.Tensor  # (1, 3, H, W) in [0, 1] at image_size
    styles: list[torch.Tensor]  # at style_scale x image_size
    init: torch.Tensor | None  # at the content's size
    weight_file: Path | None
    weights_sha: str | None
    inputs: dict[str, Any]  # path and sha256 of every input file
    need: float  # the memory estimate, MiB
    plan: MemoryPlan  # each scale whole or in tiles, and its optimizer state

    def fingerprint(self, settings: Sequence[Options]) -> str:
        digests = {k: v and _digests(v) for k, v in self.inputs.items()}
        if self.plan.changed:  # tiles and a lowered history change the numbers
            digests["memory_plan"] = [s.to_dict() for s in self.plan.scales]
        return checkpoint.fingerprint(settings, digests, self.weights_sha)


def _prepare(
    settings: list[Options],
    outputs: list[RunOutputs],
    *,
    weights: str | None,
    weights_dir: str | None,
    checkpoint_path: str | None,
) -> _Setup:
    """Check the options, read and size every input, find the weights, check every output's
    folder and the memory: all before any work, so a bad file fails fast with no output."""
    opts = settings[0]  # a batch's members share everything read here
    spec = get_spec(opts.model)
    check_layers(spec, opts.content_layers, "content_layers")
    check_layers(spec, opts.style_layers, "style_layers")
    device = resolve_device(opts.device)
    min_px = min_side(spec.arch, opts.content_layers + opts.style_layers)
    content = tensors.load_tensor(opts.content_image, opts.image_size)
    check_size(opts.content_image, content, min_px, f"image_size {opts.image_size}")
    style_px = images.style_size(opts.image_size, opts.style_scale)
    styles = []
    for path in opts.style_image:
        style = tensors.load_tensor(path, style_px)
        check_size(path, style, min_px, f"style_scale x image_size = {style_px}")
        styles.append(style)
    init = None
    if opts.init == "image" and opts.init_image:
        init = tensors.load_tensor(opts.init_image, size=_size(content))
    weight_file = weights_file(opts, spec, weights, weights_dir)
    for o, out in zip(settings, outputs, strict=True):
        for written in (o.output_image, out.losses_tsv, out.run_json):
            if written is not None:
                _writable_folder(Path(written))
    if checkpoint_path is not None:
        _writable_folder(Path(checkpoint_path))

    inputs = {
        "content_image": {"path": opts.content_image, "sha256": sha256_file(opts.content_image)},
        "style_image": [{"path": p, "sha256": sha256_file(p)} for p in opts.style_image],
        "init_image": (
            {"path": opts.init_image, "sha256": sha256_file(opts.init_image)}
            if opts.init_image
            else None
        ),
    }
    # Each scale whole or in tiles within max_memory; refused here, before any work, when not
    # even one tile fits.
    device_mb = None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        device_mb = torch.cuda.get_device_properties(device).total_memory / 2**20
    plan = plan_memory(spec, opts, _size(content), [_size(s) for s in styles],
                       device=device.type, device_mb=device_mb, batch=len(settings))  # fmt: skip
    for line in plan.describe():
        log.info("%s", line)
    return _Setup(
        spec=spec,
        seed=resolve_seed(opts.seed),
        device=device,
        content=content,
        styles=styles,
        init=init,
        weight_file=weight_file,
        weights_sha=cached_sha256(weight_file) if weight_file else None,
        inputs=inputs,
        need=plan.estimate_mb,
        plan=plan,
    )


def _start(
    setup: _Setup,
    opts: Options,
    ckpt_path: Path | None,
    fingerprint: str,
    reporters: list[_Reporter],
) -> tuple[Checkpoint | None, FeatureExtractor]:
    """The checkpoint to resume from, if any (its frames back on disk), and the model."""
    loaded = checkpoint.load(ckpt_path, fingerprint, total_iterations(opts)) if ckpt_path else None
    resume = loaded[0] if loaded else None
    if loaded:
        setup.seed = loaded[0].seed  # the seed that made the checkpoint, if -1 picked a new one
        checkpoint.restore_frames(loaded[1])
        for name in loaded[1]:
            owner = next((r for r in reporters if r.owns(name)), reporters[0])
            owner.written.append(name)
    spec = setup.spec
    extractor = build_extractor(
        spec,
        opts.content_layers + opts.style_layers,
        pooling=opts.pooling,
        weights=setup.weight_file,
    ).to(setup.device)
    if spec.stand_in:
        log.warning("%s", STAND_IN_NOTE)
    log.info(
        "content %s at %dx%d, %d style image(s), model %s on %s, seed %d",
        opts.content_image,
        *_size(setup.content),
        len(setup.styles),
        spec.name,
        setup.device,
        setup.seed,
    )
    return resume, extractor


def _checkpointer(
    ckpt_path: Path | None, fingerprint: str, reporters: list[_Reporter]
) -> Callable[[Checkpoint], None] | None:
    """The loop's on_checkpoint: the state with every frame written so far, by any member."""
    if ckpt_path is None:
        return None

    def save(ckpt: Checkpoint) -> None:
        checkpoint.save(ckpt_path, fingerprint, [n for r in reporters for n in r.written], ckpt)

    return save


@contextlib.contextmanager
def _oom_guard(opts: Options, setup: _Setup) -> Iterator[None]:
    """A CUDA out-of-memory error as a ResourceError that says what to change."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:
        message = _oom_message(opts, _size(setup.content), setup.device, setup.need)
        raise ResourceError("out of memory: " + message) from exc


def _finish(
    opts: Options,
    setup: _Setup,
    result: Result,
    reporter: _Reporter,
    outputs: RunOutputs,
    *,
    resume: Checkpoint | None,
    extra: dict[str, Any] | None = None,
) -> RunResult:
    """Write one run's final image, losses.tsv and run.json (with `extra` added)."""
    # 16 bits straight from the floats (H, W, 3), or 8 as every frame
    floats = opts.output_depth == 16
    final = result.image[0].permute(1, 2, 0).numpy() if floats else tensors.to_image(result.image)
    images.save_output(
        final, opts.output_image, content=opts.content_image, keep_alpha=opts.keep_alpha
    )
    if outputs.losses_tsv:
        write_text(outputs.losses_tsv, _losses_tsv(result))
    spec, device, seed = setup.spec, setup.device, setup.seed
    stop = result.stop or Stop(total_iterations(opts), False, "num_iterations")
    if stop.early:
        log.info(
            "%s: stopped at iteration %d of %d; %s",
            opts.output_image,
            stop.iteration,
            total_iterations(opts),
            stop.reason,
        )
    record = {
        "stylesweep": __version__,
        "stand_in": spec.stand_in,
        "note": STAND_IN_NOTE if spec.stand_in else "",
        "options": {**opts.to_dict(), "seed": seed},
        "seed": seed,
        "inputs": setup.inputs,
        "model": {
            "name": spec.name,
            "description": spec.description,
            "file": str(setup.weight_file) if setup.weight_file else None,
            "sha256": setup.weights_sha,
            "stand_in": spec.stand_in,
        },
        "size": _size_record(setup.content),
        "style_sizes": [_size_record(s) for s in setup.styles],
        "device": str(device),
        # Which physical GPU "cuda:0" was: set by a scheduler or by the workflow's GPU lock.
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device_name": _device_name(device),
        "versions": {
            "stylesweep": __version__,
            "torch": torch.__version__,
            # The installed distribution's: importing torchvision costs seconds (its models).
            "torchvision": importlib.metadata.version("torchvision"),
            "pillow": PIL.__version__,
            "python": platform.python_version(),
        },
        "threads": torch.get_num_threads(),
        "wall_time_s": round(result.elapsed, 3),
        "iterations_per_s": round(stop.iteration / max(result.elapsed, 1e-9), 4),
        "peak_memory": _peak_memory_mb(device),
        "estimated_memory_mb": round(setup.need, 1),
        # Which scales ran in tiles (count, size, overlap) and with what optimizer state.
        "memory_plan": setup.plan.to_dict(),
        "resumed_from": resume.iteration if resume else None,
        # Where the run ended: num_iterations, or early (tol_loss_relative) and why.
        "stop": {"iteration": stop.iteration, "early": stop.early, "reason": stop.reason},
        "final_losses": result.final_losses,
        "frames": reporter.written,
        "output_image": opts.output_image,
        "cwd": os.getcwd(),
        "command": " ".join(
            shlex.quote(a) for a in ["stylesweep", "stylize", *to_argv(opts, seed=seed)]
        ),
        "argv": sys.argv,
        **(extra or {}),
    }
    if outputs.run_json:
        write_text(outputs.run_json, json.dumps(record, indent=2) + "\n")
    return RunResult(
        output_image=Path(opts.output_image),
        seed=seed,
        device=str(device),
        final_losses=result.final_losses,
        record=record,
    )


def run(
    settings: Sequence[Options],
    outputs: Sequence[RunOutputs],
    *,
    final_frame: bool = False,
    weights: str | None = None,
    weights_dir: str | None = None,
    checkpoint: str | None = None,
    keep_checkpoint: bool = False,
    temporal: Temporal | None = None,
) -> list[RunResult]:
    """Do one or more style transfers from files to files, as one job.

    The inputs are read and the model built once; `transfer.stylize` optimizes every setting
    at once, each with its own optimizer history. Each setting gets its final image, frames,
    losses.tsv and run.json; a job of several also names the others in run.json
    (`batched_with`).

    Args:
        settings: the runs' options, with equal `options.batch_key` (they may differ only in
            loss weights and output_image); `output_image` is where each final image goes.
        outputs: each run's frames, losses.tsv and run.json, in the order of `settings`.
        final_frame: also write a frame at the last iteration (the workflow's GIFs want it;
            neural-style's naming does not).
        weights: a weight file overriding the registry's (as opts.model_file).
        weights_dir: where registry weight files live (fetched there on first use).
        checkpoint: where to keep the job's state every save_iter, with every run's frames; a
            job started again with the same options resumes from it (and gets the same
            bytes); removed at the end, unless `keep_checkpoint` (the caller removes it).
        temporal: a video frame's temporal loss, as `transfer.stylize` (stylesweep.clip).
    Returns:
        One RunResult per setting, in order.
    """
    settings, outputs = list(settings), list(outputs)
    setup = _prepare(
        settings, outputs, weights=weights, weights_dir=weights_dir, checkpoint_path=checkpoint
    )
    opts, fingerprint = settings[0], setup.fingerprint(settings)
    ckpt_path = Path(checkpoint) if checkpoint else None
    work = chain_work(opts, setup.plan)
    reporters = [_Reporter(o.frames, final_frame, setup.spec.stand_in, work) for o in outputs]
    resume, extractor = _start(setup, opts, ckpt_path, fingerprint, reporters)
    with _oom_guard(opts, setup):
        results = stylize(
            settings,
            extractor,
            setup.spec.convention,
            setup.content,
            setup.styles,
            init_image=setup.init,
            seed=setup.seed,
            device=setup.device,
            callbacks=reporters,
            on_checkpoint=_checkpointer(ckpt_path, fingerprint, reporters),
            resume=resume,
            temporal=temporal,
            plan=setup.plan if setup.plan.changed else None,
        )
    runs = list(zip(settings, outputs, results, reporters, strict=True))
    names = [out.name or str(Path(o.output_image).parent) for o, out, _, _ in runs]
    done = [
        _finish(
            o,
            setup,
            result,
            reporter,
            out,
            resume=resume,
            extra={"batched_with": names[:j] + names[j + 1 :]} if len(runs) > 1 else None,
        )
        for j, (o, out, result, reporter) in enumerate(runs)
    ]
    if ckpt_path is not None and not keep_checkpoint:
        ckpt_path.unlink(missing_ok=True)  # the runs are complete; the state is not needed
    return done


def run_one(opts: Options, outputs: RunOutputs | None = None, **kwargs: Any) -> RunResult:
    """One style transfer from files to files: `run` with one setting (the CLI's door)."""
    return run([opts], [outputs or RunOutputs()], **kwargs)[0]
