"""The figure of one explore question, drawn from its stored rows alone (no recomputation).

``plot(rows, cfg)`` returns ``{"explore": figure}`` with the panels

    (a) the training loss over t (log-log);
    (b) the singular values (matrix problems) or the largest entries (vector problems) over t, with
        the effective rank (dotted, right axis) where it is not a panel of its own;
    (c) the held-out test error over t, each baseline's test error as a horizontal line and the best
        early-stopping point marked; without a test error: the distances to X* and to the baselines
        (regression: also the distances of the predictions, dashed);
    (d) the range of the estimate on the hidden (unobserved) entries over t against the range of the
        observed values (where a blow-up shows); without it: the norm of the estimate (nuclear or
        ℓ1) with the baselines' norms, or the effective rank;

and, where both are stored, (e) the distances beside the test error and (f) the norm beside the
hidden range. ``baseline_lines`` and ``families`` are shared with the report's comparison of
questions (``report/explore.py``).
"""

import math
import re

import numpy as np
import pandas as pd

from implicit_bias import plots

# a baseline family: rrr1, rrr2, …; families of FAMILY_MIN or more members are drawn thin and grey
_FAMILY = re.compile(r"^(.*?[^\d])(\d+)$")
FAMILY_MIN = 3


def plain(text) -> str:
    """``text`` as literal matplotlib text: a ``$`` read from the store must not start mathtext."""
    return str(text).replace("$", r"\$")


def families(names) -> tuple[list[str], dict[str, list[str]]]:
    """The names that stand alone, and the families (``{"rrr": ["rrr1", …, "rrrK"]}``) of
    ``FAMILY_MIN`` or more names that differ only in a trailing number, in order of that number."""
    found: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        m = _FAMILY.match(str(name))
        if m:
            found.setdefault(m.group(1), []).append((int(m.group(2)), name))
    fams = {p: [n for _, n in sorted(v)] for p, v in found.items() if len(v) >= FAMILY_MIN}
    in_family = {n for v in fams.values() for n in v}
    return [n for n in names if n not in in_family], fams


def baseline_lines(ax, values: dict, *, extremes=("best", "worst")) -> list:
    """Each baseline's (constant) value as a horizontal black or grey line (dashed, dash-dotted,
    dotted) labelled by its name and value; a family (rrr1..rrrK) is drawn thin and light grey with
    only its smallest (``extremes[0]``) and largest (``extremes[1]``) member labelled. Non-finite
    values are skipped. Returns the lines drawn."""
    values = {str(k): float(v) for k, v in values.items() if _finite(v)}
    singles, fams = families(list(values))
    lines = []
    for k, name in enumerate(singles):
        # black and grey, a dash pattern each: the questions' own curves keep the colour cycle
        color, ls = ("black", "dimgray")[k // 3 % 2], ("--", "-.", ":")[k % 3]
        label = plain(f"{name}: {values[name]:.3g}")
        lines.append(ax.axhline(values[name], ls=ls, lw=1.3, color=color, label=label))
    for prefix, names in fams.items():
        ordered = sorted(names, key=values.__getitem__)
        lo, hi = ordered[0], ordered[-1]
        for name in names:
            label = "_nolegend_"
            if name == lo:
                label = f"{name}: {values[name]:.3g} ({extremes[0]} of {len(names)} {prefix})"
            elif name == hi:
                label = f"{name}: {values[name]:.3g} ({extremes[1]} of {len(names)} {prefix})"
            lines.append(
                ax.axhline(values[name], ls="--", lw=0.6, color="0.55",
                           label=label if label == "_nolegend_" else plain(label))
            )  # fmt: skip
    return lines


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def frame(rows) -> pd.DataFrame:
    """The rows as a frame with t, series, i, value; t and value as floats (non-numbers → NaN)."""
    df = pd.DataFrame(rows).copy() if not isinstance(rows, pd.DataFrame) else rows.copy()
    for col, default in (("t", np.nan), ("series", ""), ("i", -1), ("value", np.nan)):
        if col not in df:
            df[col] = default
    df["t"] = pd.to_numeric(df["t"], errors="coerce")
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["series"] = df["series"].astype(str)
    return df


def series(df: pd.DataFrame, name: str, *, log_t: bool = True, positive: bool = False):
    """``(t, value)`` arrays of one scalar series, sorted by t, finite values only (t > 0 for a log
    time axis, value > 0 for a log value axis)."""
    g = df[df.series == name]
    keep = np.isfinite(g.t) & np.isfinite(g.value)
    if log_t:
        keep &= g.t > 0
    if positive:
        keep &= g.value > 0
    g = g[keep].sort_values("t")
    return g.t.to_numpy(float), g.value.to_numpy(float)


def constant(df: pd.DataFrame, name: str) -> float:
    """A series that is constant over t (a baseline's value): its median finite value, or NaN."""
    v = df.value[df.series == name].to_numpy(float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else math.nan


def constants(df: pd.DataFrame, prefix: str) -> dict[str, float]:
    """``{b: value}`` of the series ``<prefix><b>`` (one per baseline b), where finite."""
    names = sorted({s for s in df.series.unique() if s.startswith(prefix) and s != prefix})
    out = {name[len(prefix) :]: constant(df, name) for name in names}
    return {k: v for k, v in out.items() if _finite(v)}


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} stored", transform=ax.transAxes, ha="center", va="center",
            color="0.4")  # fmt: skip


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def all_positive(*arrays) -> bool:
    vals = np.concatenate([np.ravel(np.asarray(a, float)) for a in arrays]) if arrays else []
    return len(vals) > 0 and bool(np.all(vals[np.isfinite(vals)] > 0))


