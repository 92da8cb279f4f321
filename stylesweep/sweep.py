"""Config -> the plan: runs (content x style-or-blend x setting) and the groups jobs run."""

from __future__ import annotations

import functools
import glob
import hashlib
import itertools
import os
import re
import types
import typing
import unicodedata
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, OptionError
from .options import BATCH_FIELDS, Options, defaults, option_names

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")

# The workflow sets these per run; a setting never does.
SET_BY_WORKFLOW = ("content_image", "style_image", "output_image", "model", "device")
# Options a sweep does not take, and the config key that covers each instead.
NOT_SWEPT = {
    "style_blend_weights": "blends",
    "init_image": "stylize.init (image = start from the content)",
    "model_file": "weights.dir",
}
# The id of the one setting of a config with neither `sweep` nor `settings`.
DEFAULT_SETTING = "default"
# Ids longer than this are cut and given a hash, to stay well inside file-name limits.
MAX_ID_LENGTH = 100
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")


def sweepable_options() -> tuple[str, ...]:
    """The engine options that `stylize`, `sweep` and `settings` may set, in dataclass order."""
    excluded = set(SET_BY_WORKFLOW) | set(NOT_SWEPT)
    return tuple(name for name in option_names() if name not in excluded)


@dataclass(frozen=True)
class Style:
    """A style column: one style image, or a named blend of several with weights."""

    name: str
    images: tuple[str, ...]
    parts: tuple[str, ...]  # the style names of a blend; (name,) for a single style
    weights: tuple[float, ...] | None = None  # a blend's weights as written; None = one style

    @property
    def is_blend(self) -> bool:
        return self.weights is not None


@dataclass(frozen=True)
class Setting:
    """One combination of swept values; `values` keeps the config's order."""

    id: str
    values: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True)
class Run:
    """One stylize job."""

    content: str
    style: Style
    setting: Setting
    options: tuple[tuple[str, Any], ...]  # every sweepable option, resolved, sorted by name

    @property
    def path(self) -> str:
        """`<content>/<style>/<setting>`, the run's folder under results/runs/."""
        return f"{self.content}/{self.style.name}/{self.setting.id}"

    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def changed_options(self) -> dict[str, Any]:
        """The options whose value is not the engine's default, sorted by name.

        The workflow's params: a new engine option, or a default restated in the config,
        leaves them as they were, so finished runs are not redone for it.
        """
        default = defaults()
        return {k: v for k, v in self.options if v != default[k]}


@dataclass(frozen=True)
class Plan:
    """Everything the workflow needs from the config, resolved and checked."""

    contents: dict[str, str]  # name -> image path
    styles: dict[str, Style]  # single styles (sorted by name), then blends (config order)
    settings: tuple[Setting, ...]
    model: str
    device: str
    base_options: tuple[tuple[str, Any], ...]  # engine defaults updated by `stylize`
    batch: bool = False  # run settings that differ only in loss weights as one job

    def options_for(self, setting: Setting) -> dict[str, Any]:
        """The resolved sweepable options of a setting, sorted by name (stable as params)."""
        merged = {**dict(self.base_options), **setting.as_dict()}
        return {name: merged[name] for name in sorted(merged)}

    def setting(self, setting_id: str) -> Setting:
        for s in self.settings:
            if s.id == setting_id:
                return s
        raise KeyError(setting_id)

    def run(self, content: str, style: str, setting: str) -> Run:
        s = self.setting(setting)
        return Run(content, self.styles[style], s, tuple(self.options_for(s).items()))

    def groups(self) -> list[Group]:
        """The stylize jobs' groups of settings, in the settings' order. Without `batch`, one per
        setting, named as it. With `batch`, the settings equal but for BATCH_FIELDS share one,
        named for the values they share; a setting alone in its group keeps its own id."""
        if not self.batch:
            return [Group(s.id, (s,)) for s in self.settings]
        together: dict[str, list[Setting]] = {}
        for s in self.settings:
            key = {k: v for k, v in self.options_for(s).items() if k not in BATCH_FIELDS}
            together.setdefault(repr(sorted(key.items())), []).append(s)
        taken = {members[0].id for members in together.values() if len(members) == 1}
        out: list[Group] = []
        for members in together.values():
            name = members[0].id
            if len(members) > 1:
                name = setting_id((k, v) for k, v in members[0].values if k not in BATCH_FIELDS)
                while name in taken:  # equal values written differently, or a lone setting's id
                    name += "+"
                taken.add(name)
            out.append(Group(name, tuple(members)))
        return out

    def runs(self) -> list[Run]:
        """Every run, contents outermost, then styles, then settings."""
        return [
            self.run(c, s, setting.id)
            for c in self.contents
            for s in self.styles
            for setting in self.settings
        ]


