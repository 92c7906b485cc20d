"""Experiment configs: frozen dataclasses of Python scalars and tuples; overrides parsed from text.

``apply_overrides(Config(), {"alpha": "0.01", "spectrum": "10,7,5,-5"})`` converts each value to the
field's declared type and refuses unknown keys (listing the valid ones) and values of the wrong type.

Each field declares its domain once, in its annotation, with ``annotated-types`` constraints::

    alpha: Annotated[float, Gt(0), Le(10)] = 0.1      # or an alias below: alpha: Scale = 0.1
    depths: Annotated[tuple[Depth, ...], MinLen(1)] = (2, 3)

``validate(cfg)`` checks every field against its domain (floats are always finite; a tuple is never
empty unless it says ``MinLen(0)``) and raises one ``ConfigError`` naming the field and the allowed
range. ``apply_overrides``, ``from_dict``, the runner and sweeps all call it, so the CLI, sweep grids,
sweep files and the Python API share one validator.

Constraints between fields (``few`` must be one of ``ms``, ``rank <= n``, one ``x0s`` per depth …)
live in the Config class itself, as an optional method ``check(self)`` that raises a ConfigError
naming both fields (``require`` below writes one line of it); ``validate`` calls it once every
field is inside its own domain, so the same four entry points refuse them before any work.
"""

import dataclasses
import decimal
import hashlib
import json
import math
import types
import typing
from typing import Annotated

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen

from implicit_bias.errors import ConfigError

# --- domains: aliases the experiments' Config classes use -------------------------------------

Positive = Annotated[float, Gt(0)]  # a finite float > 0
NonNegative = Annotated[float, Ge(0)]
Fraction = Annotated[float, Gt(0), Le(1)]  # (0, 1]
Tol = Annotated[float, Gt(0), Lt(1)]  # a relative tolerance in (0, 1)
Scale = Annotated[float, Gt(0), Le(1e3)]  # an initialization scale
Step = Annotated[float, Gt(0), Le(1e3)]  # a step size η (its stability bound is checked in run)
Decay = Annotated[float, Ge(0), Le(1e3)]  # a weight decay λ
Ratio = Annotated[float, Gt(0), Le(10)]  # a multiple of a bound or a level
NonNegativeInt = Annotated[int, Ge(0), Le(10**9)]  # steps that may be none
LogScale = Annotated[float, Gt(0), Le(700)]  # δ of an initial scale e^{−δ} (e^{−700} ≈ 1e-304)
Time = Annotated[float, Gt(0), Le(1e12)]  # a time horizon
Count = Annotated[int, Ge(1), Le(10**9)]  # steps, saves, samples, seeds …
Dim = Annotated[int, Ge(1), Le(10_000)]  # a matrix or vector dimension
Depth = Annotated[int, Ge(1), Le(100)]
Seed = Annotated[int, Ge(0), Le(2**32 - 1)]  # a PRNG seed


def field_types(cfg_or_cls) -> dict[str, object]:
    cls = cfg_or_cls if isinstance(cfg_or_cls, type) else type(cfg_or_cls)
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _type_name(tp) -> str:
    if typing.get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def _parse_float(text: str) -> float:
    """float(text), refusing text whose value float64 cannot hold (1e-400 -> 0.0, 1e400 -> inf)."""
    value = float(text)
    try:
        exact = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        return value
    if exact.is_finite() and exact != 0 and (value == 0.0 or math.isinf(value)):
        way = "underflows to 0" if value == 0.0 else "overflows to inf"
        raise ValueError(f"{text.strip()} {way} in float64")
    return value


def _split_tuple(value: str) -> list[str]:
    """'1, 2', '(1, 2)', '[1, 2]' or '(1,)' → its items; an empty item ('[],0', '1,,2') is an
    error, not skipped (a skipped one would silently change the tuple's length)."""
    text = value.strip()
    if len(text) >= 2 and (text[0], text[-1]) in (("(", ")"), ("[", "]")):
        text = text[1:-1].strip()
    parts = [p.strip() for p in text.split(",")] if text else []
    if len(parts) > 1 and parts[-1] == "":  # a trailing comma, as in Python's "(1,)"
        parts = parts[:-1]
    if any(p == "" for p in parts):
        raise ValueError(value)
    return parts


