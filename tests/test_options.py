"""Options is the one home of each option: help, range and default; the CLI and schema read it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from stylesweep import schema
from stylesweep.errors import OptionError
from stylesweep.options import METADATA, RANGES, Options, check_range
from stylesweep.sweep import sweepable_options

FIELDS = {f.name: f for f in dataclasses.fields(Options)}


def engine(**changes: Any) -> Options:
    return Options(**{"content_image": "c.png", "style_image": ("s.png",), **changes})


@pytest.mark.parametrize("name", FIELDS)
def test_every_option_has_help_and_known_metadata(name: str) -> None:
    meta = FIELDS[name].metadata
    # Without help an option would have no flag and no schema description.
    assert meta.get("help"), f"{name}: no help in its metadata"
    assert set(meta) <= set(METADATA), name


# (option, a value just inside its range, one just outside, the error's words)
RANGE_CASES = [
    ("image_size", 16, 15, "image_size: 15 is below the minimum of 16 pixels"),
    ("content_weight", 0.0, -0.5, "content_weight: must be >= 0, got -0.5"),
    ("style_weight", 0.0, -1.0, "style_weight: must be >= 0, got -1.0"),
    ("tv_weight", 0.0, -1.0, "tv_weight: must be >= 0, got -1.0"),
    ("num_iterations", 1, 0, "num_iterations: must be >= 1, got 0"),
    ("init", "image", "noise", "init: must be one of random, image, got 'noise'"),
    ("optimizer", "adam", "sgd", "optimizer: must be one of lbfgs, adam, got 'sgd'"),
    ("learning_rate", 1e-9, 0.0, "learning_rate: must be > 0, got 0.0"),
    ("lbfgs_num_correction", 1, 0, "lbfgs_num_correction: must be >= 1, got 0"),
    ("print_iter", 0, -1, "print_iter: must be >= 0, got -1"),
    ("save_iter", 0, -1, "save_iter: must be >= 0, got -1"),
    ("style_scale", 0.01, 0.0, "style_scale: must be > 0, got 0.0"),
    ("pooling", "avg", "min", "pooling: must be one of max, avg, got 'min'"),
    ("seed", -1, -2, "seed: must be >= -1, got -2"),
    ("scales", (16,), (8,), "scales: 8 is below the minimum of 16 pixels"),
    ("scale_iterations", (1,), (0,), "scale_iterations: each must be >= 1, got [0]"),
    ("precision", "bf16", "fp16", "precision: must be one of fp32, tf32, bf16, got 'fp16'"),
    (
        "color_control",
        "luminance",
        "grey",
        "color_control: must be one of none, luminance, histogram, got 'grey'",
    ),
    ("histogram_match", "pca", "mkl", "histogram_match: must be one of chol, pca, sym, got 'mkl'"),
    ("color_space", "lab", "hsv", "color_space: must be one of yuv, ycbcr, lab, luv, got 'hsv'"),
    ("tol_loss_relative", 0.0, -0.1, "tol_loss_relative: must be >= 0, got -0.1"),
    ("tol_loss_window", 1, 0, "tol_loss_window: must be >= 1, got 0"),
    ("tile_size", 32, 31, "tile_size: 31 is below the minimum of 32 pixels"),
    ("output_depth", 16, 12, "output_depth: must be one of 8, 16, got 12"),
]


def test_the_range_cases_cover_every_ranged_option() -> None:
    ranged = {name for name, f in FIELDS.items() if set(f.metadata) & set(RANGES)}
    assert {case[0] for case in RANGE_CASES} == ranged


@pytest.mark.parametrize(("name", "inside", "outside", "message"), RANGE_CASES)
def test_validate_checks_each_range_from_the_metadata(
    name: str, inside: Any, outside: Any, message: str
) -> None:
    engine(**{name: inside})
    with pytest.raises(OptionError) as error:
        engine(**{name: outside})
    assert str(error.value) == message
    with pytest.raises(OptionError, match=f"^{name}: "):
        check_range(name, outside, FIELDS[name].metadata)


def test_cross_field_checks_stay_written_out() -> None:
    with pytest.raises(OptionError, match="scales: must be ascending"):
        engine(scales=(64, 32), image_size=128)
    with pytest.raises(OptionError, match="scales: each must be below image_size 64"):
        engine(scales=(64,), image_size=64)
    with pytest.raises(OptionError, match="style_blend_weights: 2 weights given for 1 style"):
        engine(style_blend_weights=(1.0, 2.0))
    with pytest.raises(OptionError, match="device: must be auto, cpu, cuda, cuda:N or mps"):
        engine(device="tpu")


# --- the config schema is generated from Options ----------------------------------------------


def test_the_committed_options_schema_is_current() -> None:
    assert schema.PATH.read_text() == schema.render(), f"stale: run {schema.COMMAND}"


def test_the_schema_check_command_agrees() -> None:
    proc = subprocess.run([sys.executable, "-m", "stylesweep.schema", "--check"])
    assert proc.returncode == 0


@pytest.mark.parametrize("name", sweepable_options())
def test_each_option_s_schema_comes_from_its_metadata(name: str) -> None:
    meta = FIELDS[name].metadata
    spec = schema.document()["$defs"]["option"][name]
    assert spec["description"] == meta["help"]
    assert "default" not in spec
    assert spec.get("minimum") == meta.get("minimum")
    assert spec.get("exclusiveMinimum") == meta.get("exclusive_minimum")
    assert spec.get("enum") == (list(meta["choices"]) if "choices" in meta else None)
    assert spec.get("items", {}).get("minimum") == meta.get("item_minimum")


def test_the_schema_module_imports_no_torch() -> None:
    code = "import sys, stylesweep.schema; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
