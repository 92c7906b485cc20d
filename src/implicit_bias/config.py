"""Experiment configs: frozen dataclasses of Python scalars and tuples; overrides parsed from text.

``apply_overrides(Config(), {"alpha": "0.01", "spectrum": "10,7,5,-5"})`` converts each value to the
field's declared type and refuses unknown keys (listing the valid ones) and values of the wrong type.
"""

import dataclasses
import hashlib
import json
import types
import typing

from implicit_bias.errors import ConfigError


def field_types(cfg_or_cls) -> dict[str, object]:
    cls = cfg_or_cls if isinstance(cfg_or_cls, type) else type(cfg_or_cls)
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _type_name(tp) -> str:
    if typing.get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def _parse_scalar(text: str, tp):
    if tp is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if tp is int:
        value = float(text)
        if value != int(value):
            raise ValueError(text)
        return int(value)
    if tp is float:
        return float(text)
    if tp is str:
        return text
    raise ValueError(f"unsupported type {tp}")


def _convert(value, tp):
    """Convert ``value`` (text or a Python value) to type ``tp``; raise ValueError if it cannot be."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg)
            except (ValueError, TypeError) as e:
                errors.append(e)
        raise ValueError(value)
    if origin is tuple:
        if isinstance(value, str):
            text = value.strip().strip("()[]")
            items = [s for s in (p.strip() for p in text.split(",")) if s]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise ValueError(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0]) for v in items)
        if len(items) != len(args):
            raise ValueError(value)
        return tuple(_convert(v, a) for v, a in zip(items, args))
    if isinstance(value, str):
        return _parse_scalar(value, tp)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is int and isinstance(value, float) and value == int(value):
        return int(value)
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise TypeError(value)


def apply_overrides(cfg, overrides: dict, *, experiment: str = "") -> object:
    """``dataclasses.replace(cfg, **converted)``; unknown keys and wrong types are ConfigErrors."""
    types_ = field_types(cfg)
    where = f" for {experiment}" if experiment else ""
    unknown = [k for k in overrides if k not in types_]
    if unknown:
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            f"{where}; valid keys: {', '.join(types_)}"
        )
    converted = {}
    for key, value in overrides.items():
        try:
            converted[key] = _convert(value, types_[key])
        except (ValueError, TypeError):
            raise ConfigError(
                f"config key {key!r}{where} expects {_type_name(types_[key])}, got {value!r}"
            ) from None
    try:
        return dataclasses.replace(cfg, **converted)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"invalid config{where}: {e}") from None


def parse_assignments(items: list[str]) -> dict[str, str]:
    """['alpha=0.1', 'spectrum=10,7'] -> {'alpha': '0.1', 'spectrum': '10,7'}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def to_dict(cfg) -> dict:
    """JSON-ready dict of a config (tuples become lists)."""
    return {f.name: _jsonable(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def _jsonable(v):
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return to_dict(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def from_dict(cls, d: dict):
    """Rebuild a config from ``to_dict`` output (lists become tuples)."""
    return apply_overrides(cls(), d)


def config_hash(experiment: str, cfg) -> str:
    """16 hex digits of sha256 over the experiment name and the canonical JSON of the config."""
    text = json.dumps({"experiment": experiment, "config": to_dict(cfg)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