def _parse_scalar(text: str, tp):
    if tp is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if tp is int:
        try:
            return int(text.strip())
        except ValueError:
            pass
        value = _parse_float(text)
        if not math.isfinite(value) or value != int(value):
            raise ValueError(text)
        return int(value)
    if tp is float:
        return _parse_float(text)
    if tp is str:
        return text
    raise ValueError(f"unsupported type {tp}")


def _convert(value, tp):
    """Convert ``value`` (text or a Python value) to type ``tp``; raise ValueError if it cannot be."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:  # a choice: the value as its choices' type (validate checks it)
        return _convert(value, type(args[0]))
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
            items = _split_tuple(value)
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
    if tp is int and isinstance(value, float) and math.isfinite(value) and value == int(value):
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
        except (ValueError, TypeError, OverflowError) as e:
            why = f" ({e})" if "flows to" in str(e) else ""
            raise ConfigError(
                f"config key {key!r}{where} expects {_type_name(types_[key])}, got {value!r}{why}; "
                f"{key} must be {domains(cfg)[key].describe()}"
            ) from None
    try:
        new = dataclasses.replace(cfg, **converted)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"invalid config{where}: {e}") from None
    return validate(new, experiment=experiment)


# --- the validator ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Domain:
    """The values a field may take: a type, bounds (floats always finite), lengths, choices."""

    kind: type  # float | int | bool | str | tuple
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    min_len: int = 1
    max_len: int | None = None
    item: "Domain | None" = None  # tuples: the domain of every element
    choices: tuple | None = None  # Literal[...]
    optional: bool = False

    def describe(self) -> str:
        """'a finite float > 0 and <= 10', 'an integer >= 1', 'a non-empty tuple of …'."""
        if self.choices is not None:
            text = "one of " + ", ".join(map(repr, self.choices))
        elif self.kind is tuple:
            n = f" of {self.min_len}" if self.min_len == self.max_len else ""
            size = n or (f" of at least {self.min_len}" if self.min_len > 1 else "") + (
                f" of at most {self.max_len}" if self.max_len is not None else ""
            )
            empty = "non-empty " if self.min_len >= 1 and not n else ""
            text = f"a {empty}tuple{size} of {_plural(self.item.describe())}"
        else:
            text = {
                float: "a finite float",
                int: "an integer",
                bool: "true or false",
                str: "a string",
            }[self.kind]
            bounds = [
                f"{op} {_num(v)}"
                for op, v in ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
                if v is not None
            ]
            if bounds:
                text += " " + " and ".join(bounds)
        return text + (" (or none)" if self.optional else "")

    def problem(self, value) -> str | None:
        """Why ``value`` is outside the domain (None if it is inside)."""
        if value is None:
            return None if self.optional else "must not be none"
        if self.choices is not None:
            return None if value in self.choices else "is not allowed"
        if self.kind is tuple:
            if not isinstance(value, tuple):
                return "is not a tuple"
            if len(value) < self.min_len or (
                self.max_len is not None and len(value) > self.max_len
            ):
                return f"has {len(value)} element{'s' if len(value) != 1 else ''}"
            for i, v in enumerate(value):
                why = self.item.problem(v)
                if why is not None:
                    return f"has element {i} = {v!r}, which {why}"
            return None
        if self.kind is bool:
            return None if isinstance(value, bool) else "is not true or false"
        if self.kind is str:
            return None if isinstance(value, str) else "is not a string"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "is not a number"
        if self.kind is int and not isinstance(value, int):
            return "is not an integer"
        if self.kind is float and not math.isfinite(value):
            return "is not finite"
        if (
            (self.gt is not None and not value > self.gt)
            or (self.ge is not None and not value >= self.ge)
            or (self.lt is not None and not value < self.lt)
            or (self.le is not None and not value <= self.le)
        ):
            return "is out of range"
        return None


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _plural(text: str) -> str:
    for a, b in (("a finite float", "finite floats"), ("an integer", "integers"),
                 ("a string", "strings"), ("a non-empty tuple", "non-empty tuples")):  # fmt: skip
        if text.startswith(a):
            return b + text[len(a) :]
    return text


def _domain(tp) -> Domain:
    meta = []
    while typing.get_origin(tp) is Annotated:
        tp, *extra = typing.get_args(tp)
        meta = extra + meta
    flat = []
    for m in meta:
        flat.extend(m if hasattr(m, "__iter__") and not isinstance(m, (str, bytes)) else [m])
    kw = {}
    for m in flat:
        if isinstance(m, Gt):
            kw["gt"] = m.gt
        elif isinstance(m, Ge):
            kw["ge"] = m.ge
        elif isinstance(m, Lt):
            kw["lt"] = m.lt
        elif isinstance(m, Le):
            kw["le"] = m.le
        elif isinstance(m, MinLen):
            kw["min_len"] = m.min_length
        elif isinstance(m, MaxLen):
            kw["max_len"] = m.max_length
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = _domain(rest[0] if len(rest) == 1 else float)
        return dataclasses.replace(inner, optional=type(None) in args, **kw)
    if origin is typing.Literal:
        return Domain(kind=type(args[0]), choices=tuple(args), **kw)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return Domain(kind=tuple, item=_domain(args[0]), **kw)
        kw.setdefault("min_len", len(args))
        kw.setdefault("max_len", len(args))
        return Domain(kind=tuple, item=_domain(args[0]), **kw)
    if tp in (float, int, bool, str):
        return Domain(kind=tp, **kw)
    raise TypeError(f"unsupported config field type {tp!r}")


def domains(cfg_or_cls) -> dict[str, Domain]:
    """Each field's domain, read from its annotation (``annotated-types`` constraints)."""
    cls = cfg_or_cls if isinstance(cfg_or_cls, type) else type(cfg_or_cls)
    cached = _DOMAINS.get(cls)
    if cached is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        cached = _DOMAINS[cls] = {f.name: _domain(hints[f.name]) for f in dataclasses.fields(cls)}
    return cached


