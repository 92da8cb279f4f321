"""The sweep: config -> runs with stable, readable ids; the schema and configs against Options."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, ValidationError
from PIL import Image
from snakemake.utils import validate

from stylesweep import options, sweep
from stylesweep.errors import ConfigError
from stylesweep.models import REGISTRY
from stylesweep.sweep import Setting

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))
# The default experiment departs from the engine's defaults only here, to fit in half an hour.
SHORTENED = ("image_size", "num_iterations", "save_iter")
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]*$")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def schema() -> dict[str, Any]:
    return load(SCHEMA)


def check(config: dict[str, Any]) -> None:
    """Validate as the Snakefile does (which also fills in the schema's defaults)."""
    validate(copy.deepcopy(config), str(SCHEMA))


def put_images(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (20, 16), (len(name) * 20 % 255, 80, 160)).save(folder / name)
    return folder


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two contents and three styles in tmp_path/inputs, with tmp_path as working directory."""
    put_images(tmp_path / "inputs/content", "cat.png", "dog.jpg")
    put_images(tmp_path / "inputs/styles", "wave.png", "cafe.png", "night.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def base_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"content": "inputs/content", "styles": "inputs/styles"}
    config.update(changes)
    return config


# --- the schema and the configs agree with the engine's Options --------------------------------


def test_schema_lists_exactly_the_sweepable_options() -> None:
    s = schema()
    assert list(s["$defs"]["options"]["properties"]) == list(sweep.sweepable_options())
    assert list(s["properties"]["sweep"]["properties"]) == list(sweep.sweepable_options())
    assert set(s["$defs"]["option"]) == set(sweep.sweepable_options())


def test_every_option_is_sweepable_or_set_elsewhere() -> None:
    left_out = set(sweep.SET_BY_WORKFLOW) | set(sweep.NOT_SWEPT)
    assert set(sweep.sweepable_options()) | left_out == set(options.option_names())


def test_schema_restates_no_engine_default() -> None:
    for name, spec in schema()["$defs"]["option"].items():
        assert "default" not in spec, f"{name}: the default lives in Options"


def test_schema_enums_match_the_engine() -> None:
    s = schema()
    option = s["$defs"]["option"]
    assert tuple(option["init"]["enum"]) == options.INITS
    assert tuple(option["optimizer"]["enum"]) == options.OPTIMIZERS
    assert tuple(option["pooling"]["enum"]) == options.POOLINGS
    assert tuple(option["precision"]["enum"]) == options.PRECISIONS
    assert s["properties"]["model"]["enum"] == list(REGISTRY)


def test_schema_forbids_unknown_keys_everywhere() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" or "properties" in node:
                assert "additionalProperties" in node, f"{where}: unknown keys allowed"
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(schema(), "#")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_configs_are_valid(path: Path) -> None:
    check(load(path))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_configs_restate_engine_defaults_faithfully(path: Path) -> None:
    shortened = SHORTENED if path.name == "config.yaml" else ()
    restated = {k: v for k, v in load(path)["stylize"].items() if k not in shortened}
    for name, value in restated.items():
        assert sweep.coerce(name, value) == options.defaults()[name], f"{path.name}: {name}"


def test_neural_style_config_is_neural_styles_defaults() -> None:
    config = load(ROOT / "config/neural-style.yaml")
    assert set(config["stylize"]) == set(sweep.sweepable_options())
    assert config["sweep"] == {"style_weight": [options.defaults()["style_weight"]]}
    assert "settings" not in config


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_key_has_a_comment(path: Path) -> None:
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z_][\w-]*:", line):
            above = lines[i - 1].strip() if i else ""
            assert "#" in line or above.startswith("#"), f"{path.name}:{i + 1}: {line.strip()}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": True}, "Additional properties"),
        ({"stylize": {"image_size": 8}}, "minimum"),
        ({"stylize": {"content_image": "x.png"}}, "Additional properties"),
        ({"stylize": {"optimizer": "sgd"}}, "is not one of"),
        ({"stylize": {"tv_weight": "1e-3"}}, "is not of type"),
        ({"sweep": {"style_weight": []}}, "should be non-empty"),
        ({"sweep": {"style_weight": [-1]}}, "minimum"),
        ({"sweep": {"device": ["cpu"]}}, "Additional properties"),
        ({"sweep": {"seed": [1]}, "settings": [{"seed": 2}]}, "should not be valid"),
        ({"device": "gpu"}, "does not match"),
        ({"model": "vgg20"}, "is not one of"),
        ({"blends": {"mix": {"wave": -1}}}, "minimum"),
        ({"weights": {"folder": "w"}}, "Additional properties"),
    ],
)
def test_schema_rejects(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Draft202012Validator(schema()).validate(base_config(**change))


# --- setting ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "default"),
        ({"style_weight": 1000.0}, "style_weight-1000"),
        ({"style_weight": 1000.0, "content_weight": 5.0}, "content_weight-5_style_weight-1000"),
        ({"content_weight": 5.0, "style_weight": 1000.0}, "content_weight-5_style_weight-1000"),
        ({"tv_weight": 0.001}, "tv_weight-0.001"),
        ({"tv_weight": 1e-05}, "tv_weight-1e-05"),
        ({"style_scale": 0.5}, "style_scale-0.5"),
        ({"original_colors": True}, "original_colors-true"),
        ({"optimizer": "adam", "learning_rate": 1.0}, "learning_rate-1_optimizer-adam"),
        ({"seed": -1}, "seed--1"),
        ({"style_layers": ("relu1_1", "relu2_1")}, "style_layers-relu1_1+relu2_1"),
        ({"scales": (64, 128)}, "scales-64+128"),
        ({"scales": ()}, "scales-none"),
    ],
)
def test_setting_id_is_readable(values: dict[str, Any], expected: str) -> None:
    assert sweep.setting_id(values.items()) == expected


def test_setting_id_of_many_options_is_short_safe_and_distinct() -> None:
    layers = tuple(f"relu{b}_{i}" for b in range(1, 6) for i in range(1, 3))
    a = sweep.setting_id({"style_layers": layers, "content_layers": layers}.items())
    b = sweep.setting_id({"style_layers": layers[::-1], "content_layers": layers}.items())
    assert len(a) <= sweep.MAX_ID_LENGTH and SAFE_ID.match(a)
    assert a != b


def test_ids_do_not_depend_on_how_numbers_are_written_or_keys_ordered(inputs: Path) -> None:
    one = sweep.make_settings({"sweep": {"style_weight": [100, 1e3], "content_weight": [5]}})
    two = sweep.make_settings({"sweep": {"content_weight": [5.0], "style_weight": [100.0, 1000]}})
    assert sorted(s.id for s in one) == sorted(s.id for s in two)
    assert [s.id for s in one] == [
        "content_weight-5_style_weight-100",
        "content_weight-5_style_weight-1000",
    ]


def test_sweep_is_every_combination_in_config_order() -> None:
    settings = sweep.make_settings({"sweep": {"style_weight": [10, 20], "tv_weight": [0, 1]}})
    assert [s.as_dict() for s in settings] == [
        {"style_weight": 10.0, "tv_weight": 0.0},
        {"style_weight": 10.0, "tv_weight": 1.0},
        {"style_weight": 20.0, "tv_weight": 0.0},
        {"style_weight": 20.0, "tv_weight": 1.0},
    ]
    assert all(SAFE_ID.match(s.id) for s in settings)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sweep": {"style_weight": [100, 100.0]}}, "sweep.style_weight: 100 listed twice"),
        ({"settings": [{"seed": 1}, {"seed": 1.0}]}, r"settings\[1\]: gives the same setting"),
        ({"sweep": {"device": ["cpu"]}}, "device is not an option a setting can change"),
        ({"sweep": {"seed": [1]}, "settings": [{"seed": 2}]}, "not both"),
    ],
)
def test_bad_settings_are_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sweep.make_settings(config)


def test_no_sweep_is_one_default_setting() -> None:
    assert sweep.make_settings({}) == (Setting("default", ()),)


def test_explicit_settings_keep_their_order() -> None:
    settings = sweep.make_settings({"settings": [{"style_weight": 1e4, "tv_weight": 0}, {}]})
    assert [s.id for s in settings] == ["style_weight-10000_tv_weight-0", "default"]


# --- inputs and blends -------------------------------------------------------------------------


def test_inputs_from_a_folder_a_glob_or_a_list(inputs: Path) -> None:
    assert sweep.find_images("inputs/content", key="content") == {
        "cat": "inputs/content/cat.png",
        "dog": "inputs/content/dog.jpg",
    }
    assert list(sweep.find_images("inputs/styles/*a*.png", key="styles")) == ["cafe", "wave"]
    listed = ["inputs/styles/night.png", "inputs/content/cat.png"]
    assert list(sweep.find_images(listed, key="styles")) == ["night", "cat"]


def test_two_inputs_with_one_name_are_an_error_naming_both(inputs: Path) -> None:
    put_images(inputs / "more", "cat.jpg")
    with pytest.raises(ConfigError, match="inputs/content/cat.png and more/cat.jpg"):
        sweep.find_images(["inputs/content", "more"], key="content")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nowhere", "nowhere is neither a file, a folder nor a glob"),
        ("inputs/*.gif", r"no images found in inputs/\*\.gif"),
    ],
)
def test_missing_inputs_are_errors(inputs: Path, spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sweep.find_images(spec, key="content")


def test_unsafe_names_are_errors(inputs: Path) -> None:
    put_images(inputs / "odd", "a cat.png")
    with pytest.raises(ConfigError, match="'a cat' is not file-name safe"):
        sweep.find_images("odd", key="content")


def test_blends_come_after_the_styles(inputs: Path) -> None:
    styles = sweep.make_styles(base_config(blends={"mix": {"wave": 3, "night": 7}}))
    assert list(styles) == ["cafe", "night", "wave", "mix"]
    mix = styles["mix"]
    assert mix.is_blend and mix.parts == ("wave", "night") and mix.weights == (3.0, 7.0)
    assert mix.images == ("inputs/styles/wave.png", "inputs/styles/night.png")
    assert not styles["wave"].is_blend


@pytest.mark.parametrize(
    ("blends", "message"),
    [
        ({"mix": {"wave": 1, "sea": 1}}, "blends.mix: unknown style"),
        ({"wave": {"night": 1}}, "'wave' is also the name of a style"),
        ({"mix": {"wave": 0}}, "must not all be zero"),
    ],
)
def test_bad_blends_are_errors(inputs: Path, blends: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sweep.make_styles(base_config(blends=blends))


# --- the plan ------------------------------------------------------------------------------------


def test_plan_is_every_content_x_style_or_blend_x_setting(inputs: Path) -> None:
    config = base_config(
        blends={"mix": {"wave": 1, "night": 1}},
        stylize={"image_size": 64, "tv_weight": 0},
        sweep={"style_weight": [10, 1000]},
        model="random",
        device="cpu",
    )
    plan = sweep.plan(config)
    runs = plan.runs()
    assert len(runs) == 2 * (3 + 1) * 2
    assert len({r.path for r in runs}) == len(runs)
    assert runs[0].path == "cat/cafe/style_weight-10"
    run = plan.run("dog", "mix", "style_weight-1000")
    opts = run.options_dict()
    assert list(opts) == sorted(opts)
    assert opts["style_weight"] == 1000.0 and opts["image_size"] == 64 and opts["tv_weight"] == 0.0
    assert opts["num_iterations"] == options.defaults()["num_iterations"]
    built = sweep.build_options(opts, content_image="c.png", style=run.style, model="random")
    assert built.style_blend_weights == (1.0, 1.0) and built.model == "random"


def test_unrelated_changes_leave_a_runs_options_alone(inputs: Path) -> None:
    """A run's params are its own options: other settings and restated defaults do not move them."""
    a = sweep.plan(base_config(sweep={"style_weight": [10, 100]}))
    b = sweep.plan(base_config(sweep={"style_weight": [10, 300]}, stylize={"content_weight": 5}))
    assert a.run("cat", "wave", "style_weight-10") == b.run("cat", "wave", "style_weight-10")
    assert a.run("cat", "wave", "style_weight-10").changed_options() == {"style_weight": 10.0}


def test_the_params_of_a_run_name_only_what_departs_from_the_engine(inputs: Path) -> None:
    plan = sweep.plan(base_config(stylize={"image_size": 64, "tv_weight": 0.001}))
    changed = plan.run("cat", "wave", "default").changed_options()
    assert changed == {"image_size": 64}
    rebuilt = sweep.build_options(changed, content_image="c.png", style=["s.png"])
    assert rebuilt.to_dict() == {
        **options.Options(content_image="c.png", style_image=("s.png",)).to_dict(),
        **changed,
    }


def test_an_engine_error_names_the_setting(inputs: Path) -> None:
    with pytest.raises(ConfigError, match="setting style_weight-1, style cafe: image_size"):
        sweep.plan(base_config(stylize={"image_size": 8}, sweep={"style_weight": [1]}))


@pytest.mark.parametrize(
    ("n", "save_iter", "expected"),
    [(6, 2, [2, 4, 6]), (7, 2, [2, 4, 6, 7]), (5, 0, [5]), (3, 10, [3]), (1000, 100, None)],
)
def test_frame_iterations(n: int, save_iter: int, expected: list[int] | None) -> None:
    frames = sweep.frame_iterations(n, save_iter)
    if expected is None:
        assert len(frames) == 10 and frames[-1] == n
    else:
        assert frames == expected


def test_two_swept_options_make_a_grid() -> None:
    settings = sweep.make_settings({"sweep": {"style_weight": [10, 20, 30], "tv_weight": [0, 1]}})
    rows, cols, grid = sweep.sweep_grid(settings)
    assert rows == ["style_weight 10", "style_weight 20", "style_weight 30"]
    assert cols == ["tv_weight 0", "tv_weight 1"]
    assert grid[2][1] == "style_weight-30_tv_weight-1"


@pytest.mark.parametrize(
    ("config", "cols"),
    [
        (
            {"sweep": {"style_weight": [10, 20], "tv_weight": [0]}},
            ["style_weight 10", "style_weight 20"],
        ),
        ({}, ["default"]),
        (
            {"settings": [{"seed": 1, "tv_weight": 0, "style_weight": 1}, {"seed": 2}]},
            ["seed-1_style_weight-1_tv_weight-0", "seed-2"],
        ),
    ],
)
def test_other_sweeps_make_a_row(config: dict[str, Any], cols: list[str]) -> None:
    settings = sweep.make_settings(config)
    assert sweep.sweep_grid(settings) == ([""], cols, [[s.id for s in settings]])


def test_a_partial_grid_leaves_gaps() -> None:
    settings = sweep.make_settings(
        {"settings": [{"seed": 1, "tv_weight": 0}, {"seed": 2, "tv_weight": 1}]}
    )
    assert sweep.sweep_grid(settings)[2] == [
        ["seed-1_tv_weight-0", None],
        [None, "seed-2_tv_weight-1"],
    ]


def test_settings_tsv_maps_ids_to_values() -> None:
    settings = sweep.make_settings(
        {"settings": [{"style_weight": 1e4, "tv_weight": 0}, {"seed": 3}]}
    )
    assert sweep.settings_tsv(settings) == (
        "id\tstyle_weight\ttv_weight\tseed\n"
        "style_weight-10000_tv_weight-0\t10000\t0\t\n"
        "seed-3\t\t\t3\n"
    )


def engine(**changes: Any) -> options.Options:
    return options.Options(**{"content_image": "c.png", "style_image": ("s.png",), **changes})


def test_memory_estimate_grows_with_the_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (600, 400)).save("c.png")
    Image.new("RGB", (300, 300)).save("s.png")
    mem = sweep.estimate_mem_mb
    assert mem(engine(image_size=512)) > mem(engine(image_size=256)) > mem(engine(image_size=64))
    assert mem(engine(optimizer="adam")) < mem(engine())
    assert mem(engine()) % 100 == 0


