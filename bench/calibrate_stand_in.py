"""Derive the random stand-in's per-convolution gains (models.STAND_IN_GAINS).

    .venv/bin/python bench/calibrate_stand_in.py [--size 512] [--content DIR] [--styles DIR]

Two steps, each a factor on a convolution's weights. The stand-in's convolutions have no bias and
its ReLUs and pools are positively homogeneous, so a factor g on one convolution multiplies every
later activation by g.

1. Normalise: each convolution in turn is scaled so that its ReLU's output keeps the root mean
   square of its input, on seeded 1/f noise (the spectrum of natural images) at 60 units of
   neural-style's x256 pixel scale.
2. Calibrate: at neural-style's defaults (512 px, content weight 5, style weight 100, init random)
   neural-style logs at iteration 1 a content loss of 2.09e6 and style losses of 3.0e4, 7.0e5,
   1.53e5, 1.24e7 and 657 at relu1_1 ... relu5_1 on its default example (its INSTALL.md). At
   iteration 1 the image is noise of 1e-3 around the mean pixel, whose features are ~0, so each
   loss is its target's own energy: the content loss at relu4_2 goes as the square of the
   activation scale there and a style loss as its fourth power (a Gram is quadratic). The scale
   each loss layer needs is the geometric mean over every content x style pair given, and the
   convolutions between two loss layers share the step from one scale to the next.

Prints the table for models.STAND_IN_GAINS, then the losses it gives against the published ones.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stylesweep import models, tensors, transfer  # noqa: E402
from stylesweep.options import Options  # noqa: E402

# neural-style's iteration-1 losses on its default example (weighted), by layer.
PUBLISHED = {
    "relu1_1": 30021.29,
    "relu2_1": 700349.56,
    "relu3_1": 153033.20,
    "relu4_1": 12404635.16,
    "relu4_2": 2091178.59,
    "relu5_1": 656.86,
}
CONTENT_LAYER = "relu4_2"
NOISE_SEED, NOISE_SIDE, NOISE_RMS = 2, 256, 60.0


def one_over_f_noise() -> torch.Tensor:
    """(1, 3, S, S) seeded noise with a 1/f amplitude spectrum, root mean square NOISE_RMS."""
    gen = torch.Generator().manual_seed(NOISE_SEED)
    white = torch.randn((3, NOISE_SIDE, NOISE_SIDE), generator=gen)
    f = torch.fft.fftfreq(NOISE_SIDE)
    radius = (f[:, None] ** 2 + f[None, :] ** 2).sqrt()
    radius[0, 0] = 1.0
    x = torch.fft.ifft2(torch.fft.fft2(white) / radius).real
    return (x / x.pow(2).mean().sqrt() * NOISE_RMS)[None]


def stand_in() -> models.FeatureExtractor:
    return models.build_extractor(models.get_spec("random"), tuple(PUBLISHED))


def normalising_gains() -> dict[str, float]:
    """Step 1: a factor per convolution that keeps the RMS through conv + ReLU."""
    extractor = stand_in()
    gains: dict[str, float] = {}
    x = one_over_f_noise()
    with torch.no_grad():
        for name, layer in zip(extractor.names, extractor.features, strict=True):
            if isinstance(layer, nn.Conv2d):
                y = torch.relu(layer(x))
                gains[name] = float(x.pow(2).mean().sqrt() / y.pow(2).mean().sqrt())
                layer.weight.mul_(gains[name])
            x = layer(x)
    return gains


def first_losses(content: Path, style: Path, size: int) -> dict[str, float]:
    """The weighted losses by layer at iteration 1, with the stand-in as models builds it now."""
    opts = Options(content_image=str(content), style_image=(str(style),), image_size=size,
                   num_iterations=1, print_iter=0, save_iter=0, model="random")  # fmt: skip
    c, s = tensors.load_tensor(content, size), tensors.load_tensor(style, size)
    (result,) = transfer.stylize([opts], stand_in(), "caffe", c, [s])
    row = result.final_losses
    return {n: row["content"] if n == CONTENT_LAYER else row[f"style_{n}"] for n in PUBLISHED}


def mean_losses(pairs: list[tuple[Path, Path]], size: int) -> dict[str, float]:
    """Each layer's loss, geometric mean over the pairs."""
    logs: dict[str, float] = dict.fromkeys(PUBLISHED, 0.0)
    for content, style in pairs:
        for name, value in first_losses(content, style, size).items():
            logs[name] += math.log(value) / len(pairs)
    return {name: math.exp(v) for name, v in logs.items()}


def calibrating_gains(losses: dict[str, float]) -> dict[str, float]:
    """Step 2: the factor per convolution that turns `losses` into the published ones."""
    names = models.layer_names("vgg19")
    convs = [n for n in names if n.startswith("conv") and names.index(n) < names.index("relu5_1")]
    scale = {
        n: (PUBLISHED[n] / losses[n]) ** (1 / (2 if n == CONTENT_LAYER else 4)) for n in PUBLISHED
    }
    gains, previous, done = {}, 1.0, 0
    for layer in sorted(PUBLISHED, key=names.index):
        segment = [c for c in convs[done:] if names.index(c) < names.index(layer)]
        step = (scale[layer] / previous) ** (1 / len(segment))
        gains.update(dict.fromkeys(segment, step))
        previous, done = scale[layer], done + len(segment)
    return gains


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=root / "inputs" / "content")
    parser.add_argument("--styles", type=Path, default=root / "inputs" / "styles")
    parser.add_argument("--size", type=int, default=512, help="neural-style's default size")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    pairs = [(c, s) for c in images(args.content) for s in images(args.styles)]

    models.STAND_IN_GAINS.clear()
    norm = normalising_gains()
    models.STAND_IN_GAINS.update(norm)
    before = mean_losses(pairs, args.size)
    cal = calibrating_gains(before)
    table = {name: round(norm[name] * cal[name], 4) for name in norm}
    print("STAND_IN_GAINS = {")
    for name, gain in table.items():
        print(f'    "{name}": {gain},')
    print("}")

    models.STAND_IN_GAINS.clear()
    models.STAND_IN_GAINS.update(table)
    after = mean_losses(pairs, args.size)
    print(f"\niteration-1 losses, geometric mean over {len(pairs)} pairs at {args.size} px")
    print(f"{'layer':<8} {'published':>12} {'normalised':>12} {'calibrated':>12}")
    for layer in PUBLISHED:
        print(f"{layer:<8} {PUBLISHED[layer]:>12.4g} {before[layer]:>12.4g} {after[layer]:>12.4g}")


if __name__ == "__main__":
    main()
