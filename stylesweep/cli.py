"""The `stylesweep` command: `stylize` (a drop-in for neural-style), `video`, `score`, `fetch`,
`models`."""

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

# Only torch-free modules here: `--version`, `models` and `fetch` must start in a blink.
# The runner (torch) is imported by the stylize handler, fetch (urllib, ssl) by fetch's.
from . import __version__
from .errors import StyleSweepError
from .options import (
    PRINT_RECIPE_ABOVE,
    Options,
    auto_scale_iterations,
    auto_scales,
    defaults,
    flag,
)
from .pick import SCORE_SIZE
from .registry import REGISTRY, get_spec

log = logging.getLogger("stylesweep")


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


def option_help(field: dataclasses.Field[Any], kind: str) -> str:
    """A flag's help: the option's help from its metadata, then its default from the dataclass."""
    # KeyError for a field without help: every CLI test fails, not just its flag going missing.
    text = field.metadata["help"]
    if kind == "list":
        text += "; space- or comma-separated"
    if "cli_help" in field.metadata:
        text += f"; {field.metadata['cli_help']}"
    if field.default is dataclasses.MISSING:
        return f"{text} (required)"
    return f"{text} (default: {field.default})"


def add_stylize_arguments(
    parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = (), outputs: bool = True
) -> None:
    """One flag per Options field (readable `--style-weight` and neural-style's `-style_weight`).

    Help and defaults come from the Options dataclass; unset flags fall back to its defaults.
    `skip` leaves out some fields' flags, `outputs=False` the stylize command's output flags
    (`video` names its own).
    """
    hints = typing.get_type_hints(Options)
    for field in dataclasses.fields(Options):
        name = field.name
        if name in skip:
            continue
        kind, elem = _kind(hints[name])
        # -original_colors is neural-style's 0/1 flag, in the compatibility group below.
        names = [flag(name)] if name == "original_colors" else [flag(name), f"-{name}"]
        text = option_help(field, kind)
        if kind == "bool":
            action = argparse.BooleanOptionalAction
            parser.add_argument(*names, dest=name, action=action, help=text)
        elif kind == "list":
            parser.add_argument(*names, dest=name, nargs="+", metavar=name.upper(), help=text)
        else:
            parser.add_argument(*names, dest=name, type=elem, metavar=name.upper(), help=text)
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
    compat.add_argument(
        "-tol_loss_relative_interval",
        dest="av_tol_loss_interval",
        type=int,
        metavar="N",
        help="artistic-videos' spelling of --tol-loss-window",
    )
    if not outputs:
        return
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
    for field in dataclasses.fields(Options):
        name = field.name
        value = getattr(args, name, None)
        if value is None:
            continue
        kind, elem = _kind(hints[name])
        if kind == "list":
            items = _split(value, str)
            if name == "style_blend_weights" and items == ["nil"]:
                continue
            if name == "scales" and items == ["auto"]:
                size = int(given.get("image_size", defaults()["image_size"]))
                given[name] = auto_scales(size)
                if size > PRINT_RECIPE_ABOVE and getattr(args, "scale_iterations", None) is None:
                    given["scale_iterations"] = auto_scale_iterations(given[name])
                continue
            if name == "scale_iterations" and items == ["auto"]:
                given[name] = auto_scale_iterations(given.get("scales", ()))
                continue
            value = tuple(elem(v) for v in items)
        given[name] = value
    if args.ns_original_colors is not None:
        given["original_colors"] = bool(args.ns_original_colors)
    if args.cudnn_autotune:  # neural-style's spelling of --cudnn-benchmark
        given["cudnn_benchmark"] = True
    if args.av_tol_loss_interval is not None:  # artistic-videos' spelling of tol_loss_window
        given["tol_loss_window"] = args.av_tol_loss_interval
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
    from .runner import RunOutputs, run_one

    opts = options_from_args(args)
    out = Path(opts.output_image)
    stem = str(out.with_suffix("")).replace("{", "{{").replace("}", "}}")
    frames = args.frames or f"{stem}_{{iteration}}{out.suffix}"
    checkpoint = f"{out.with_suffix('')}.checkpoint.pt" if opts.save_iter > 0 else None
    outputs = RunOutputs(
        frames=frames if opts.save_iter > 0 else None,
        losses_tsv=args.losses_file or f"{out.with_suffix('')}.losses.tsv",
        run_json=args.run_json or f"{out.with_suffix('')}.run.json",
    )
    result = run_one(
        opts,
        outputs,
        weights_dir=args.weights_dir,
        checkpoint=None if args.checkpoint == "none" else args.checkpoint or checkpoint,
    )
    log.info("wrote %s (seed %d, %s)", result.output_image, result.seed, result.device)
    return 0