def _loss(ax, df, xlabel, cfg) -> None:
    t, v = series(df, "loss", positive=True)
    if len(t):
        ax.loglog(t, v, lw=1.5)
    else:
        _empty(ax, "loss")
    title = f"{cfg.problem}: {cfg.model} N={cfg.depth}, {cfg.method} · loss"
    ax.set(xlabel=xlabel, ylabel="training loss", title=plain(title))


def _spectrum(ax, df, xlabel, *, with_rank: bool) -> None:
    matrix = (df.series == "singular_value").any()
    spec = df[df.series.isin(["singular_value", "entry"]) & (df.t > 0) & np.isfinite(df.value)]
    for _, g in spec.groupby("i"):
        g = g.sort_values("t")
        ax.plot(g.t, g.value, lw=1)
    if len(spec):
        ax.set_xscale("log")
    else:
        _empty(ax, "spectrum")
    ax.set(xlabel=xlabel, ylabel="singular values" if matrix else "largest entries",
           title="singular values" if matrix else "largest entries")  # fmt: skip
    t, er = series(df, "effective_rank")
    if with_rank and len(t):
        twin = ax.twinx()
        twin.plot(t, er, "k:", label="effective rank")
        twin.set_ylabel("effective rank (dotted)")


def _test_error(ax, df, xlabel) -> None:
    t, v = series(df, "test_error")
    base = constants(df, "test_error_")
    ax.plot(t, v, lw=1.8, color="C0", label="test error")
    if len(t):
        k = int(np.argmin(v))
        ax.plot([t[k]], [v[k]], "o", color="C1", ms=6, zorder=5,
                label=f"best (early stop): {v[k]:.3g} at t={t[k]:.3g}")  # fmt: skip
        ax.set_xscale("log")
    baseline_lines(ax, base)
    if all_positive(v, list(base.values())):
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel="relative error on held-out entries", title="held-out test error")
    _legend(ax)


def _distances(ax, df, xlabel) -> None:
    drawn = False
    for k, (name, g) in enumerate(df[df.series.str.startswith("distance_to_")].groupby("series")):
        t, v = series(g, name, positive=True)
        if len(t):
            ax.loglog(t, v, color=plots.color(k), label=plain(name.removeprefix("distance_to_")))
            drawn = True
        # regression: the distance in prediction space ‖X(W − B)‖/‖XB‖, dashed, same colour
        t, v = series(df, "prediction_" + name, positive=True)
        if len(t):
            label = plain(f"{name.removeprefix('distance_to_')} (predictions)")
            ax.loglog(t, v, "--", color=plots.color(k), label=label)
            drawn = True
    if not drawn:
        _empty(ax, "distance")
    ax.set(xlabel=xlabel, ylabel="relative distance", title="distance to X* and the baselines")
    _legend(ax)


