"""--config on the command line: each value means what it means in a config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from snakemake.cli import parse_config
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from stylesweep.errors import ConfigError
from stylesweep.sweep import coerce, config_problem, reread_rejected_string

SCHEMA = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"


def config_from(*entries: str) -> dict[str, Any]:
    """A config given `--config ENTRY ...`, checked as the Snakefile checks it."""
    config: dict[str, Any] = {"content": "photos", "styles": "paintings"}
    update_config(config, parse_config(entries))  # as Snakemake parses the command line
    while True:
        try:
            validate(config, str(SCHEMA))
            return config
        except WorkflowError as error:
            if not reread_rejected_string(config, error):
                raise ConfigError(config_problem(error)) from None


@pytest.mark.parametrize(
    ("entry", "where", "value"),
    [
        ("batch=true", "batch", True),  # Snakemake alone gives the string 'true'
        ("batch=True", "batch", True),
        ("batch=false", "batch", False),
        ("present={thumbnail: 96}", "present.thumbnail", 96),  # and here '96'
        ("present={thumbnail: 96}", "present.frame_ms", 120),  # the schema's default
        ("stylize={original_colors: true}", "stylize.original_colors", True),
        ("stylize={tv_weight: 0.01, seed: -1}", "stylize", {"tv_weight": 0.01, "seed": -1}),
        ("sweep={style_weight: [10, 100.5]}", "sweep.style_weight", [10, 100.5]),
        ("sweep={normalize_gradients: [true, false]}", "sweep.normalize_gradients", [True, False]),
        ("sweep={init: [random, image]}", "sweep.init", ["random", "image"]),
        ("settings=[{seed: 1}, {init: image}]", "settings", [{"seed": 1}, {"init": "image"}]),
        ("blends={mix: {wave: 1, cafe: 0.5}}", "blends.mix", {"wave": 1, "cafe": 0.5}),
        ("weights={mirror: /data/models}", "weights.mirror", "/data/models"),
        ("styles=[2024, wave.png]", "styles", ["2024", "wave.png"]),  # strings it takes stay
    ],
)
def test_a_command_line_value_means_what_it_means_in_a_config_file(entry, where, value) -> None:
    found: Any = config_from(entry)
    for key in where.split("."):
        found = found[key]
    assert found == value


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("batch=maybe", "config: batch: 'maybe' is not of type 'boolean'"),
        ("batch=1", "config: batch: 1 is not of type 'boolean'"),
        ("present={thumbnail: big}", "config: present.thumbnail: 'big' is not of type 'integer'"),
        ("sweep={style_weight: [10, -1]}", "config: sweep.style_weight[1]: -1 is less than"),
    ],
)
def test_a_wrong_command_line_value_is_one_line_naming_it(entry, message) -> None:
    with pytest.raises(ConfigError) as error:
        config_from(entry)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("value", ["false", "true", 0, 1, None])
def test_past_the_schema_a_boolean_is_still_only_true_or_false(value) -> None:
    # bool("false") is True: a string that reaches the plan unread is an error, not a guess.
    with pytest.raises(ConfigError, match="original_colors: .* is not true or false"):
        coerce("original_colors", value)