def _video(args: argparse.Namespace) -> int:
    from .clip import stylize_clip
    from .video import VideoOptions, check_outputs

    args.content_image = args.content_video  # each frame's content replaces it
    opts = options_from_args(args)
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(VideoOptions)}
    vopts = VideoOptions(**{k: v for k, v in given.items() if v is not None})
    check_outputs(args.output_video, args.gif)
    out = stylize_clip(
        opts,
        vopts,
        args.content_video,
        args.output_video,
        work_dir=args.work_dir,
        gif=args.gif,
        weights_dir=args.weights_dir,
    )
    log.info("wrote %s%s", out, f" and {args.gif}" if args.gif else "")
    return 0


def _score(args: argparse.Namespace) -> int:
    from .runner import STAND_IN_NOTE
    from .score import Scorer, format_tsv

    blend = _split(args.style_blend_weights, float) if args.style_blend_weights else None
    scorer = Scorer.load(
        args.model,
        content=args.content_image,
        styles=_split(args.style_image, str),
        blend_weights=blend,
        score_size=args.score_size if args.score_size is not None else SCORE_SIZE,
        device=args.device,
        weights_dir=args.weights_dir,
        model_file=args.model_file,
    )
    rows = [scorer.score_file(path) for path in args.images]
    if scorer.stand_in:
        # Labelled as the stand-in's images are: these numbers say nothing about style transfer.
        log.warning("%s", STAND_IN_NOTE)
        print(f"# scores from the {STAND_IN_NOTE}")
    sys.stdout.write(format_tsv(args.images, rows))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from .fetch import fetch

    # Each model is fetched even when one before it failed; each failure is its own line.
    status = 0
    for name in args.models:
        try:
            spec = get_spec(name)
            if spec.stand_in:
                log.info("model %s needs no weight file; skipped", name)
                continue
            # The timeout's default lives in stylesweep.fetch.
            timeout = {} if args.timeout is None else {"timeout": args.timeout}
            path = fetch(
                spec,
                args.dest,
                verify=args.verify,
                mirror=args.mirror,
                progress=False if args.quiet else None,
                **timeout,
            )
        except StyleSweepError as exc:
            status = _error(args, exc)
            continue
        print(path)
    return status


def _models(_: argparse.Namespace) -> int:
    for spec in REGISTRY.values():
        file = spec.filename or "(no file)"
        print(f"{spec.name:<18} {file:<22} {spec.convention:<11} {spec.description}")
    return 0


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    """The `video` command's flags: its files, the VideoOptions fields, every engine option."""
    from .video import VideoOptions

    clip = parser.add_argument_group("video")
    clip.add_argument("--content-video", required=True, help="the clip to stylize")
    clip.add_argument("--output-video", required=True, help="the stylized clip (.mp4, .mkv, .mov)")
    clip.add_argument("--gif", help="also write the stylized clip as this GIF")
    clip.add_argument(
        "--work-dir",
        help="where the frames, flows, masks and each frame's result and run.json go "
        "(default: <output stem>_frames beside the output); a rerun skips the frames done",
    )
    clip.add_argument("--weights-dir", help="where registry weight files live")
    hints = typing.get_type_hints(VideoOptions)
    for field in dataclasses.fields(VideoOptions):
        _, elem = _kind(hints[field.name])
        clip.add_argument(
            flag(field.name), dest=field.name, type=elem, metavar="N" if elem is not str else "A:B",
            help=option_help(field, "scalar"),
        )  # fmt: skip
    skip = ("content_image", "output_image", "init_image")
    add_stylize_arguments(parser, skip=skip, outputs=False)


