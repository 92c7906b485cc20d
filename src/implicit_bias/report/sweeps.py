"""The report's sweep sections: each stored sweep aggregated over seeds, as curves, overlays
(a one-key grid, e.g. Arora et al.'s Fig. 1 shape) or heatmaps, and a table."""

import html
import json
import math
from pathlib import Path

import matplotlib.colors
import numpy as np

from implicit_bias import (
    plots,
    store,
)
from implicit_bias.report.page import _fig_html, _fmt, anchor, attr


def _as_axis(values) -> tuple[list, bool]:
    """Sorted distinct values of a grid key, and whether they are numbers (else categories)."""
    distinct = list(dict.fromkeys(values))
    try:
        nums = [float(v) for v in distinct]
    except (TypeError, ValueError):
        return sorted(distinct, key=str), False
    order = np.argsort(nums)
    return [distinct[i] for i in order], True


def _log_scale(values) -> bool:
    v = np.asarray([float(x) for x in values])
    return bool(len(v) > 2 and np.all(v > 0) and v.max() / v.min() >= 8)


RUNS_COL, FAILED_COL = "runs stored", "runs failed"


def _aggregate(df, keys: list[str], metrics: list[str]):
    """Mean, std (over seeds) and counts of each metric per grid point."""
    grouped = df.groupby(keys, dropna=False, sort=False) if keys else [((), df)]
    out = []
    for point, g in grouped:
        point = point if isinstance(point, tuple) else (point,)
        row = dict(zip(keys, point))
        # column names that no config key can take (a grid key may well be called "n")
        row[RUNS_COL] = len(g)
        row[FAILED_COL] = int((g["status"] == "failed").sum())
        for m in metrics:
            v = g[m].astype(float).to_numpy()
            v = v[np.isfinite(v)]
            row[m] = float(v.mean()) if v.size else math.nan
            row[m + " std"] = float(v.std(ddof=1)) if v.size > 1 else 0.0
        out.append(row)
    import pandas as pd

    return pd.DataFrame.from_records(out)


def _grid_axis(ax, x: str, xs: list, numeric: bool, quantity: str) -> None:
    """A sweep panel's x axis (log if the grid spans ≥ 8×, category ticks if not numeric) and labels."""
    if numeric and _log_scale(xs):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=30, fontsize=7)
    ax.set(xlabel=x, ylabel=quantity)
    ax.set_title(quantity, fontsize=9)


def _curves_figure(agg, x: str, lines: list[str], metrics: list[str], title: str):
    xs, numeric = _as_axis(agg[x])
    fig, axes = plots.figure(
        min(len(metrics), 3), math.ceil(len(metrics) / 3), width=4.0, height=3.0
    )
    groups = agg.groupby(lines, sort=True) if lines else [((), agg)]
    for j, m in enumerate(metrics):
        ax = axes.flat[j]
        for i, (label, g) in enumerate(list(groups)[:8]):
            g = g.set_index(x).reindex(xs)
            pos = [float(v) for v in xs] if numeric else list(range(len(xs)))
            label = label if isinstance(label, tuple) else (label,)
            name = ", ".join(f"{k}={v}" for k, v in zip(lines, label)) or None
            ax.errorbar(pos, g[m], yerr=g[m + " std"], marker="o", ms=3, capsize=3,
                        color=plots.color(i), label=name)  # fmt: skip
        _grid_axis(ax, x, xs, numeric, m)
        if lines and j == 0:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return fig


