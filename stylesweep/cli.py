"""The `stylesweep` command: `stylize` (a drop-in for neural-style), `fetch` and `models`."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
import types
import typing
from pathlib import Path
from typing import Any

from . import __version__
from .errors import StyleSweepError
from .models import REGISTRY
from .options import Options, auto_scales, defaults, flag

log = logging.getLogger("stylesweep")

HELP = {
    "content_image": "the content image",
    "style_image": "one or more style images (space- or comma-separated)",
    "style_blend_weights": "one weight per style image, normalised to sum 1; None: equal weights",
    "image_size": "longest side of the output, in pixels",
    "content_weight": "weight of the content loss",
    "style_weight": "weight of the style loss",
    "tv_weight": "weight of the total-variation loss (smoothness)",
    "num_iterations": "number of iterations (function evaluations)",
    "normalize_gradients": "L1-normalise each loss term's gradient (neural-style's meaning)",
    "init": "start from random noise or from the image (init_image, else the content)",
    "init_image": "image to start from with --init image",
    "optimizer": "lbfgs or adam",
    "learning_rate": "Adam's learning rate",
    "lbfgs_num_correction": "L-BFGS history size",
    "print_iter": "print progress every N iterations (0: only the last)",
    "save_iter": "save an intermediate image every N iterations (0: none)",
    "output_image": "where the final image goes; the format follows the extension",
    "style_scale": "style images are resized to style_scale x image_size",
    "original_colors": "keep the content's colours (YUV: result's Y, content's U and V)",
    "pooling": "max or avg pooling in the network",
    "model_file": "a weight file to use instead of the registry's",
    "seed": "random seed; -1 picks a random one (recorded in run.json)",
    "content_layers": "layers for the content loss (space- or comma-separated)",
    "style_layers": "layers for the style loss (space- or comma-separated)",
    "model": f"model from the registry: {', '.join(REGISTRY)}",
    "device": "auto, cpu, cuda, cuda:N or mps (auto: CUDA when present)",
    "scales": "coarse-to-fine: smaller longest sides (px, ascending) optimized before "
    "image_size, each from the previous result; 'auto' is image_size/4 and /2 (those >= 64)",
    "scale_iterations": "iterations at each of --scales (one count for all, or one per scale)",
    "precision": "fp32, tf32 (TF32 tensor cores on CUDA) or bf16 (network under bfloat16 "
    "autocast; losses and optimizer in fp32)",
    "cudnn_benchmark": "let cuDNN autotune its convolution algorithms (may be nondeterministic)",
    "lbfgs_sync_free": "L-BFGS without GPU-host syncs (same trajectory within float rounding)",
}


def _kind(hint: Any) -> tuple[str, type]:
    """('list'|'scalar'|'bool', element type) for an Options field's type hint."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return "list", typing.get_args(hint)[0]
    if hint is bool:
        return "bool", bool
    return "scalar", hint


def _split(values: list[str], elem: type) -> list[Any]:
    # Comma lists are neural-style's spelling; a value that is an existing file stays whole.
    out: list[Any] = []
    for v in values:
        parts = [v] if Path(v).exists() or "," not in v else [p for p in v.split(",") if p]
        out += [elem(p) for p in parts]
    return out


