"""The one loader that maps params mappings onto frozen config dataclasses, recursively.

``build_config(Config, raw, "pretrain.variants.cda")`` checks every key against the dataclass's
fields (unknown keys get a "did you mean" hint), every value against the field's type (nested
dataclasses, lists, mappings, optionals and ``Literal`` choices included), and names the dotted
path of whatever is wrong, before any compute starts. ``__post_init__`` validation errors of the
configs are re-raised with the same path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from causal_llm.registry import did_you_mean


class InputError(ValueError):
    """Bad input (a params file, a corpus, a benchmark file, an endpoint): the message names the
    file or variable, the field and the fix; the CLI prints it without a traceback."""


class ParamsError(InputError):
    """A params file that cannot be used; the message names file, field and fix."""


def require(ok: bool, message: str) -> None:
    if not ok:
        raise ParamsError(message)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return " | ".join(repr(v) for v in typing.get_args(tp))
    if typing.get_origin(tp) is None and isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` checked against ``tp`` (and built, for dataclasses); raises ParamsError at ``where``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except ParamsError as err:
                errors.append(str(err))
        raise ParamsError(errors[0] if len(errors) == 1 else f"{where}: expected {_type_name(tp)}, got {value!r}.")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ParamsError(
            f"{where}: {value!r} is not one of {', '.join(repr(a) for a in args)}.{did_you_mean(str(value), args)}"
        )
    if dataclasses.is_dataclass(tp):
        return build_config(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ParamsError(f"{where}: expected a list, got {type(value).__name__} ({value!r}).")
        item = args[0] if args else Any
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{where}: expected a mapping, got {type(value).__name__} ({value!r}).")
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float:  # YAML writes 1 for 1.0; bool is an int subclass and is never a number here
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    if not ok:
        raise ParamsError(
            f"{where}: expected {_type_name(tp)}, got {type(value).__name__} ({value!r})."
            " Change the value in the params file."
        )
    return value


def config_fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def check_keys(cls: type, raw: Any, where: str, extra: typing.Iterable[str] = ()) -> dict[str, Any]:
    """``raw`` must be a mapping whose keys are fields of ``cls`` (or one of ``extra``)."""
    raw = {} if raw is None else raw
    require(isinstance(raw, dict), f"{where}: expected a mapping of keys to values, got {type(raw).__name__}.")
    names = [*config_fields(cls), *extra]
    for key in raw:
        if key not in names:
            raise ParamsError(
                f"{where}.{key}: unknown key.{did_you_mean(str(key), names)} Valid keys: {', '.join(names)}."
            )
    return raw


def build_config(cls: type, raw: Any, where: str) -> Any:
    """Map one params mapping onto the frozen dataclass ``cls``, recursively, naming ``where`` in errors."""
    raw = check_keys(cls, raw, where)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in raw:
            kwargs[f.name] = _convert(raw[f.name], hints[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ParamsError(f"{where}.{f.name}: required key missing ({_type_name(hints[f.name])}).")
    try:
        return cls(**kwargs)
    except ParamsError as err:
        message = str(err)
        raise ParamsError(message if message.startswith(where) else f"{where}: {message}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data (lists for tuples), the form it is tracked and logged in."""
    return yaml.safe_load(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; nested mappings merge key by key, ``None`` under a mapping
    key that holds a mapping deletes it (how a profile drops a variant: ``variants: {cds: null}``)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        elif value is None and isinstance(merged.get(key), dict):
            del merged[key]
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found. Pass --params FILE or create params.yaml.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err}). Fix the syntax at the line shown.") from None
    require(isinstance(raw, dict), f"{path}: the top level must be a mapping of sections")
    return raw
