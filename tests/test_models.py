"""The registry, layer names, pooling, truncation and loading weights from a file."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stylesweep.errors import ModelError
from stylesweep.models import (
    REGISTRY,
    build_extractor,
    build_features,
    deprocess,
    get_spec,
    layer_names,
    preprocess,
)


@pytest.mark.parametrize(
    ("arch", "name", "index", "kind"),
    [
        ("vgg19", "conv1_1", 0, nn.Conv2d),
        ("vgg19", "relu1_1", 1, nn.ReLU),
        ("vgg19", "pool1", 4, nn.MaxPool2d),
        ("vgg19", "relu2_1", 6, nn.ReLU),
        ("vgg19", "relu3_1", 11, nn.ReLU),
        ("vgg19", "relu4_1", 20, nn.ReLU),
        ("vgg19", "relu4_2", 22, nn.ReLU),
        ("vgg19", "relu5_1", 29, nn.ReLU),
        ("vgg19", "pool5", 36, nn.MaxPool2d),
        ("vgg16", "relu3_1", 11, nn.ReLU),
        ("vgg16", "relu4_1", 18, nn.ReLU),
        ("vgg16", "relu4_2", 20, nn.ReLU),
        ("vgg16", "relu5_1", 25, nn.ReLU),
        ("vgg16", "pool5", 30, nn.MaxPool2d),
    ],
)
def test_layer_names_map_to_the_right_modules(arch, name, index, kind):
    names = layer_names(arch)
    assert names.index(name) == index
    features = build_features(arch, len(names))
    assert isinstance(features[index], kind)


def test_conv_channels_follow_the_architecture():
    features = build_features("vgg19", 37)
    names = layer_names("vgg19")
    assert features[names.index("conv3_1")].out_channels == 256
    assert features[names.index("conv5_4")].in_channels == 512


def test_avg_pooling_replaces_every_max_pool():
    features = build_features("vgg19", 37, pooling="avg")
    assert not any(isinstance(m, nn.MaxPool2d) for m in features)
    assert sum(isinstance(m, nn.AvgPool2d) for m in features) == 5


def test_relus_are_not_in_place():
    assert all(not m.inplace for m in build_features("vgg19", 37) if isinstance(m, nn.ReLU))


def test_extractor_stops_at_the_deepest_requested_layer():
    ex = build_extractor(get_spec("random"), ("relu1_1", "relu3_1"))
    assert len(ex.features) == layer_names("vgg19").index("relu3_1") + 1
    out = ex(torch.zeros(1, 3, 16, 16))
    assert set(out) == {"relu1_1", "relu3_1"}
    assert out["relu3_1"].shape == (1, 256, 4, 4)
    assert not any(p.requires_grad for p in ex.parameters())


def test_random_model_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_extractor(get_spec("random"), ("relu2_1",))
    after = torch.rand(1)
    b = build_extractor(get_spec("random"), ("relu2_1",))
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def _caffe_layout_state_dict(arch: str, classifier: str | None) -> dict[str, torch.Tensor]:
    """A state dict shaped like the converted Caffe files: features.N.* (+ a classifier)."""
    g = torch.Generator().manual_seed(5)
    sd = {}
    for i, m in enumerate(build_features(arch, len(layer_names(arch)))):
        if isinstance(m, nn.Conv2d):
            sd[f"features.{i}.weight"] = torch.randn(m.weight.shape, generator=g) * 0.01
            sd[f"features.{i}.bias"] = torch.randn(m.bias.shape, generator=g)
    if classifier:
        sd[f"{classifier}.0.weight"] = torch.randn(16, 8, generator=g)
        sd[f"{classifier}.0.bias"] = torch.randn(16, generator=g)
    return sd


@pytest.mark.parametrize("classifier", [None, "classifier", "fc"])
def test_a_caffe_layout_state_dict_loads(tmp_path, classifier):
    sd = _caffe_layout_state_dict("vgg19", classifier)
    path = tmp_path / "vgg19-00000000.pth"
    torch.save(sd, path)
    ex = build_extractor(get_spec("vgg19"), ("relu4_2",), weights=path)
    assert torch.equal(ex.features[21].weight, sd["features.21.weight"])
    assert torch.equal(ex.features[0].bias, sd["features.0.bias"])
    assert not any(k.startswith(("classifier", "fc")) for k in ex.state_dict())


def test_wrong_shapes_fail_clearly(tmp_path):
    path = tmp_path / "odd.pth"
    sd = _caffe_layout_state_dict("vgg19", "classifier")
    sd["features.10.weight"] = torch.zeros(256, 64, 3, 3)
    torch.save(sd, path)
    with pytest.raises(ModelError, match=r"odd\.pth: features\.10\.weight has shape"):
        build_extractor(get_spec("vgg19"), ("relu5_1",), weights=path)


def test_another_models_file_fails_clearly(tmp_path):
    path = tmp_path / "vgg16-00000000.pth"
    torch.save(_caffe_layout_state_dict("vgg16", "classifier"), path)
    with pytest.raises(ModelError, match=r"vgg16-00000000\.pth: .*not a state dict of this model"):
        build_extractor(get_spec("vgg19"), ("relu5_1",), weights=path)


def test_a_file_that_is_not_weights_fails_clearly(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="broken.pth: not a readable PyTorch weight file"):
        build_extractor(get_spec("vgg19"), ("relu1_1",), weights=path)


def test_missing_tensors_fail_clearly(tmp_path):
    path = tmp_path / "partial.pth"
    sd = _caffe_layout_state_dict("vgg19", None)
    del sd["features.5.weight"]
    torch.save(sd, path)
    with pytest.raises(ModelError, match=r"partial.pth: has no tensor features\.5\.weight"):
        build_extractor(get_spec("vgg19"), ("relu2_1",), weights=path)


def test_unknown_model_and_layer_are_named():
    with pytest.raises(ModelError, match="unknown model 'vgg99'"):
        get_spec("vgg99")
    with pytest.raises(ModelError, match="no layer 'relu6_1'"):
        build_extractor(get_spec("random"), ("relu6_1",))


def test_registry_entries():
    assert REGISTRY["vgg19"].convention == "caffe"
    assert REGISTRY["vgg19"].sha256_prefix == "d01eb7cb"
    assert REGISTRY["vgg19-torchvision"].convention == "torchvision"
    assert REGISTRY["vgg19-torchvision"].sha256_prefix == "dcbb9e9d"
    assert REGISTRY["vgg16"].arch == "vgg16"
    assert REGISTRY["vgg16"].sha256_prefix == "00b39a1b"
    assert REGISTRY["random"].stand_in and REGISTRY["random"].filename is None


def test_caffe_preprocessing_is_bgr_times_256_minus_the_mean_pixel():
    rgb = torch.tensor([0.5, 0.25, 1.0]).view(1, 3, 1, 1)
    x = preprocess(rgb, "caffe").flatten().tolist()
    assert x == pytest.approx([1.0 * 256 - 103.939, 0.25 * 256 - 116.779, 0.5 * 256 - 123.68])
    assert torch.allclose(deprocess(preprocess(rgb, "caffe"), "caffe"), rgb, atol=1e-6)


def test_torchvision_preprocessing_is_imagenet_normalisation():
    rgb = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    assert torch.allclose(preprocess(rgb, "torchvision"), torch.zeros(1, 3, 1, 1), atol=1e-6)
    x = torch.rand(1, 3, 4, 4)
    assert torch.allclose(deprocess(preprocess(x, "torchvision"), "torchvision"), x, atol=1e-6)


def test_the_layer_tables_are_torchvisions():
    from torchvision.models import vgg as tv_vgg

    from stylesweep.registry import ARCHITECTURES

    assert ARCHITECTURES == {"vgg16": tv_vgg.cfgs["D"], "vgg19": tv_vgg.cfgs["E"]}


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_the_feature_stack_has_torchvisions_modules_keys_and_shapes(arch):
    """A torchvision VGG's weight file loads into it: the same modules, keys and shapes."""
    from torchvision.models import vgg as tv_vgg

    from stylesweep.models import build_features
    from stylesweep.registry import ARCHITECTURES

    with torch.device("meta"):
        theirs = tv_vgg.make_layers(ARCHITECTURES[arch])
    ours = build_features(arch, len(theirs))
    assert [type(m) for m in ours] == [type(m) for m in theirs]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