def _hidden(ax, df, xlabel) -> None:
    lo = df[df.series == "hidden_min"][["t", "value"]].rename(columns={"value": "lo"})
    hi = df[df.series == "hidden_max"][["t", "value"]].rename(columns={"value": "hi"})
    both = lo.merge(hi, on="t", how="inner")
    both = both[(both.t > 0) & np.isfinite(both.lo) & np.isfinite(both.hi)].sort_values("t")
    a, b = constant(df, "observed_min"), constant(df, "observed_max")
    if _finite(a) and _finite(b):
        ax.axhspan(a, b, color="C2", alpha=0.2, label=f"observed values [{a:.3g}, {b:.3g}]")
    title = "estimate on hidden entries"
    if len(both):
        t = both.t.to_numpy(float)
        ax.fill_between(t, both.lo.to_numpy(float), both.hi.to_numpy(float), color="C1", alpha=0.35,
                        label="hidden entries (min..max)")  # fmt: skip
        ax.plot(t, both.lo, color="C1", lw=0.8)
        ax.plot(t, both.hi, color="C1", lw=0.8)
        ax.set_xscale("log")
        title += f": end [{both.lo.iloc[-1]:.3g}, {both.hi.iloc[-1]:.3g}]"
    else:
        _empty(ax, "hidden-entry range")
    ax.set(xlabel=xlabel, ylabel="value", title=title)
    _legend(ax)


def _norm(ax, df, xlabel, cfg) -> None:
    which = "ℓ1 norm" if getattr(cfg, "problem", "") == "sparse" else "nuclear norm"
    t, v = series(df, "norm")
    base = constants(df, "norm_")
    if len(t):
        ax.plot(t, v, lw=1.8, color="C0", label="the estimate")
        ax.set_xscale("log")
    else:
        _empty(ax, "norm")
    baseline_lines(ax, base, extremes=("smallest", "largest"))
    ax.set(xlabel=xlabel, ylabel=which, title=f"{which} of the estimate")
    _legend(ax)


def _rank(ax, df, xlabel) -> None:
    t, v = series(df, "effective_rank")
    if len(t):
        ax.semilogx(t, v, "k-", lw=1.5)
    else:
        _empty(ax, "effective rank")
    ax.set(xlabel=xlabel, ylabel="effective rank", title="effective rank")


def plot(rows, cfg) -> dict:
    """``{"explore": figure}``: the panels of the module docstring, from ``rows`` (t, series, i,
    value) and the question ``cfg`` (read by attribute). The caller saves and closes it."""
    import matplotlib.pyplot as plt

    df = frame(rows)
    has = set(df.series.unique())

    def present(name):  # a series with at least one finite value
        return name in has and bool(np.isfinite(df.value[df.series == name]).any())

    xlabel = "time t" if getattr(cfg, "method", "") == "flow" else "step"
    test = present("test_error")
    hidden = present("hidden_min") and present("hidden_max")
    dist = any(s.startswith("distance_to_") for s in has)
    norm = present("norm")
    rank = present("effective_rank")
    panels = [lambda ax: _loss(ax, df, xlabel, cfg)]
    rank_panel = not hidden and not norm and rank
    panels.append(lambda ax: _spectrum(ax, df, xlabel, with_rank=not rank_panel))
    if test:
        panels.append(lambda ax: _test_error(ax, df, xlabel))
    else:
        panels.append(lambda ax: _distances(ax, df, xlabel))
    if hidden:
        panels.append(lambda ax: _hidden(ax, df, xlabel))
    elif norm:
        panels.append(lambda ax: _norm(ax, df, xlabel, cfg))
    elif rank:
        panels.append(lambda ax: _rank(ax, df, xlabel))
    if test and dist:
        panels.append(lambda ax: _distances(ax, df, xlabel))
    if hidden and norm:
        panels.append(lambda ax: _norm(ax, df, xlabel, cfg))
    ncols = 2 if len(panels) <= 4 else 3
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, 3.9 * nrows), squeeze=False)
    axes = axes.ravel()
    for draw, ax in zip(panels, axes):
        draw(ax)
    for ax in axes[len(panels) :]:
        ax.remove()
    fig.tight_layout()
    return {"explore": fig}