def _series_groups(metrics: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Metrics named "<series>: <quantity>" grouped by quantity, where ≥ 2 series share one
    (e.g. "depth 3: test error" and "nuclear norm: test error"): {quantity: [(series, metric)]}."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for m in metrics:
        series, sep, quantity = m.rpartition(": ")
        if sep and series:
            groups.setdefault(quantity, []).append((series, m))
    return {q: v for q, v in groups.items() if len(v) >= 2}


def _overlay_figure(agg, x: str, groups: dict[str, list[tuple[str, str]]], title: str):
    """One axis per shared quantity, one line per series against the grid key, error bars over
    seeds: the layout of Arora et al. (2019) Fig. 1 (test error vs observed entries per depth, next
    to the nuclear norm). Points where no seed has a finite value (e.g. unconverged) are left out."""
    xs, numeric = _as_axis(agg[x])
    pos = [float(v) for v in xs] if numeric else list(range(len(xs)))
    fig, axes = plots.figure(min(len(groups), 3), math.ceil(len(groups) / 3), width=4.6, height=3.4)
    # one color per series on every axis ("depth 4" is the same color in each panel)
    names = list(dict.fromkeys(series for members in groups.values() for series, _ in members))
    for j, (quantity, members) in enumerate(groups.items()):
        ax = axes.flat[j]
        g = agg.set_index(x).reindex(xs)
        finite = []
        for series, m in members:
            ax.errorbar(pos, g[m], yerr=g[m + " std"], marker="o", ms=3, capsize=3,
                        color=plots.color(names.index(series)), label=series)  # fmt: skip
            v = g[m].to_numpy(dtype=float)
            finite.extend(v[np.isfinite(v)])
        finite = np.asarray(finite)
        if finite.size and finite.min() > 0 and finite.max() / finite.min() >= 100:
            ax.set_yscale("log")
        _grid_axis(ax, x, xs, numeric, quantity)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return fig


def _heatmap_figure(agg, x: str, y: str, metrics: list[str], title: str):
    xs, _ = _as_axis(agg[x])
    ys, _ = _as_axis(agg[y])
    fig, axes = plots.figure(
        min(len(metrics), 3), math.ceil(len(metrics) / 3), width=4.2, height=3.4
    )
    for j, m in enumerate(metrics):
        ax = axes.flat[j]
        grid = agg.pivot_table(index=y, columns=x, values=m, aggfunc="mean").reindex(
            index=ys, columns=xs
        )
        values = grid.to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        log = finite.size and finite.min() > 0 and finite.max() / finite.min() > 100
        norm = matplotlib.colors.LogNorm() if log else None
        im = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis", norm=norm)
        ax.set_xticks(range(len(xs)), [f"{v}" for v in xs], rotation=30, fontsize=7)
        ax.set_yticks(range(len(ys)), [f"{v}" for v in ys], fontsize=7)
        for (r, c), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=6, color="w")
        ax.set(xlabel=x, ylabel=y)
        ax.set_title(m, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return fig


def _table(frame, columns: list[str], *, limit: int = 60) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for _, r in frame.head(limit).iterrows():
        body.append(
            "<tr>" + "".join(f'<td class="num">{_fmt(r[c])}</td>' for c in columns) + "</tr>"
        )
    more = f'<p class="muted">… {len(frame) - limit} more rows</p>' if len(frame) > limit else ""
    return f'<table class="sweep">{"<tr>" + head + "</tr>"}{"".join(body)}</table>{more}'


def _drawn(make, caption: str) -> str:
    """A sweep figure, or one line saying why it could not be drawn (a grid key or value from the
    store that matplotlib cannot show, e.g. unbalanced ``$`` mathtext): the page is built anyway."""
    try:
        return _fig_html(make(), caption)
    except Exception as e:  # noqa: BLE001 - a figure is never worth the whole report
        plots.close("all")
        why = " ".join(str(e).split())[:200]
        return f'<p class="muted">figure not drawn ({_fmt(caption)}): {_fmt(type(e).__name__)}: {_fmt(why)}</p>'


def sweep_section(record: dict, root: Path) -> str:
    """A sweep: its spec and status, phase diagrams / curves of per-run metrics with error bars over
    seeds (mean ± standard deviation), and a table per grid point. Built from the store alone."""
    from implicit_bias import query

    name = record["experiment"]
    status = record.get("status", "?")
    n_runs = record.get("n_runs", len(record.get("runs", [])))
    from implicit_bias.errors import ConfigError

    try:
        df = query.sweep_summary(record, root)
    except Exception as e:  # noqa: BLE001 - an experiment this version lacks, runs it cannot read
        why = str(e) if isinstance(e, ConfigError) else f"{type(e).__name__}: {e}"
        return (
            f'<h3 id="{anchor("sweep", record["id"])}">Sweep {_fmt(record["id"])}</h3>'
            f'<p class="muted">not shown: {_fmt(" ".join(why.split()))}</p>'
        )
    n_done = len(df)
    n_failed = int((df["status"] == "failed").sum()) if n_done else 0
    ok = status == "complete" and n_done == n_runs and not n_failed
    badge = (
        f'<span class="badge {"ok" if ok else "bad"}">{_fmt(status)}: {_fmt(n_done)} of {_fmt(n_runs)} '
        f"runs stored, {n_failed} failed</span>"
    )
    spec = {k: record.get(k) for k in ("grid", "seeds", "set")}
    parts = [
        f'<h3 id="{anchor("sweep", record["id"])}">Sweep {_fmt(record["id"])} {badge}</h3>',
        f'<p class="muted">experiment <a href="#{attr(name)}">{_fmt(name)}</a> · '
        f"<code>{html.escape(json.dumps(spec, default=str))}</code></p>",
    ]
    if not n_done:
        parts.append('<p class="muted">No run of this sweep is stored yet.</p>')
        return "\n".join(parts)
    keys = [k for k in record.get("grid", {}) if df[k].nunique(dropna=False) > 1]
    fixed = [k for k in ("hash", "seed", "status", *record.get("grid", {}))]
    metrics = [c for c in df.columns if c not in fixed and df[c].dtype.kind in "fiub"]
    agg = _aggregate(df, keys, metrics)
    title = f"{name}: mean ± std over {len(record.get('seeds', []))} seeds"
    if len(keys) == 2:
        parts.append(_drawn(lambda: _heatmap_figure(agg, keys[0], keys[1], metrics, title),
                            f"phase diagram over {keys[0]} × {keys[1]} (mean over seeds)"))  # fmt: skip
    groups = _series_groups(metrics)
    if len(keys) == 1 and groups:
        names = ", ".join(groups)
        parts.append(_drawn(lambda: _overlay_figure(agg, keys[0], groups, title),
                            f"{names} vs {keys[0]}, one line per series, error bars: std over "
                            "seeds"))  # fmt: skip
    if keys:
        parts.append(_drawn(lambda: _curves_figure(agg, keys[0], keys[1:], metrics, title),
                            f"metrics vs {keys[0]}, error bars: std over seeds"))  # fmt: skip
    columns = [*keys, RUNS_COL, FAILED_COL]
    for m in metrics:
        agg[m + " (mean ± std)"] = [
            f"{a:.4g} ± {b:.2g}" if np.isfinite(a) else "" for a, b in zip(agg[m], agg[m + " std"])
        ]
        columns.append(m + " (mean ± std)")
    parts.append(_table(agg, columns))
    errors = []
    for h in df.loc[df["status"] == "failed", "hash"].head(10):
        err = store.read_error(store.run_path(root, name, h)) or {}
        errors.append(
            f"<li>{_fmt(h)}: {_fmt(err.get('type', ''))}: {_fmt(err.get('message', ''))}</li>"
        )
    if errors:
        parts.append('<p>Failed runs (first 10):</p><ul class="notes">' + "".join(errors) + "</ul>")
    parts.append(_run_list(df, keys))
    return "\n".join(parts)


def _run_list(df, keys: list[str]) -> str:
    """Every run of the sweep, one line each with an anchor (``#run-<hash>``): hash, grid point,
    seed, status; folded, since a sweep may have 10⁴ runs. ``implicit-bias plot HASH`` draws one."""
    lines = []
    for r in df[["hash", "seed", "status", *keys]].itertuples(index=False):
        point = " ".join(f"{_fmt(k)}={_fmt(v)}" for k, v in zip(keys, r[3:]))
        lines.append(
            f'<span id="run-{_fmt(r[0])}">{_fmt(r[0])}</span>  {point}  seed={_fmt(r[1])}  '
            f"{_fmt(r[2])}"
        )
    return (
        f"<details><summary>All {len(lines)} runs (hash, grid point, seed, status): "
        "<code>implicit-bias plot HASH</code> draws a run's figures, <code>implicit-bias query</code> "
        f"reads its rows</summary><pre>{chr(10).join(lines)}</pre></details>"
    )
