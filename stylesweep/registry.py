"""The model registry and the VGG layer tables; no torch, so the workflow can read it quickly."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ModelError

# torchvision's VGG configurations "D" (VGG-16) and "E" (VGG-19): conv widths and "M" for a max
# pool. A test checks they equal torchvision's, which builds the layers from them.
ARCHITECTURES: dict[str, list[str | int]] = {
    "vgg16": [
        64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
        512, 512, 512, "M", 512, 512, 512, "M",
    ],
    "vgg19": [
        64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ],
}  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the registry.

    Attributes:
        name: the registry name users type (`vgg19`).
        arch: a key of ARCHITECTURES.
        convention: `caffe` (BGR, 0-256, minus the mean pixel) or `torchvision` (RGB, 0-1,
            ImageNet mean and std).
        filename: the weight file's name; its hash prefix follows torch hub's convention.
        urls: where to download it, tried in order.
        sha256: the full digest where known; else only `sha256_prefix` is checked.
        size: the file's size in bytes where known.
        stand_in: True for the random model: outputs are labelled as not real style transfer.
    """

    name: str
    arch: str
    convention: str
    filename: str | None = None
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    size: int | None = None
    stand_in: bool = False
    description: str = ""

    @property
    def sha256_prefix(self) -> str | None:
        if self.filename is None:
            return None
        m = re.search(r"-([0-9a-f]{8,})\.[^.]+$", self.filename)
        return m.group(1) if m else None


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="vgg19",
            arch="vgg19",
            convention="caffe",
            filename="vgg19-d01eb7cb.pth",
            urls=("https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",),
            description="Caffe VGG-19 (the model neural-style uses), converted for PyTorch",
        ),
        ModelSpec(
            name="vgg19-torchvision",
            arch="vgg19",
            convention="torchvision",
            filename="vgg19-dcbb9e9d.pth",
            urls=("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",),
            size=548051115,
            description="torchvision's VGG-19 (RGB, ImageNet mean/std)",
        ),
        ModelSpec(
            name="vgg16",
            arch="vgg16",
            convention="caffe",
            filename="vgg16-00b39a1b.pth",
            urls=("https://web.eecs.umich.edu/~justincj/models/vgg16-00b39a1b.pth",),
            description="Caffe VGG-16, converted for PyTorch",
        ),
        ModelSpec(
            name="random",
            arch="vgg19",
            convention="caffe",
            stand_in=True,
            description="VGG-19 with seeded random weights: a stand-in for tests and offline "
            "smoke runs, not real style transfer",
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The registry entry called `name`, or a ModelError listing the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(
            f"model: unknown model {name!r}; known models: {', '.join(REGISTRY)}"
        ) from None


def layer_names(arch: str) -> list[str]:
    """Names of the feature layers in order: conv1_1, relu1_1, ..., pool1, conv2_1, ..."""
    names: list[str] = []
    block, index = 1, 1
    for v in ARCHITECTURES[arch]:
        if v == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


def min_side(arch: str, layers: Sequence[str]) -> int:
    """The smallest image side, in pixels, that still reaches the deepest of `layers`: each
    pooling before it halves the image, and a layer needs at least one pixel."""
    names = layer_names(arch)
    deepest = max(names.index(n) for n in layers)
    return 2 ** sum(1 for n in names[:deepest] if n.startswith("pool"))


def check_layers(spec: ModelSpec, layers: list[str] | tuple[str, ...], option: str) -> None:
    """Raise ModelError if a requested layer is not in the model."""
    known = layer_names(spec.arch)
    for name in layers:
        if name not in known:
            raise ModelError(
                f"{option}: model {spec.name} has no layer {name!r} "
                f"(it has conv/relu1_1..{known[-2]}, pool1..{known[-1]})"
            )