def add_stylize_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per Options field (readable `--style-weight` and neural-style's `-style_weight`).

    Defaults are not restated here: unset flags fall back to the Options dataclass.
    """
    hints = typing.get_type_hints(Options)
    base = defaults()
    for field in dataclasses.fields(Options):
        name = field.name
        if name not in HELP:
            continue
        kind, elem = _kind(hints[name])
        default = f" (default: {base[name]})" if name in base else " (required)"
        names = [flag(name)] if name == "original_colors" else [flag(name), f"-{name}"]
        if kind == "bool":
            parser.add_argument(
                *names, dest=name, action=argparse.BooleanOptionalAction, help=HELP[name] + default
            )
        elif kind == "list":
            parser.add_argument(
                *names, dest=name, nargs="+", metavar=name.upper(), help=HELP[name] + default
            )
        else:
            parser.add_argument(
                *names,
                dest=name,
                type=str if elem is str else elem,
                metavar=name.upper(),
                help=HELP[name] + default,
            )
    compat = parser.add_argument_group("neural-style compatibility")
    compat.add_argument(
        "-original_colors",
        dest="ns_original_colors",
        type=int,
        choices=(0, 1),
        help="neural-style's spelling: 1 keeps the content's colours",
    )
    compat.add_argument(
        "-gpu",
        dest="ns_gpu",
        type=int,
        metavar="N",
        help="neural-style's device: -1 = cpu, N = cuda:N",
    )
    compat.add_argument(
        "-cudnn_autotune",
        dest="cudnn_autotune",
        action="store_true",
        help="let cuDNN pick the fastest convolution algorithms",
    )
    compat.add_argument(
        "-backend",
        dest="ns_backend",
        choices=("nn", "cudnn", "clnn"),
        help="accepted for compatibility; PyTorch picks its own backend",
    )
    compat.add_argument(
        "-proto_file",
        dest="ns_proto_file",
        help="accepted for compatibility; the architecture comes from --model",
    )
    compat.add_argument(
        "-multigpu_strategy", dest="ns_multigpu", help="not supported: one run uses one device"
    )
    out = parser.add_argument_group("stylesweep outputs")
    out.add_argument("--losses-file", help="losses TSV (default: <output stem>.losses.tsv)")
    out.add_argument("--run-json", help="provenance record (default: <output stem>.run.json)")
    out.add_argument(
        "--frames",
        help="pattern for intermediate images with {iteration} "
        "(default: neural-style's <output stem>_<iteration><ext>)",
    )
    out.add_argument("--weights-dir", help="where registry weight files live")
    out.add_argument(
        "--checkpoint",
        help="state kept every save_iter to resume a killed run "
        "(default: <output stem>.checkpoint.pt; 'none' keeps none)",
    )


def options_from_args(args: argparse.Namespace) -> Options:
    """Build Options from parsed flags; unset flags take the dataclass defaults."""
    hints = typing.get_type_hints(Options)
    given: dict[str, Any] = {}
    for name in HELP:
        value = getattr(args, name, None)
        if value is None:
            continue
        kind, elem = _kind(hints[name])
        if kind == "list":
            items = _split(value, str)
            if name == "style_blend_weights" and items == ["nil"]:
                continue
            if name == "scales" and items == ["auto"]:
                size = given.get("image_size", defaults()["image_size"])
                given[name] = auto_scales(int(size))
                continue
            value = tuple(elem(v) for v in items)
        given[name] = value
    if args.ns_original_colors is not None:
        given["original_colors"] = bool(args.ns_original_colors)
    if args.ns_gpu is not None:
        given["device"] = "cpu" if args.ns_gpu < 0 else f"cuda:{args.ns_gpu}"
    if args.ns_multigpu:
        raise StyleSweepError("-multigpu_strategy: not supported; one run uses one device")
    for ignored in ("ns_backend", "ns_proto_file"):
        if getattr(args, ignored):
            log.warning("-%s is accepted for compatibility and has no effect", ignored[3:])
    for required in ("content_image", "style_image"):
        if required not in given:
            raise StyleSweepError(f"{flag(required)} is required")
    return Options(**given)


def _stylize(args: argparse.Namespace) -> int:
    from .runner import run

    opts = options_from_args(args)
    if args.cudnn_autotune:  # neural-style's spelling of --cudnn-benchmark
        opts = opts.replace(cudnn_benchmark=True)
    out = Path(opts.output_image)
    stem = str(out.with_suffix("")).replace("{", "{{").replace("}", "}}")
    frames = args.frames or f"{stem}_{{iteration}}{out.suffix}"
    checkpoint = f"{out.with_suffix('')}.checkpoint.pt" if opts.save_iter > 0 else None
    result = run(
        opts,
        frames=frames if opts.save_iter > 0 else None,
        losses_tsv=args.losses_file or f"{out.with_suffix('')}.losses.tsv",
        run_json=args.run_json or f"{out.with_suffix('')}.run.json",
        weights_dir=args.weights_dir,
        checkpoint=None if args.checkpoint == "none" else args.checkpoint or checkpoint,
    )
    log.info("wrote %s (seed %d, %s)", result.output_image, result.seed, result.device)
    return 0


def _models(_: argparse.Namespace) -> int:
    for spec in REGISTRY.values():
        file = spec.filename or "(no file)"
        print(f"{spec.name:<18} {file:<22} {spec.convention:<11} {spec.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylesweep", description="Neural style transfer as experiments."
    )
    parser.add_argument("--version", action="version", version=f"stylesweep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    stylize = sub.add_parser(
        "stylize",
        help="run one style transfer (accepts neural-style's flags)",
        allow_abbrev=False,
        description="Run one style transfer. Every neural-style flag works with its own "
        "spelling (-style_image a.jpg,b.jpg -gpu -1) or the readable one (--style-image a b).",
    )
    add_stylize_arguments(stylize)
    for p in (stylize,):
        p.add_argument("--debug", action="store_true", help="show tracebacks")
        p.add_argument("--quiet", action="store_true", help="only warnings and errors")
    stylize.set_defaults(func=_stylize)
    sub.add_parser(
        "fetch", help="download model weights (see `stylesweep fetch -h`)", add_help=False
    )
    models = sub.add_parser("models", help="list the model registry")
    models.set_defaults(func=_models, debug=False, quiet=False)
    return parser


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record arrives (tests and wrappers swap it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _Terminated(BaseException):
    """SIGTERM, raised where the process is so that cleanup runs."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def _setup_logging(quiet: bool) -> logging.Handler:
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("stylesweep")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    return handler


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a problem with the user's input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fetch"]:
        from .fetch import main as fetch_main

        return fetch_main(argv[1:])
    args = build_parser().parse_args(argv)
    handler = _setup_logging(args.quiet)
    if threading.current_thread() is threading.main_thread():
        # A scheduler's SIGTERM unwinds like Ctrl-C: temporary files are removed, and the last
        # checkpoint stays for the rerun.
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except StyleSweepError as exc:
        if args.debug:
            raise
        print(f"stylesweep {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stylesweep {args.command}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"stylesweep {args.command}: terminated", file=sys.stderr)
        return 143
    finally:
        logging.getLogger("stylesweep").removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
