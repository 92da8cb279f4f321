"""The stylize command in-process: neural-style's spellings, outputs, errors, reproducibility."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import sys

import pytest

import stylesweep
from stylesweep import cli
from stylesweep.options import Options, defaults

TINY = ["-image_size", "32", "-num_iterations", "4", "-model", "random"]


def test_the_neural_style_command_line_works(tiny_images, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tiny_images["style_a"].rename(tmp_path / "PB.png")
    tiny_images["content"].rename(tmp_path / "tux.png")
    argv = "-style_image PB.png -content_image tux.png -output_image tux_robots.png "
    argv += "-print_iter 1 -gpu -1 -save_iter 2"
    assert cli.main(["stylize", *argv.split(), *TINY]) == 0
    # neural-style writes <name>_<iter> every save_iter and the final image under its own name
    assert (tmp_path / "tux_robots.png").is_file()
    assert (tmp_path / "tux_robots_2.png").is_file()
    assert not (tmp_path / "tux_robots_4.png").exists()
    progress = [line for line in capsys.readouterr().err.splitlines() if "iteration" in line]
    assert [line.split()[1] for line in progress] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("it/s" in line and "ETA" in line for line in progress)
    record = json.loads((tmp_path / "tux_robots.run.json").read_text())
    assert record["device"] == "cpu" and record["options"]["print_iter"] == 1
    tsv = (tmp_path / "tux_robots.losses.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[:4] == ["iteration", "total", "content", "style"]
    assert len(tsv) == 5


def test_readable_and_neural_style_spellings_agree(tiny_images):
    a, b, c = (str(tiny_images[k]) for k in ("style_a", "style_b", "content"))
    parser = cli.build_parser()
    ns = parser.parse_args(
        [
            "stylize",
            "-style_image",
            f"{a},{b}",
            "-style_blend_weights",
            "3,7",
            "-content_image",
            c,
            "-original_colors",
            "1",
            "-normalize_gradients",
            "-content_layers",
            "relu3_2",
            "-gpu",
            "0",
            "-seed",
            "-1",
        ]
    )
    readable = parser.parse_args(
        [
            "stylize",
            "--style-image",
            a,
            b,
            "--style-blend-weights",
            "3",
            "7",
            "--content-image",
            c,
            "--original-colors",
            "--normalize-gradients",
            "--content-layers",
            "relu3_2",
            "--device",
            "cuda:0",
            "--seed",
            "-1",
        ]
    )
    o1, o2 = cli.options_from_args(ns), cli.options_from_args(readable)
    assert o1 == o2
    assert o1.style_image == (a, b) and o1.style_blend_weights == (3.0, 7.0)
    assert o1.original_colors and o1.normalize_gradients and o1.device == "cuda:0"
    assert o1.seed == -1 and o1.content_layers == ("relu3_2",)


def test_unset_flags_take_the_dataclass_defaults(tiny_images):
    ns = cli.build_parser().parse_args(
        ["stylize", "-style_image", "s.png", "-content_image", "c.png"]
    )
    assert cli.options_from_args(ns) == Options(content_image="c.png", style_image=("s.png",))


def _subparser(command):
    return cli.build_parser()._subparsers._group_actions[0].choices[command]


def test_every_option_has_a_flag_and_defaults_live_only_in_the_dataclass():
    parser = _subparser("stylize")
    help_text = " ".join(parser.format_help().split())
    for name, default in defaults().items():
        assert f"--{name.replace('_', '-')}" in help_text
        assert f"-{name}" in help_text
        # the help states the dataclass's default, not a copy of its own
        assert f"(default: {default})" in help_text, name


def test_each_flag_s_help_is_its_option_s_metadata():
    actions = {a.dest: a for a in _subparser("stylize")._actions}
    for field in dataclasses.fields(Options):
        assert actions[field.name].help.startswith(field.metadata["help"]), field.name


@pytest.mark.parametrize("argv", [["--version"], ["models"], ["fetch", "--help"]])
def test_light_commands_import_no_torch(argv):
    code = "import sys\nfrom stylesweep import cli\ntry:\n    cli.main(sys.argv[1:])\n"
    code += "except SystemExit:\n    pass\nsys.exit('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert proc.returncode == 0, "torch was imported"
    assert proc.stdout


def test_one_parser_shares_debug_and_quiet():
    for command in ("stylize", "fetch", "models"):
        flags = {s for a in _subparser(command)._actions for s in a.option_strings}
        assert {"--debug", "--quiet"} <= flags, command


@pytest.mark.parametrize("which", ["content", "style"])
def test_a_missing_image_gives_one_line_and_exit_2(tiny_images, tmp_path, capsys, which):
    missing = tmp_path / "nope.png"
    content = missing if which == "content" else tiny_images["content"]
    style = missing if which == "style" else tiny_images["style_a"]
    out = tmp_path / "out.png"
    code = cli.main(
        [
            "stylize",
            "-content_image",
            str(content),
            "-style_image",
            str(style),
            "-output_image",
            str(out),
            *TINY,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [f"stylesweep stylize: error: {missing}: file not found"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in tiny_images.values()
    )


def test_an_unreadable_image_gives_one_line_and_exit_2(tiny_images, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a picture")
    code = cli.main(
        [
            "stylize",
            "-content_image",
            str(bad),
            "-style_image",
            str(tiny_images["style_a"]),
            "-output_image",
            str(tmp_path / "o.png"),
            *TINY,
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"stylesweep stylize: error: {bad}: not an image Pillow can read"
    )
    assert not (tmp_path / "o.png").exists()


def _run(tiny_images, out, *extra):
    argv = [
        "stylize",
        "--content-image",
        str(tiny_images["content"]),
        "--style-image",
        str(tiny_images["style_a"]),
        "--output-image",
        str(out),
        "--save-iter",
        "0",
        *TINY,
        *extra,
    ]
    assert cli.main(argv) == 0
    return json.loads(out.with_suffix(".run.json").read_text())


def test_same_seed_same_bytes_other_seed_different(tiny_images, tmp_path):
    _run(tiny_images, tmp_path / "a.png", "--seed", "3")
    _run(tiny_images, tmp_path / "b.png", "--seed", "3")
    _run(tiny_images, tmp_path / "c.png", "--seed", "4")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "c.png").read_bytes()
    tsv = [(tmp_path / f"{n}.losses.tsv").read_text().splitlines() for n in "ab"]
    assert [r.rsplit("\t", 1)[0] for r in tsv[0]] == [r.rsplit("\t", 1)[0] for r in tsv[1]]


def test_run_json_records_the_run_and_its_command_redoes_it(tiny_images, tmp_path):
    record = _run(tiny_images, tmp_path / "a.png", "--seed", "-1", "--style-scale", "0.5")
    assert isinstance(record["seed"], int) and record["seed"] >= 0
    for key in (
        "options",
        "inputs",
        "model",
        "versions",
        "device",
        "seed",
        "wall_time_s",
        "peak_memory",
        "final_losses",
        "command",
    ):
        assert key in record, key
    assert record["model"]["stand_in"] and "not real style transfer" in record["note"]
    assert len(record["inputs"]["content_image"]["sha256"]) == 64
    assert set(record["versions"]) >= {"stylesweep", "torch", "torchvision", "python"}
    assert record["peak_memory"]["rss_mb"] > 0
    # style_scale 0.5 x image_size 32: the style fed to the network has a longest side of 16
    assert max(record["style_sizes"][0].values()) == 16
    argv = shlex.split(record["command"])
    assert argv[:2] == ["stylesweep", "stylize"] and f"{record['seed']}" in argv
    redo = tmp_path / "redo.png"
    argv[argv.index("--output-image") + 1] = str(redo)
    assert cli.main(argv[1:]) == 0
    assert redo.read_bytes() == (tmp_path / "a.png").read_bytes()


def test_models_lists_the_registry(capsys):
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "vgg19-d01eb7cb.pth" in out and "random" in out


def test_public_api():
    assert set(stylesweep.__all__) == {
        "REGISTRY",
        "FetchError",
        "ImageError",
        "ModelError",
        "ModelSpec",
        "NumericalError",
        "OptionError",
        "Options",
        "Progress",
        "Result",
        "RunOutputs",
        "RunResult",
        "StyleSweepError",
        "__version__",
        "build_extractor",
        "content_loss",
        "get_spec",
        "gram",
        "run",
        "run_one",
        "style_loss",
        "stylize",
        "tv_loss",
    }


def test_every_public_name_resolves_and_planning_needs_no_torch():
    for name in stylesweep.__all__:
        assert getattr(stylesweep, name) is not None
    # the workflow plans sweeps and draws sheets in many short processes: no torch there
    code = "import sys, stylesweep.sweep, stylesweep.registry, stylesweep.memory; "
    code += "sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