_DOMAINS: dict = {}


def validate(cfg, *, experiment: str = ""):
    """Return ``cfg`` if every field is inside its domain; else a ConfigError naming the first field
    outside it, its value and the allowed range (``dmf_identical: alpha must be a finite float > 0 …``)."""
    where = f"{experiment}: " if experiment else ""
    for name, dom in domains(cfg).items():
        value = getattr(cfg, name)
        why = dom.problem(value)
        if why is not None:
            raise ConfigError(f"{where}{name} must be {dom.describe()}, got {value!r} ({why})")
    cross = getattr(type(cfg), "check", None)
    if callable(cross):
        try:
            cross(cfg)
        except ConfigError as e:
            raise ConstraintError(f"{where}{e}") from None
    return cfg


class ConstraintError(ConfigError):
    """A config whose fields are each inside their domain but do not go together (``few`` not in
    ``ms``, ``rank > n``): raised by a Config's ``check`` through ``validate``."""


def require(ok: bool, message: str) -> None:
    """For a Config's ``check``: a ConfigError with ``message`` (which names both fields) unless
    ``ok``."""
    if not ok:
        raise ConstraintError(message)


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


def from_dict(cls, d: dict, *, experiment: str = ""):
    """Rebuild a config from ``to_dict`` output (lists become tuples); validated."""
    return apply_overrides(cls(), d, experiment=experiment)


def config_hash(experiment: str, cfg) -> str:
    """16 hex digits of sha256 over the experiment name and the canonical JSON of the config."""
    text = json.dumps({"experiment": experiment, "config": to_dict(cfg)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
