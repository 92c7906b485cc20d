"""One self-contained HTML page from the store alone (no recomputation): claims, figures, checks.

Figures are embedded as base64 PNG, so the page can be moved or mailed without broken links.
"""

import base64
import datetime
import html
import io
import json
import math
from pathlib import Path

import matplotlib.colors
import numpy as np

from implicit_bias import (
    __version__,
    checks as checks_mod,
    config as config_mod,
    experiments,
    plots,
    store,
)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
     padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em} .muted{color:#666;font-size:.9em}
.claim{font-size:1.05em;font-weight:600}
pre.doc{white-space:pre-wrap;background:#f7f7f7;padding:.6em .8em;border-radius:4px;font-size:.85em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em;width:100%}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0} td.num{font-family:ui-monospace,monospace;white-space:nowrap}
tr.pass td.verdict,tr.met td.verdict{color:#13722b;font-weight:600}
tr.fail td.verdict{color:#b00020;font-weight:700} tr.fail{background:#fff4f5}
tr.unconverged td.verdict{color:#9a5b00;font-weight:700} tr.unconverged{background:#fff8e6}
tr.outside td.verdict{color:#6b3fa0;font-weight:600;font-style:italic}
tr.outside{background:repeating-linear-gradient(135deg,#faf7fd,#faf7fd 6px,#f3eefa 6px,#f3eefa 12px)}
tr.not-met td.verdict{color:#9a5b00} td.kind{font-size:.85em;color:#555}
table.checks td:first-child{min-width:14em;width:26%} table.checks td.verdict{min-width:7em}
table.checks td.num{white-space:normal;max-width:14em;overflow-wrap:anywhere}
table.checks td:nth-child(7){min-width:7em}
tr[data-kind=hypothesis] td:first-child,tr[data-kind=sanity] td:first-child{color:#555}
.st{display:inline-block;margin:0 .3em .1em 0;white-space:nowrap}
.st.pass{color:#13722b} .st.fail,.st.missing{color:#b00020;font-weight:700}
.st.unconverged{color:#9a5b00;font-weight:700} .st.outside{color:#6b3fa0;font-style:italic}
.badge{display:inline-block;padding:.05em .5em;border-radius:3px;font-size:.8em;font-weight:600}
.badge.ok{background:#d7f5dd;color:#13722b} .badge.bad{background:#fde0e3;color:#b00020}
.badge.info{background:#e6eefc;color:#1f4aa8} .badge.warn{background:#fff1d6;color:#9a5b00}
figure{margin:.8em 0} figure img{max-width:100%;border:1px solid #eee}
ul.notes{font-size:.85em;color:#444}
"""


# Marks, once the page has loaded, how many embedded figures decoded: a headless browser's dumped DOM
# then shows it (tests/test_report_browser.py); a person sees nothing.
DECODE_JS = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    imgs[i].setAttribute("data-natural-width", imgs[i].naturalWidth);
    if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++;
  }
  document.body.setAttribute("data-figures", imgs.length);
  document.body.setAttribute("data-figures-decoded", ok);
});
"""


def _fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.6g}"
    return html.escape(str(x))


def _img(path: Path) -> str:
    return _img_bytes(path.read_bytes(), path.stem.replace("_", " "))


def _img_bytes(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode()
    alt = html.escape(caption)
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption class="muted">{alt}</figcaption></figure>'


def _fig_html(fig, caption: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plots.close(fig)
    return _img_bytes(buf.getvalue(), caption)


def _css_class(label: str) -> str:
    names = {"FAIL": "fail", "outside the theorem": "outside", "not met": "not-met"}
    return names.get(label, label)


def checks_table(checks: list[dict]) -> str:
    """A run's checks: kind, status (pass / FAIL / unconverged / outside the theorem for claims,
    met / not met for hypotheses), source, the basis of the tolerance and, for a claim about a
    limit, the training loss it was evaluated at."""
    if not checks:
        return '<p class="muted">No checks recorded.</p>'
    head = (
        "<tr><th>check</th><th>kind</th><th>predicted</th><th>observed</th><th>tolerance</th>"
        "<th>status</th><th>source</th><th>basis</th></tr>"
    )
    body = []
    for c in map(checks_mod.normalize, checks):
        label = checks_mod.label(c)
        detail = f'<div class="muted">{_fmt(c.get("detail"))}</div>' if c.get("detail") else ""
        loss = ""
        if c["loss"] is not None:
            tol = "" if c["loss_tol"] is None else f" (converged ≤ {_fmt(float(c['loss_tol']))})"
            loss = f'<div class="muted">at loss {_fmt(float(c["loss"]))}{tol}</div>'
        if c["requires"]:
            needs = ", ".join(map(html.escape, c["requires"]))
            detail += f'<div class="muted">requires: {needs}</div>'
        body.append(
            f'<tr class="check {_css_class(label)}" data-kind="{c["kind"]}"><td>{_fmt(c["name"])}{detail}</td>'
            f'<td class="kind">{c["kind"]}</td>'
            f'<td class="num">{_fmt(c.get("predicted"))}</td><td class="num">{_fmt(c.get("observed"))}</td>'
            f'<td class="num">{_fmt(c.get("tolerance"))}</td>'
            f'<td class="verdict">{html.escape(label)}{loss}</td>'
            f'<td>{_fmt(c["source"])}</td><td class="muted">{_fmt(c["basis"])}</td></tr>'
        )
    return f'<table class="checks">{head}{"".join(body)}</table>'


def _counts_badge(checks: list[dict], *, run_failed: bool = False) -> str:
    """'claims P/T · hypotheses met H/HT · sanity S/ST' (+ outside / unconverged), red if any
    check counts against the run."""
    if run_failed:
        return '<span class="badge bad">run failed</span>'
    bad = checks_mod.failures(checks)
    return (
        f'<span class="badge {"bad" if bad else "ok"}">'
        f"{html.escape(checks_mod.summary_line(checks))}</span>"
    )


def cross_seed_table(by_seed: dict) -> str:
    """Each claim's pass rate across seeds: claim, source, passed k of the m seeds where it was
    compared (outside the theorem and unconverged are not comparisons), seeds run, the status at
    every seed."""
    rates = checks_mod.pass_rates(by_seed)
    if not rates:
        return '<p class="muted">No claims recorded at these seeds.</p>'
    head = (
        "<tr><th>claim</th><th>source</th><th>passed / compared</th><th>seeds run</th>"
        "<th>statuses by seed</th></tr>"
    )
    body = []
    for r in rates:
        ok = r["failed"] == 0
        statuses = "".join(
            f'<span class="st {_css_class(_claim_label(st))}">{html.escape(str(seed))}: '
            f"{html.escape(_claim_label(st))}</span>"
            for seed, st in r["statuses"].items()
        )
        body.append(
            f'<tr class="rate {"pass" if ok else "fail"}"><td>{_fmt(r["name"])}</td>'
            f'<td>{_fmt(r["source"])}</td><td class="num verdict">{r["passed"]}/{r["compared"]}</td>'
            f'<td class="num">{r["n"]}</td>'
            f"<td>{statuses}</td></tr>"
        )
    return f'<table class="cross-seed">{head}{"".join(body)}</table>'


def _claim_label(status: str) -> str:
    return checks_mod.LABELS.get(("claim", status), status)


def _config_diff(cfg: dict, default: dict) -> str:
    diff = {k: v for k, v in cfg.items() if default.get(k) != v}
    if not diff:
        return "default config"
    return ", ".join(f"{k}={v}" for k, v in diff.items())


def _run_section(path: Path, default_cfg: dict, *, heading: str) -> str:
    cfg = store.read_config(path)
    checks = store.read_checks(path)
    error = store.read_error(path)
    badge = _counts_badge(checks, run_failed=bool(error))
    parts = [
        f"<h4>{html.escape(heading)} {badge}</h4>",
        f'<p class="muted">{html.escape(_config_diff(cfg["config"], default_cfg))} · '
        f"hash {cfg['hash']} · {cfg.get('elapsed_s', 0):.1f} s · {html.escape(str(path))}</p>",
    ]
    if error:
        parts.append(
            f'<p class="badge bad">{html.escape(error["type"])}: {html.escape(error["message"])}</p>'
        )
    parts += [_img(p) for p in store.figures(path)]
    parts.append(checks_table(checks))
    if cfg.get("notes"):
        parts.append(
            '<ul class="notes">' + "".join(f"<li>{_fmt(n)}</li>" for n in cfg["notes"]) + "</ul>"
        )
    return "\n".join(parts)


def explore_section(explored: list[Path], all_checks: list, *, max_questions: int = 30) -> str:
    """The stored ``explore`` questions, newest first: a question asked at several seeds (a
    ``--seeds`` grid) is shown once, by its lowest seed's run, with the check counts over all its
    seeds; every run's checks go into ``all_checks``. At most ``max_questions`` are shown."""
    groups: dict[str, list[Path]] = {}
    for path in explored:  # oldest first
        cfg = dict(store.read_config(path)["config"])
        cfg.pop("seed", None)
        groups.setdefault(json.dumps(cfg, sort_keys=True, default=str), []).append(path)
    parts = []
    questions = list(groups.values())[::-1]  # newest question first
    for paths in questions[:max_questions]:
        paths = sorted(paths, key=lambda p: _seed(p) or 0)
        q = store.read_config(paths[0])["config"]
        heading = f"{q.get('problem')} · {q.get('model')} N={q.get('depth')} · {q.get('method')}"
        found = [c for p in paths for c in store.read_checks(p)]
        all_checks += found
        if len(paths) > 1:
            seeds = ", ".join(str(_seed(p)) for p in paths)
            heading += f" · {len(paths)} seeds"
        parts.append(_run_section(paths[0], {}, heading=heading))
        if len(paths) > 1:
            parts.append(
                f'<p class="muted">shown: seed {_seed(paths[0])}; stored at seeds {seeds}; checks '
                f"over all of them: {_counts_badge(found)}</p>"
            )
    for paths in questions[max_questions:]:
        all_checks += [c for p in paths for c in store.read_checks(p)]
    if len(questions) > max_questions:
        parts.append(
            f'<p class="muted">{len(questions) - max_questions} older questions are not shown '
            '(their checks count above): <code>implicit-bias query "SELECT * FROM runs WHERE '
            "experiment = 'explore'\"</code> lists them all.</p>"
        )
    return "\n".join(parts)


def experiment_section(
    name: str,
    root: Path,
    *,
    max_other_runs: int = 5,
    in_sweeps: frozenset = frozenset(),
    rates_out: list | None = None,
) -> tuple[str, list[dict]]:
    """HTML for one experiment and the checks it shows (runs that belong to a sweep are summarized
    in the sweep's section instead). Runs whose configs differ only in ``seed`` are shown once, with
    each claim's pass rate across their seeds (appended to ``rates_out`` if given)."""
    module = experiments.get(name)
    default = config_mod.to_dict(module.Config())
    default_hash = config_mod.config_hash(name, module.Config())
    found = store.runs(root, name)
    n_swept = sum(p.name in in_sweeps and p.name != default_hash for p in found)
    found = [p for p in found if p.name not in in_sweeps or p.name == default_hash]
    parts = [
        f'<h3 id="{name}">{html.escape(getattr(module, "TITLE", name))} <span class="muted">({name})</span></h3>',
        f'<p class="claim">{html.escape(experiments.claim(module))}</p>',
        f'<pre class="doc">{html.escape(experiments.description(module))}</pre>',
    ]
    shown_checks = []
    if n_swept:
        parts.append(
            f'<p class="muted">{n_swept} more runs belong to sweeps: see <a href="#sweeps">Sweeps</a>.</p>'
        )
    if not found:
        parts.append(f'<p class="muted">Not run yet: <code>implicit-bias run {name}</code></p>')
        return "\n".join(parts), shown_checks
    groups = _seed_groups(found)
    grouped = {p for g in groups for p in g.values()}
    main = [p for p in found if p.name == default_hash]
    singles = [p for p in reversed(found) if p.name != default_hash and p not in grouped]
    others = singles[:max_other_runs]
    for path in [p for p in main if p not in grouped]:  # else shown with its seeds below
        parts.append(_run_section(path, default, heading="Default run"))
        shown_checks += store.read_checks(path)
    for i, path in enumerate(others):
        parts.append(_run_section(path, default, heading=f"Run {i + 1}"))
        shown_checks += store.read_checks(path)
    for group in groups:
        seeds = list(group)
        first = next((p for p in group.values() if p.name == default_hash), group[seeds[0]])
        label = "Default run" if first.name == default_hash else "Run"
        parts.append(_run_section(first, default, heading=f"{label} at seed {_seed(first)}"))
        by_seed = {seed: store.read_checks(p) for seed, p in group.items()}
        shown_checks += [c for found_ in by_seed.values() for c in found_]
        rates = checks_mod.pass_rates(by_seed)
        if rates_out is not None:
            rates_out += rates
        every = sum(r["passed"] == r["n"] for r in rates)
        failing = sum(r["failed"] > 0 for r in rates)
        idle = sum(r["failed"] == 0 and r["passed"] < r["n"] for r in rates)
        parts.append(
            f'<h4 class="cross-seed">Across {len(seeds)} seeds ({", ".join(map(str, seeds))}) '
            f'<span class="badge {"bad" if failing else "ok"}">{every} of '
            f"{len(rates)} claims pass at every seed; {failing} fail at some seed; {idle} not "
            f"compared at some seed (outside the theorem or unconverged)</span></h4>"
        )
        rows = []
        for seed, p in group.items():
            meta = store.read_config(p)
            failed = meta.get("status") == "failed"
            rows.append(
                f"<li>seed {seed}: {_counts_badge(by_seed[seed], run_failed=failed)} "
                f'<span class="muted">hash {p.name}</span></li>'
            )
        parts.append('<ul class="notes">' + "".join(rows) + "</ul>")
        parts.append(cross_seed_table(by_seed))
    n_hidden = len(singles) - len(others)
    if n_hidden > 0:
        parts.append(f'<p class="muted">{n_hidden} older runs not shown (query the store).</p>')
    return "\n".join(parts), shown_checks


def _seed(path: Path):
    return store.read_config(path)["config"].get("seed")


def _seed_groups(found: list[Path]) -> list[dict]:
    """Runs whose configs differ only in ``seed``, for every such set of two or more seeds: a list
    of {seed: run folder} ordered by seed (the newest run where a seed was stored twice)."""
    sets: dict[str, dict] = {}
    for path in found:  # oldest first, so a newer run of the same config replaces an older one
        cfg = dict(store.read_config(path)["config"])
        seed = cfg.pop("seed", None)
        if seed is None:
            continue
        sets.setdefault(json.dumps(cfg, sort_keys=True, default=str), {})[seed] = path
    return [dict(sorted(g.items(), key=lambda kv: kv[0])) for g in sets.values() if len(g) > 1]


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
    for j, (quantity, members) in enumerate(groups.items()):
        ax = axes.flat[j]
        g = agg.set_index(x).reindex(xs)
        finite = []
        for i, (series, m) in enumerate(members):
            ax.errorbar(pos, g[m], yerr=g[m + " std"], marker="o", ms=3, capsize=3,
                        color=plots.color(i), label=series)  # fmt: skip
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


SEED_TITLES = {
    "000": "Seed 000 · Deep matrix factorization by gradient descent (Chou, Gieshoff, Maly & Rauhut)",
    "001": "Seed 001 · SGD with L2 regularization on deep linear networks (Wang & Jacot)",
    "002": "Seed 002 · Implicit regularization in matrix factorization (Gunasekar et al.)",
    "003": "Seed 003 · Sparse and low-rank recovery by overparameterization (Rauhut et al.)",
    "004": "Seed 004 · Discrete dynamics of deep linear regression (Gidel, Bach & Lacoste-Julien)",
}


def build(root: Path = store.DEFAULT_ROOT, out: Path | None = None, *, extra_sections=()) -> Path:
    """Write the report for everything in ``root`` to ``out`` (default ``root/report.html``)."""
    root = Path(root)
    out = Path(out) if out is not None else root / "report.html"
    by_seed: dict[str, list[str]] = {}
    for name in experiments.names():
        by_seed.setdefault(getattr(experiments.get(name), "SEED", "other"), []).append(name)
    from implicit_bias import sweep as sweep_mod

    sweeps = sweep_mod.read_sweeps(root)
    in_sweeps = frozenset(h for r in sweeps for h in r.get("runs", []))
    body, all_checks, toc, rates = [], [], [], []
    for seed, names in by_seed.items():
        title = SEED_TITLES.get(seed, f"Seed {seed}")
        body.append(f'<h2 id="seed-{seed}">{html.escape(title)}</h2>')
        toc.append(f'<li><a href="#seed-{seed}">{html.escape(title)}</a><ul>')
        for name in names:
            section, shown = experiment_section(name, root, in_sweeps=in_sweeps, rates_out=rates)
            body.append(section)
            all_checks += shown
            toc.append(f'<li><a href="#{name}">{name}</a></li>')
        toc.append("</ul></li>")
    if sweeps:
        body.append('<h2 id="sweeps">Sweeps</h2>')
        toc.append('<li><a href="#sweeps">Sweeps</a><ul>')
        for record in reversed(sweeps):  # newest first
            body.append(sweep_section(record, root))
            toc.append(f'<li><a href="#sweep-{record["id"]}">{record["id"]}</a></li>')
        toc.append("</ul></li>")
    explored = store.runs(root, "explore")  # questions asked with `implicit-bias explore`
    if explored:
        body.append('<h2 id="explore">Your questions (implicit-bias explore)</h2>')
        toc.append('<li><a href="#explore">Your questions (explore)</a></li>')
        body.append(explore_section(explored, all_checks))
    for title, section_html in extra_sections:
        body.append(section_html)
    summary = _counts_badge(all_checks)
    if rates:
        every = sum(r["passed"] == r["n"] for r in rates)
        failing = sum(r["failed"] > 0 for r in rates)
        seeds = sorted({len(r["statuses"]) for r in rates})
        summary += (
            f' <span class="badge {"bad" if failing else "ok"}">across seeds: '
            f"{every} of {len(rates)} claims pass at every seed, {failing} fail at some seed "
            f"({'/'.join(map(str, seeds))} seeds per experiment)</span>"
        )
    if sweeps:
        swept = []
        for h in in_sweeps:
            for record in sweeps:
                path = store.run_path(root, record["experiment"], h)
                if store.is_done(path):
                    swept += store.read_checks(path)
                    break
        summary += (
            f' <span class="badge {"bad" if checks_mod.failures(swept) else "ok"}">sweeps: '
            f"{len(sweeps)} sweeps, {len(in_sweeps)} runs: "
            f"{html.escape(checks_mod.summary_line(swept))}</span>"
        )
    now = datetime.datetime.now().isoformat(timespec="seconds")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>implicit-bias report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><h1>implicit-bias report</h1>
<p class="muted">Generated {now} from <code>{html.escape(str(root))}</code> by implicit-bias {__version__}.
Every number below was read from the results store; nothing was recomputed.</p>
<p>{summary}</p>
<p class="muted">Claims are statements of the seed talks; a claim counts as confirmed only when it
passes inside its theorem's hypotheses at a converged run. A claim whose hypotheses are not met is
shown as <em>outside the theorem</em> and a claim about a limit whose run has not reached its loss
tolerance as <em>unconverged</em> (shown, not compared): neither is counted in claims passed.
Hypotheses are the theorems' preconditions; sanity checks say that the machinery worked.</p>
<ul class="toc">{"".join(toc)}</ul>
{"".join(body)}
<script>{DECODE_JS}</script>
</body></html>"""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
