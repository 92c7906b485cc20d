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
from implicit_bias.report.page import _fig_html, _fmt


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


def sweep_section(record: dict, root: Path) -> str:
    """A sweep: its spec and status, phase diagrams / curves of per-run metrics with error bars over
    seeds (mean ± standard deviation), and a table per grid point. Built from the store alone."""
    from implicit_bias import query

    name = record["experiment"]
    status = record.get("status", "?")
    n_runs = record.get("n_runs", len(record.get("runs", [])))
    df = query.sweep_summary(record, root)
    n_done = len(df)
    n_failed = int((df["status"] == "failed").sum()) if n_done else 0
    ok = status == "complete" and n_done == n_runs and not n_failed
    badge = (
        f'<span class="badge {"ok" if ok else "bad"}">{html.escape(status)}: {n_done} of {n_runs} '
        f"runs stored, {n_failed} failed</span>"
    )
    spec = {k: record.get(k) for k in ("grid", "seeds", "set")}
    parts = [
        f'<h3 id="sweep-{html.escape(record["id"])}">Sweep {html.escape(record["id"])} {badge}</h3>',
        f'<p class="muted">experiment <a href="#{name}">{name}</a> · '
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
        parts.append(_fig_html(_heatmap_figure(agg, keys[0], keys[1], metrics, title),
                               f"phase diagram over {keys[0]} × {keys[1]} (mean over seeds)"))  # fmt: skip
    groups = _series_groups(metrics)
    if len(keys) == 1 and groups:
        names = ", ".join(groups)
        parts.append(_fig_html(_overlay_figure(agg, keys[0], groups, title),
                               f"{names} vs {keys[0]}, one line per series, error bars: std over "
                               "seeds"))  # fmt: skip
    if keys:
        parts.append(_fig_html(_curves_figure(agg, keys[0], keys[1:], metrics, title),
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
            f"<li>{h}: {html.escape(err.get('type', ''))}: {html.escape(err.get('message', ''))}</li>"
        )
    if errors:
        parts.append('<p>Failed runs (first 10):</p><ul class="notes">' + "".join(errors) + "</ul>")
    return "\n".join(parts)