def test_runtime_estimate_grows_with_the_work() -> None:
    runtime = sweep.estimate_runtime_min
    assert runtime(engine(image_size=512)) > runtime(engine(image_size=256))
    assert runtime(engine(), gpu=True) < runtime(engine())
    assert runtime(engine(scales=(128, 256))) > runtime(engine())
    assert runtime(engine(image_size=32, num_iterations=6)) == 1


def test_image_size_of_reads_the_header_upright(tmp_path: Path) -> None:
    img = Image.new("RGB", (60, 40))
    exif = img.getexif()
    exif[0x0112] = 6  # turned a quarter: shown 40 wide, 60 high
    img.save(tmp_path / "turned.jpg", exif=exif)
    img.save(tmp_path / "plain.png")
    assert sweep.image_size_of(tmp_path / "turned.jpg") == (40, 60)
    assert sweep.image_size_of(tmp_path / "plain.png") == (60, 40)


@pytest.mark.parametrize(
    ("device", "gpu"),
    [("cuda", True), ("cuda:3", True), ("auto", False), ("cpu", False), ("mps", False)],
)
def test_only_cuda_devices_ask_for_a_gpu(device: str, gpu: bool) -> None:
    assert sweep.uses_gpu(device) is gpu


def test_alternatives_match_whole_names_only() -> None:
    pattern = re.compile(f"^(?:{sweep.alternatives(['a.b', 'a', 'ab'])})$")
    assert pattern.match("a.b") and pattern.match("ab") and not pattern.match("axb")