def build_parser() -> argparse.ArgumentParser:
    """The one parser: `stylize`, `video`, `score`, `fetch` and `models`, sharing --debug and
    --quiet."""
    parser = argparse.ArgumentParser(
        prog="stylesweep", description="Neural style transfer as experiments."
    )
    parser.add_argument("--version", action="version", version=f"stylesweep {__version__}")
    parser.set_defaults(log_prefix="", interrupted="interrupted")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug lines")
    common.add_argument("--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True)
    stylize = sub.add_parser(
        "stylize",
        help="run one style transfer (accepts neural-style's flags)",
        allow_abbrev=False,
        parents=[common],
        description="Run one style transfer. Every neural-style flag works with its own "
        "spelling (-style_image a.jpg,b.jpg -gpu -1) or the readable one (--style-image a b).",
    )
    add_stylize_arguments(stylize)
    stylize.set_defaults(func=_stylize)
    video = sub.add_parser(
        "video",
        help="stylize a clip frame by frame, with temporal consistency",
        allow_abbrev=False,
        parents=[common],
        description="Stylize a video frame by frame (Ruder et al. 2016): the first frame is an "
        "ordinary run, each later one starts from the previous result warped by the optical "
        "flow and is kept close to it where the flow is reliable. Takes every stylize option; "
        "the audio is dropped.",
    )
    add_video_arguments(video)
    video.set_defaults(func=_video)
    fetch = sub.add_parser(
        "fetch",
        help="download model weights",
        parents=[common],
        description="Download model weights once, verified, into the weights folder, and print "
        "each file's path. Run it where there is network (e.g. a cluster's login node).",
    )
    fetch.add_argument(
        "models", nargs="*", default=["vgg19"], metavar="MODEL", help="registry names (vgg19)"
    )
    # The variables and the timeout's default belong to stylesweep.fetch; a test checks these.
    fetch.add_argument(
        "--dest",
        metavar="DIR",
        help="weights folder ($STYLESWEEP_WEIGHTS_DIR, else ~/.cache/stylesweep/weights)",
    )
    fetch.add_argument(
        "--verify", action="store_true", help="hash present files again, trusting no cache"
    )
    fetch.add_argument(
        "--mirror",
        metavar="URL",
        help="base URL (http, https, file) or folder tried first ($STYLESWEEP_WEIGHTS_URL)",
    )
    fetch.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for data (30)")
    # fetch's log lines name it; stylize's progress lines are neural-style's, unprefixed.
    fetch.set_defaults(
        func=_fetch,
        log_prefix="stylesweep fetch: ",
        interrupted="interrupted; run it again to resume",
    )
    score = sub.add_parser(
        "score",
        help="score images against a content and a style (TSV)",
        parents=[common],
        description="Print a TSV of scores, one row per image, measured with one fixed "
        "yardstick at score size: content_distance, style_distance, color_distance, "
        "structure (SSIM) and noise. README.md, 'Scores', defines them.",
    )
    score.add_argument("images", nargs="+", metavar="IMAGE", help="the images to score")
    score.add_argument("--content-image", required=True, help="the content image")
    score.add_argument(
        "--style-image", required=True, nargs="+", help="one or more style images (a blend)"
    )
    score.add_argument(
        "--style-blend-weights", nargs="+", help="one weight per style image (default: equal)"
    )
    score.add_argument(
        "--model",
        default=defaults()["model"],
        help=f"model from the registry: {', '.join(REGISTRY)}",
    )
    score.add_argument(
        "--score-size",
        type=int,
        metavar="N",
        help=f"longest side every image is scored at, in pixels (default: {SCORE_SIZE})",
    )
    score.add_argument(
        "--device", default=defaults()["device"], help="auto, cpu, cuda, cuda:N or mps"
    )
    score.add_argument("--weights-dir", help="where registry weight files live")
    score.add_argument("--model-file", help="a weight file to use instead of the registry's")
    score.set_defaults(func=_score, log_prefix="stylesweep score: ")
    models = sub.add_parser("models", help="list the model registry", parents=[common])
    models.set_defaults(func=_models)
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


def _setup_logging(args: argparse.Namespace) -> logging.Handler:
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(args.log_prefix + "%(message)s"))
    logger = logging.getLogger("stylesweep")
    logger.addHandler(handler)
    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    logger.setLevel(level)
    return handler


def _error(args: argparse.Namespace, exc: StyleSweepError) -> int:
    """The one way a user error ends a command: one line and exit 2 (a traceback with --debug)."""
    if args.debug:
        raise exc
    print(f"stylesweep {args.command}: error: {exc}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a problem with the user's input)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    handler = _setup_logging(args)
    if threading.current_thread() is threading.main_thread():
        # A scheduler's SIGTERM unwinds like Ctrl-C: temporary files are removed, and the last
        # checkpoint (or a download's .part) stays for the rerun.
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except StyleSweepError as exc:
        return _error(args, exc)
    except KeyboardInterrupt:
        print(f"stylesweep {args.command}: {args.interrupted}", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"stylesweep {args.command}: terminated", file=sys.stderr)
        return 143
    finally:
        logging.getLogger("stylesweep").removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
