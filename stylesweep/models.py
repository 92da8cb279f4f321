"""The model registry, weight loading, and the truncated VGG feature extractor."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from .errors import ModelError
from .registry import (  # noqa: F401 - re-exported: the registry is part of this module's API
    ARCHITECTURES,
    REGISTRY,
    ModelSpec,
    check_layers,
    get_spec,
    layer_names,
    min_side,
)

log = logging.getLogger(__name__)

# Caffe's mean pixel in BGR order, and neural-style's scale of 256 (not 255) per unit of colour.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
CAFFE_SCALE = 256.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The seed of the `random` model's weights: fixed, and independent of the run's seed, so that
# runs with different seeds are compared on the same stand-in network.
RANDOM_MODEL_SEED = 0


def build_features(arch: str, depth: int, pooling: str = "max") -> nn.Sequential:
    """torchvision's VGG feature stack cut after layer index `depth - 1`.

    ReLUs are made out-of-place so that a captured activation is never overwritten, and with
    pooling `avg` every max pool becomes an average pool of the same size (as neural-style).
    """
    # torchvision's vgg.make_layers, written out with the same modules in the same order (so
    # the same state_dict keys): importing torchvision.models imports torch._dynamo, about 2 s
    # of CPU at the start of every job. Built on the meta device: no memory and no random init
    # (which would also advance the global RNG); the caller fills every weight by loading a
    # file or by the seeded init.
    layers: list[nn.Module] = []
    channels = 3
    with torch.device("meta"):
        for v in ARCHITECTURES[arch]:
            if v == "M":
                pool = nn.AvgPool2d if pooling == "avg" else nn.MaxPool2d
                layers.append(pool(kernel_size=2, stride=2))
            else:
                conv = nn.Conv2d(channels, int(v), kernel_size=3, padding=1)
                layers += [conv, nn.ReLU(inplace=False)]
                channels = int(v)
    return nn.Sequential(*layers[:depth]).to_empty(device="cpu")


# The stand-in's kernels. Each 3x3 kernel is Kaiming-normal noise (fan_in) of which a share
# STAND_IN_SMOOTH of the variance lies in the smooth kernels (flat, and ramps in x and y). White
# kernels alone answer fine checkerboards as strongly as shapes, so an optimizer matches their deep
# features with noise of low amplitude and the content never appears; trained VGG's kernels are
# mostly smooth, and so the stand-in's deep features follow the picture's shapes.
STAND_IN_SMOOTH = 0.9
# A gain per convolution, from bench/calibrate_stand_in.py: first each convolution keeps the
# root-mean-square activation of 1/f noise (natural images' spectrum) through its ReLU, then the
# layers between two loss layers share the factor that brings the stand-in's first-iteration
# losses at neural-style's defaults to the real VGG-19's (its published figures), so that content,
# style and tv weigh against each other as they do with real weights.
STAND_IN_GAINS: dict[str, float] = {
    "conv1_1": 0.4029,
    "conv1_2": 0.9876,
    "conv2_1": 0.9675,
    "conv2_2": 0.6242,
    "conv3_1": 0.489,
    "conv3_2": 0.7544,
    "conv3_3": 0.8333,
    "conv3_4": 0.8954,
    "conv4_1": 0.8521,
    "conv4_2": 0.9259,
    "conv4_3": 0.2241,
    "conv4_4": 0.221,
    "conv5_1": 0.2452,
}


def _smooth_basis() -> Tensor:
    """(3, 3, 3): the flat kernel and the x and y ramps, each of unit norm."""
    ramp = torch.tensor([-1.0, 0.0, 1.0]).expand(3, 3) / 6**0.5
    return torch.stack([torch.full((3, 3), 1 / 3), ramp, ramp.T.contiguous()])


def _random_init(features: nn.Sequential, names: list[str]) -> None:
    """Fill the stand-in's convolutions: seeded kernels (see STAND_IN_SMOOTH), gains, zero bias.

    Kaiming over fan_in keeps activations near the input's scale layer after layer, before the
    gains. A private generator keeps the weights the same on every machine and leaves the global
    RNG alone; only elementwise arithmetic follows the draws, so no kernel library can round them
    differently.
    """
    gen = torch.Generator().manual_seed(RANDOM_MODEL_SEED)
    basis = _smooth_basis()
    white_share, smooth_share = (1 - STAND_IN_SMOOTH) ** 0.5, STAND_IN_SMOOTH**0.5
    for name, module in zip(names, features, strict=False):
        if not isinstance(module, nn.Conv2d):
            continue
        out_ch, in_ch, kh, kw = module.weight.shape
        assert (kh, kw) == (3, 3)
        white = torch.randn((out_ch, in_ch, 3, 3), generator=gen)
        coef = torch.randn((out_ch, in_ch, 3, 1, 1), generator=gen)
        # Three unit kernels with N(0, 1) weights have a third of the nine white entries'
        # expected energy: sqrt(3) evens the two before they are mixed.
        smooth = coef[:, :, 0] * basis[0] + coef[:, :, 1] * basis[1] + coef[:, :, 2] * basis[2]
        kernel = white * white_share + smooth * (3**0.5 * smooth_share)
        std = (2.0 / (in_ch * 9)) ** 0.5 * STAND_IN_GAINS.get(name, 1.0)
        with torch.no_grad():
            module.weight.copy_(kernel * std)
            assert module.bias is not None
            module.bias.zero_()


_FEATURE_KEY = re.compile(r"^(?:module\.)?features\.(\d+)\.(weight|bias)$")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a weight file as a state dict, memory-mapped where the format allows it.

    Memory mapping keeps the 400 MB classifier of a full VGG file out of memory: its pages are
    never touched.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: weight file not found")
    try:
        try:
            sd = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            sd = torch.load(p, map_location="cpu", weights_only=True)  # legacy format
    except Exception as exc:  # torch raises many types for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{p}: not a readable PyTorch weight file ({first})") from exc
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise ModelError(f"{p}: not a state dict of tensors")
    return sd


def load_features_weights(features: nn.Sequential, sd: dict[str, Tensor], source: str) -> None:
    """Copy `features.N.*` tensors into the truncated stack; other keys are ignored.

    Raises ModelError naming the file and the layer when a tensor is missing or misshapen.
    """
    wanted = {}
    for key, value in sd.items():
        m = _FEATURE_KEY.match(key)
        if m and int(m.group(1)) < len(features):
            wanted[(int(m.group(1)), m.group(2))] = value
    for index, module in enumerate(features):
        if not isinstance(module, nn.Conv2d):
            continue
        for kind in ("weight", "bias"):
            target: Tensor = getattr(module, kind)
            tensor = wanted.get((index, kind))
            if tensor is None:
                raise ModelError(
                    f"{source}: has no tensor features.{index}.{kind}; "
                    "it is not a state dict of this model's architecture"
                )
            if tuple(tensor.shape) != tuple(target.shape):
                raise ModelError(
                    f"{source}: features.{index}.{kind} has shape {tuple(tensor.shape)}, "
                    f"the model needs {tuple(target.shape)}; the file belongs to another model"
                )
            with torch.no_grad():
                target.copy_(tensor)


class FeatureExtractor(nn.Module):
    """A truncated VGG that returns the named activations it was asked for."""

    def __init__(
        self, features: nn.Sequential, names: list[str], wanted: tuple[str, ...], min_side: int
    ):
        super().__init__()
        self.features = features
        self.names = names[: len(features)]
        self.wanted = frozenset(wanted)
        self.min_side = min_side  # registry.min_side: the smallest image side it can take

    def forward(self, x: Tensor) -> dict[str, Tensor]:  # x: (B, 3, H, W) preprocessed
        out: dict[str, Tensor] = {}
        for name, layer in zip(self.names, self.features, strict=True):
            x = layer(x)
            if name in self.wanted:
                out[name] = x
        return out


def build_extractor(
    spec: ModelSpec,
    layers: tuple[str, ...],
    *,
    pooling: str = "max",
    weights: str | os.PathLike[str] | None = None,
) -> FeatureExtractor:
    """The frozen feature extractor for `spec`, built only as deep as the deepest of `layers`.

    Args:
        spec: the registry entry.
        layers: every layer whose activation is needed (content and style).
        pooling: `max` or `avg`.
        weights: the weight file; required unless the model is the random stand-in.
    """
    names = layer_names(spec.arch)
    check_layers(spec, layers, "layers")
    depth = max(names.index(name) for name in layers) + 1
    features = build_features(spec.arch, depth, pooling)
    if spec.stand_in:
        _random_init(features, names)
    else:
        if weights is None:
            raise ModelError(f"model {spec.name}: no weight file given")
        load_features_weights(features, read_state_dict(weights), str(weights))
    extractor = FeatureExtractor(features, names, layers, min_side(spec.arch, layers))
    extractor.eval()
    extractor.requires_grad_(False)
    return extractor


def preprocess(rgb: Tensor, convention: str) -> Tensor:
    """RGB in [0, 1], (B, 3, H, W) -> the network's input space."""
    if convention == "caffe":
        mean = torch.tensor(CAFFE_MEAN_BGR, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
        return rgb.flip(1) * CAFFE_SCALE - mean
    mean = torch.tensor(IMAGENET_MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - mean) / std


def deprocess(x: Tensor, convention: str) -> Tensor:
    """The network's input space -> RGB in [0, 1] (not clamped), (B, 3, H, W)."""
    if convention == "caffe":
        mean = torch.tensor(CAFFE_MEAN_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return ((x + mean) / CAFFE_SCALE).flip(1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * std + mean
