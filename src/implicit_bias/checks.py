"""Theory checks: one record per claim a run tests, ``{name, predicted, observed, tolerance, passed}``."""

import dataclasses
import math


def _num(x):
    """Plain Python numbers (and strings) for JSON; NaN stays NaN."""
    if isinstance(x, str) or x is None:
        return x
    try:
        return float(x)
    except (TypeError, ValueError):
        return str(x)


@dataclasses.dataclass(frozen=True)
class Check:
    """A claim, what theory predicts, what the run observed, the tolerance, and whether it passed."""

    name: str
    predicted: float | str | None
    observed: float | str | None
    tolerance: float | str | None
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for k in ("predicted", "observed", "tolerance"):
            d[k] = _num(d[k])
        d["passed"] = bool(d["passed"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Check":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})


def close(name, predicted, observed, tol, *, rel: bool = False, detail: str = "") -> Check:
    """|observed − predicted| ≤ tol (relative to |predicted| with ``rel``)."""
    predicted, observed = float(predicted), float(observed)
    err = abs(observed - predicted)
    scale = abs(predicted) if rel else 1.0
    passed = math.isfinite(err) and err <= tol * scale
    kind = "relative" if rel else "absolute"
    return Check(name, predicted, observed, f"{tol:g} ({kind})", passed, detail)


def at_most(name, bound, observed, *, detail: str = "") -> Check:
    """observed ≤ bound (an upper bound from a theorem, or a tolerance on an error)."""
    observed = float(observed)
    return Check(name, f"≤ {float(bound):.6g}", observed, None, observed <= bound, detail)


def at_least(name, bound, observed, *, detail: str = "") -> Check:
    """observed ≥ bound."""
    observed = float(observed)
    return Check(name, f"≥ {float(bound):.6g}", observed, None, observed >= bound, detail)


def holds(name, passed: bool, *, predicted: str, observed: str, detail: str = "") -> Check:
    """A qualitative claim (an ordering, a monotonicity) with its evidence in words."""
    return Check(name, predicted, observed, None, bool(passed), detail)