@dataclass(frozen=True)
class Group:
    """The settings one stylize job runs for each content x style (one, or a batch)."""

    id: str
    settings: tuple[Setting, ...]

    @property
    def setting_ids(self) -> list[str]:
        return [s.id for s in self.settings]


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(Options)


def _scalar(kind: Any, value: Any, name: str) -> Any:
    if kind is bool:
        if not isinstance(value, bool):  # bool('false') would be True
            raise ConfigError(f"{name}: {value!r} is not true or false")
        return value
    if kind is float:
        return float(value)
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{name}: {value} is not a whole number")
        return int(value)
    return str(value)


def coerce(name: str, value: Any) -> Any:
    """`value` in the type of option `name` (5 -> 5.0 for a float, a list -> a tuple), so ids
    and params do not change with how a number is written."""
    hint = _field_types()[name]
    if isinstance(hint, types.UnionType):  # X | None: unset (tile_size, max_memory), or an X
        if value is None:
            return None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_scalar(item, v, name) for v in value)
    return _scalar(hint, value, name)


def format_value(value: Any) -> str:
    """A value as it appears in a setting id: short, and safe in a file name."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    elif isinstance(value, (list, tuple)):
        text = "+".join(format_value(v) for v in value) or "none"
    else:
        text = str(value)
    return "".join(c if c in _SAFE else "~" for c in text)


def setting_id(values: Iterable[tuple[str, Any]]) -> str:
    """`key-value` pairs joined by `_`, keys sorted so that reordering the config keeps ids."""
    pairs = sorted(values)
    if not pairs:
        return DEFAULT_SETTING
    text = "_".join(f"{name}-{format_value(value)}" for name, value in pairs)
    if len(text) > MAX_ID_LENGTH:
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        text = f"{text[: MAX_ID_LENGTH - 11]}~{digest}"
    return text


def find_images(
    spec: str | Sequence[str],
    *,
    key: str,
    root: str | os.PathLike[str] = ".",
    suffixes: Sequence[str] = IMAGE_SUFFIXES,
    what: str = "images",
) -> dict[str, str]:
    """name (file stem) -> path, for a folder, a glob, or a list of files, folders or globs.

    A folder yields its files with one of `suffixes` (images; video.py passes clips'). Paths are
    returned as written (relative to `root` when relative). Raises ConfigError when nothing is
    found, a listed file is missing, or two files share a stem.
    """
    entries = [spec] if isinstance(spec, str) else list(spec)
    found: list[str] = []
    for entry in entries:
        full = Path(root, entry)
        if full.is_dir():
            names = sorted(p.name for p in full.iterdir() if p.suffix.lower() in suffixes)
            found += [os.path.join(entry, n) for n in names]
        elif glob.has_magic(entry):
            matches = sorted(glob.glob(entry, root_dir=root))
            found += [m for m in matches if Path(root, m).is_file()]
        elif full.is_file():
            found.append(entry)
        else:
            raise ConfigError(f"{key}: {entry} is neither a file, a folder nor a glob that matches")
    if not found:
        raise ConfigError(f"{key}: no {what} found in {', '.join(entries)}")
    out: dict[str, str] = {}
    for path in found:
        name = safe_id(Path(path).stem)
        if name in out and os.path.normpath(out[name]) != os.path.normpath(path):
            raise ConfigError(
                f"{key}: {out[name]} and {path} both get the name {name!r}; rename one "
                "(results are named by a file-name-safe form of the file's stem)"
            )
        out[name] = path
    return out


def safe_id(stem: str) -> str:
    """A readable, file-name-safe name for a file stem: accents folded to ASCII (café -> cafe),
    anything else outside letters, digits, '.', '+', '-' to '_', runs of '_' collapsed and
    trimmed (photo (1) -> photo_1, "Bruegel, Harvesters" -> Bruegel_Harvesters).

    A stem with nothing left (all of it in another script) gets `image-` and a digest of it.
    """
    folded = "".join(_fold(c) for c in stem)
    text = re.sub(r"_+", "_", "".join(c if c in _SAFE else "_" for c in folded))
    text = text.strip("_").lstrip(".-").strip("_")
    if not text:
        return "image-" + hashlib.sha256(stem.encode()).hexdigest()[:8]
    return text


def _fold(char: str) -> str:
    # A character's ASCII letters once its accents are split off (é -> e), or '_' (Æ, ø, —).
    parts = unicodedata.normalize("NFKD", char)
    ascii_part = "".join(c for c in parts if c.isascii())
    return ascii_part or ("" if all(unicodedata.combining(c) for c in parts) else "_")


def check_name(name: str, where: str) -> None:
    """Names become folder names and wildcards: letters, digits, '.', '+', '-' and '_'."""
    if not name or name[0] in ".-" or any(c not in _SAFE for c in name):
        raise ConfigError(
            f"{where}: the name {name!r} is not file-name safe; use letters, digits, "
            "'_', '.', '+' and '-', starting with a letter or digit"
        )


def make_styles(config: Mapping[str, Any], root: str | os.PathLike[str] = ".") -> dict[str, Style]:
    """The single styles found by `styles`, then each blend of `blends`."""
    found = find_images(config.get("styles", "inputs/styles"), key="styles", root=root)
    styles = {name: Style(name, (found[name],), (name,)) for name in sorted(found)}
    for name, parts in (config.get("blends") or {}).items():
        check_name(name, "blends")
        if name in styles:
            raise ConfigError(f"blends: {name!r} is also the name of a style image ({found[name]})")
        # A blend names its styles by name or by their files' stems.
        known = {**{Path(path).stem: id_ for id_, path in found.items()}, **{k: k for k in found}}
        unknown = [p for p in parts if p not in known]
        if unknown:
            raise ConfigError(
                f"blends.{name}: unknown style(s) {', '.join(unknown)}; styles are "
                f"{', '.join(sorted(found))}"
            )
        ids = tuple(known[p] for p in parts)
        weights = tuple(float(w) for w in parts.values())
        if sum(weights) <= 0:
            raise ConfigError(f"blends.{name}: the weights must not all be zero")
        styles[name] = Style(name, tuple(found[i] for i in ids), ids, weights)
    return styles


def make_settings(config: Mapping[str, Any]) -> tuple[Setting, ...]:
    """The settings of `sweep` (every combination) or `settings` (as listed), each with its id."""
    sweep = config.get("sweep") or {}
    listed = config.get("settings")
    if sweep and listed:
        raise ConfigError("sweep and settings: give one of them, not both")
    allowed = set(sweepable_options())
    combos: list[list[tuple[str, Any]]]
    if listed:
        combos = [list(entry.items()) for entry in listed]
        where = [f"settings[{i}]" for i in range(len(listed))]
    else:
        for name, values in sweep.items():
            coerced = [coerce(name, v) if name in allowed else v for v in values]
            dupes = {format_value(v) for v in coerced if coerced.count(v) > 1}
            if dupes:
                raise ConfigError(f"sweep.{name}: {', '.join(sorted(dupes))} listed twice")
        keys = list(sweep)
        combos = [list(zip(keys, vals, strict=True)) for vals in itertools.product(*sweep.values())]
        where = ["sweep"] * len(combos)
    settings: list[Setting] = []
    seen: dict[str, str] = {}
    for pairs, place in zip(combos, where, strict=True):
        for name, _ in pairs:
            if name not in allowed:
                raise ConfigError(f"{place}: {name} is not an option a setting can change")
        values = tuple((name, coerce(name, v)) for name, v in pairs)
        sid = setting_id(values)
        if sid in seen:
            raise ConfigError(f"{place}: gives the same setting {sid!r} as {seen[sid]}")
        seen[sid] = place
        settings.append(Setting(sid, values))
    return tuple(settings) or (Setting(DEFAULT_SETTING, ()),)


def build_options(
    options: Mapping[str, Any],
    *,
    content_image: str,
    style: Style | Sequence[str],
    style_blend_weights: Sequence[float] | None = None,
    output_image: str = "out.png",
    model: str | None = None,
    device: str | None = None,
) -> Options:
    """Options for one run from resolved sweepable options plus what the workflow sets."""
    if isinstance(style, Style):
        style_blend_weights = style.weights
        style = style.images
    fixed: dict[str, Any] = {}
    if model is not None:
        fixed["model"] = model
    if device is not None:
        fixed["device"] = device
    return Options(
        content_image=content_image,
        style_image=tuple(style),
        style_blend_weights=tuple(style_blend_weights) if style_blend_weights else None,
        output_image=output_image,
        **{name: coerce(name, value) for name, value in options.items()},
        **fixed,
    )


def plan(config: Mapping[str, Any], root: str | os.PathLike[str] = ".") -> Plan:
    """Resolve and check a (schema-valid) config: inputs, blends, settings, options.

    Every run's options are checked by building them, so a bad value fails before any job.
    """
    base = {name: defaults()[name] for name in sweepable_options()}
    for name, value in (config.get("stylize") or {}).items():
        if name not in base:
            raise ConfigError(f"stylize: {name} is not an option the workflow lets you set")
        base[name] = coerce(name, value)
    contents = find_images(config.get("content", "inputs/content"), key="content", root=root)
    result = Plan(
        contents=contents,
        styles=make_styles(config, root),
        settings=make_settings(config),
        model=str(config.get("model", defaults()["model"])),
        device=str(config.get("device", defaults()["device"])),
        base_options=tuple(sorted(base.items())),
        batch=_scalar(bool, config.get("batch", False), "batch"),
    )
    first = next(iter(contents.values()))
    for setting in result.settings:
        for style in result.styles.values():
            try:
                build_options(
                    result.options_for(setting),
                    content_image=first,
                    style=style,
                    model=result.model,
                    device=result.device,
                )
            except OptionError as e:
                raise ConfigError(f"setting {setting.id}, style {style.name}: {e}") from None
    return result


def uses_gpu(device: str) -> bool:
    """Whether a run on `device` asks the scheduler for a GPU: cuda and cuda:N do, auto not."""
    return device == "cuda" or device.startswith("cuda:")


def alternatives(names: Iterable[str]) -> str:
    """A regex matching exactly one of `names` (a wildcard constraint)."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


def config_problem(error: BaseException) -> str:
    """One line for a config that fails the schema: where, and what is wrong.

    `error` is the schema validator's error, or one raised while handling it (as Snakemake's
    validate() does).
    """
    found = _schema_error(error)
    if found is None:
        return f"config: {str(error).splitlines()[-1]}"
    where = ""
    for part in found.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    message = found.message
    if found.validator == "not" and "description" in found.validator_value:
        message = found.validator_value["description"]  # the rule, not a dump of the config
    return f"config: {where or 'top level'}: {message}"


def reread_rejected_string(config: MutableMapping[str, Any], error: BaseException) -> bool:
    """Read again, as YAML, the string the schema rejected for its type; whether it did.

    Snakemake's --config takes only True and False as booleans (`batch=true` gives the string
    'true') and every value inside a mapping or list as a string (`present={thumbnail: 96}` gives
    '96'). Read as YAML, each means what it means in a config file. Only a string the schema
    rejects changes: a style file named 2024 stays '2024'.

    Args:
        config: the config, changed in place.
        error: what validating it raised, as for config_problem.
    """
    found = _schema_error(error)
    if found is None or found.validator != "type" or not isinstance(found.instance, str):
        return False
    try:
        value = yaml.safe_load(found.instance)
    except yaml.YAMLError:
        return False
    if isinstance(value, str):
        return False
    *parents, last = found.absolute_path
    holder: Any = config
    for key in parents:
        holder = holder[key]
    holder[last] = value
    return True


def _schema_error(error: BaseException) -> Any:
    """The schema validator's error behind `error` (it or its cause), or None."""
    found: Any = error
    while found is not None and not hasattr(found, "absolute_path"):
        found = found.__cause__ or found.__context__
    return found
