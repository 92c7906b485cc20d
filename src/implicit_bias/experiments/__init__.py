"""One module per reproduced figure, found by name.

Each module defines
    SEED      which seed talk it reproduces ("000" … "004"); ORDER its place within the seed
    Config    a frozen dataclass: every parameter is a field with its default size (and ``seed``)
    run(cfg)  -> Result: tidy rows and theory checks, no file I/O
    plot(rows, cfg) -> dict[str, matplotlib Figure]; never computes, reads rows only
    TINY      overrides that make a config run in seconds (the smoke tests use it)
    REPRODUCE (optional) False for a full-size study that ``reproduce`` leaves to its sweep file
and a docstring whose first line is the claim, followed by the expected result, the command and
the run time at the default size (``implicit-bias run NAME  # ~N s``: ``reproduce`` starts the
longest first).
"""

import dataclasses
import importlib
import pkgutil
import re

import numpy as np

from implicit_bias.checks import Check
from implicit_bias.errors import ConfigError


@dataclasses.dataclass
class Result:
    """What ``run`` returns: tidy rows (one dict per observation), theory checks, notes, and named
    arrays to keep (``explore``'s final estimate and baselines: ``estimates.parquet`` in the run)."""

    rows: list[dict]
    checks: list[Check]
    notes: list[str] = dataclasses.field(default_factory=list)
    arrays: dict = dataclasses.field(default_factory=dict)


def names() -> list[str]:
    """Every experiment module, ordered by seed, then ``ORDER``, then name."""
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]

    def key(n):
        module = get(n)
        return getattr(module, "SEED", "999"), getattr(module, "ORDER", 99), n

    return sorted(found, key=key)


def reproduced() -> list[str]:
    """The experiments ``implicit-bias reproduce`` runs: all but full-size studies (``REPRODUCE = False``),
    which have their own sweep file."""
    return [n for n in names() if getattr(get(n), "REPRODUCE", True)]


def get(name: str):
    """The experiment module called ``name`` (a clear error listing the valid names otherwise)."""
    valid = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    if name not in valid:
        raise ConfigError(f"unknown experiment {name!r}; choose one of: {', '.join(sorted(valid))}")
    return importlib.import_module(f"{__name__}.{name}")


def claim(module) -> str:
    """The first line of an experiment's docstring."""
    return (module.__doc__ or "").strip().splitlines()[0]


def run_time(module) -> float | None:
    """The run time at the default size that the docstring states (``implicit-bias run NAME  # ~N s``)."""
    name = module.__name__.rsplit(".", 1)[-1]
    found = re.search(
        rf"implicit-bias run {re.escape(name)}\s*#\s*~\s*([0-9.]+)\s*(s|min)\b",
        module.__doc__ or "",
    )
    if found is None:
        return None
    return float(found.group(1)) * (60.0 if found.group(2) == "min" else 1.0)


def description(module) -> str:
    """The docstring without its first line."""
    lines = (module.__doc__ or "").strip().splitlines()
    return "\n".join(lines[1:]).strip()


def series_rows(t, values, *, series: str, per_index: dict | None = None, **extra) -> list[dict]:
    """Long-format rows ``{t, series, i, value, **extra}`` for values of shape (S,) or (S, k).

    ``per_index`` maps a column name to k values attached to the rows of index i (e.g. λ_i).
    """
    t = np.asarray(t, dtype=float)
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    per_index = per_index or {}
    rows = []
    ts = t.tolist()  # Python floats, exactly the float64 values (3–5× faster than float() each)
    for i in range(values.shape[1]):
        cols = {name: _plain(col[i]) for name, col in per_index.items()}
        for tk, v in zip(ts, values[:, i].tolist()):
            rows.append({"t": tk, "series": series, "i": i, "value": v, **cols, **extra})
    return rows


def _plain(x):
    return x.item() if hasattr(x, "item") else x


def tiny_config(module):
    """The module's ``TINY`` overrides applied to its default config (for smoke tests)."""
    from implicit_bias.config import apply_overrides

    return apply_overrides(module.Config(), getattr(module, "TINY", {}))
