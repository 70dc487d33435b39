"""Layered configuration: frozen dataclass defaults -> YAML preset -> dotted ``key=value`` overrides.

Every command owns a frozen dataclass (nested dataclasses for sections). A preset YAML holds only the
differences from the defaults; command-line overrides such as ``model.drop_path=0.2`` are applied last.
Unknown keys and wrong types are errors that name the key, the valid choices and the expected type.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml

from core.errors import UserError

T = TypeVar("T")

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.\-]*=")
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class ConfigError(UserError):
    """A configuration problem a user can fix; the message says what and how."""


def is_override(arg: str) -> bool:
    """True when a command-line word looks like ``dotted.key=value``."""
    return bool(_OVERRIDE.match(arg))


def split_overrides(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate positional words into (plain arguments, ``key=value`` overrides)."""
    plain = [a for a in args if not is_override(a)]
    overrides = [a for a in args if is_override(a)]
    return plain, overrides


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=[1, 2]"]`` into a nested dict; values are parsed as YAML scalars/lists."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if not is_override(item):
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. model.drop_path=0.2)")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} sets a key below {part!r}, which was given a value")
        node[parts[-1]] = value
    return nested


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a preset file; an empty file is an empty preset."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values, not {type(data).__name__}")
    return data


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``top`` into ``base`` recursively; ``top`` wins."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_config(
    cls: type[T],
    preset: Path | Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> T:
    """Resolve the defaults of ``cls``, then a preset (path or mapping), then dotted overrides."""
    layer: dict[str, Any] = {}
    if preset is not None:
        layer = load_yaml(preset) if isinstance(preset, Path) else dict(preset)
    layer = deep_merge(layer, parse_overrides(overrides))
    return apply(cls(), layer)


def apply(config: T, changes: Mapping[str, Any], where: str = "") -> T:
    """Return ``config`` with ``changes`` applied, checking every key and type."""
    fields = {f.name: f for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(type(config))
    updates: dict[str, Any] = {}
    for key, value in changes.items():
        path = f"{where}{key}"
        if key not in fields:
            raise ConfigError(_unknown_key_message(path, key, sorted(fields), where))
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{path} is a section, not a value; set one of its keys, e.g. {path}.KEY=VALUE")
            updates[key] = apply(current, value, f"{path}.")
        else:
            updates[key] = coerce(value, hints[key], path)
    return dataclasses.replace(config, **updates)  # type: ignore[type-var]


def _unknown_key_message(path: str, key: str, valid: list[str], where: str) -> str:
    level = where.rstrip(".") or "the top level"
    message = f"unknown config key {path!r}; valid keys at {level}: {', '.join(valid)}"
    close = difflib.get_close_matches(key, valid, n=1)
    if close:
        message += f". Did you mean {where + close[0]!r}?"
    return message


def coerce(value: Any, hint: Any, path: str) -> Any:
    """Check ``value`` against the type ``hint`` (converting where lossless) or raise ConfigError."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: expected {_type_name(hint)}, got {value!r} ({type(value).__name__})")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}: expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list ({_type_name(hint)}), got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
            return tuple(coerce(v, h, f"{path}[{i}]") for i, (v, h) in enumerate(zip(value, args)))
        item_hint = args[0] if args else Any
        items = [coerce(v, item_hint, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected bool (true/false), got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected int, got {value!r} ({type(value).__name__})")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            return float(value)  # YAML 1.1 reads "1e-3" (no dot) as a string; users mean the number
        raise ConfigError(f"{path}: expected float, got {value!r} ({type(value).__name__})")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{path}: expected str, got {value!r} ({type(value).__name__})")
    if hint is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{path}: expected a path, got {value!r}")
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ConfigError(f"{path}: expected {_type_name(hint)}, got {value!r} ({type(value).__name__})")


def _type_name(hint: Any) -> str:
    """Readable type names: ``int | None``, ``tuple[float, float]``, ``one of 'a', 'b'``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin is not None and args:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in args)}]"
    if hint is type(None):
        return "None"
    if hint is Ellipsis:
        return "..."
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def to_dict(config: Any) -> dict[str, Any]:
    """Plain, YAML/JSON-ready dict of a config (paths as strings, tuples as lists)."""
    plain: dict[str, Any] = _plain(dataclasses.asdict(config))
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def config_hash(config: Any) -> str:
    """Stable short hash of a config's resolved values."""
    canonical = json.dumps(to_dict(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def dump_yaml(config: Any) -> str:
    return str(yaml.safe_dump(to_dict(config), sort_keys=False))
