"""The report's section on ``implicit-bias explore`` questions, from the store alone.

Each question is shown once (a question asked at several seeds by its lowest seed, with the check
counts over all of them). Questions asked on the same data (the same problem instance: every config
field except those of the model, the method and the baselines) are compared side by side: a table
of their final and best (early-stopped) test errors, distances to the baselines, norms, hidden-value
ranges, times and checks, and two figures: the final test error against the depth, one line per
initialization scale (and method), with each baseline's test error as a horizontal line ("does depth
beat the nuclear norm?"), and the test error over time of every question.

Everything read from the store is escaped before it goes into the page (a hostile store must not
inject HTML), and into a figure as literal text (a ``$`` starts no mathtext).
"""

import html
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from implicit_bias import store
from implicit_bias.report.page import _counts_badge, _fig_html, _img, checks_table

# the config fields of the model, the method and the baselines: questions that agree on every other
# field (problem, sizes, data, truth, holdout, seed, …) ran on the same data and are compared
QUESTION_FIELDS = (
    "model", "depth", "init", "scale", "width", "method", "eta", "n_steps", "t1", "rel_tol",
    "solver", "lam", "batch_size", "n_saves", "baselines",
)  # fmt: skip
LABEL_FIELDS = ("model", "depth", "scale", "method")  # the comparison table's first columns
MAX_COMPARISONS = 10
METRICS = {  # the compared quantity, in order of preference, with its baselines' prefix
    "test_error": ("test error", "test_error_"),
    "distance_to_truth": ("distance to X*", None),
}


def _e(x) -> str:
    """Anything read from the store, as escaped HTML text."""
    return html.escape(x if isinstance(x, str) else _text(x))


def _text(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    if isinstance(x, (list, tuple)):
        return ", ".join(map(_text, x))
    return str(x)


def _num(x) -> float:
    """``x`` as a float, NaN where it is none (a hostile or missing value)."""
    if isinstance(x, bool):
        return float(x)
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _g(x, digits: int = 3) -> str:
    x = _num(x)
    return "—" if not math.isfinite(x) else f"{x:.{digits}g}"


def _config(path: Path) -> dict:
    cfg = store.read_config(path).get("config")
    return cfg if isinstance(cfg, dict) else {}


def _seed(path: Path):
    return _config(path).get("seed")


def _seed_key(path: Path):
    s = _num(_seed(path))
    return s if math.isfinite(s) else 0.0


def _key(cfg: dict, drop=()) -> str:
    return json.dumps({k: v for k, v in cfg.items() if k not in drop}, sort_keys=True, default=str)


def _run_section(path: Path, *, heading: str) -> str:
    """One stored question: heading with its check counts, config, time, figures, checks, notes
    (diagnostics marked)."""
    meta = store.read_config(path)
    cfg = _config(path)
    found = store.read_checks(path)
    error = store.read_error(path)
    badge = _counts_badge(found, run_failed=bool(error) or meta.get("status") == "failed")
    fields = ", ".join(f"{k}={_text(v)}" for k, v in cfg.items())
    parts = [
        f"<h4>{_e(heading)} {badge}</h4>",
        f'<p class="muted">{_e(fields)} · hash {_e(meta.get("hash", path.name))} · '
        f"{_g(meta.get('elapsed_s'), 3)} s · {_e(str(path))}</p>",
    ]
    if error:
        parts.append(
            f'<p class="badge bad">{_e(error.get("type", "error"))}: '
            f"{_e(error.get('message', ''))}</p>"
        )
    parts += [_img(p) for p in store.figures(path)]
    parts.append(checks_table([_safe_check(c) for c in found]))
    notes = meta.get("notes") or []
    if isinstance(notes, list) and notes:
        items = []
        for n in notes:
            n = _text(n)
            if n.startswith("diagnostic:"):
                n = n.removeprefix("diagnostic:").strip()
                badge = '<span class="badge warn">diagnostic</span>'
                items.append(f'<li class="diagnostic">{badge} {_e(n)}</li>')
            elif "\n" in n:  # a table (the limit path of --method limit): kept as printed
                head, _, body = n.partition("\n")
                items.append(f"<li>{_e(head)}<pre>{_e(body)}</pre></li>")
            else:
                items.append(f"<li>{_e(n)}</li>")
        parts.append('<ul class="notes">' + "".join(items) + "</ul>")
    return "\n".join(parts)


def _safe_check(c) -> dict:
    """A stored check as ``checks_table`` takes it (which escapes every field itself)."""
    return dict(c) if isinstance(c, dict) else {"name": _text(c)}


def explore_section(explored: list[Path], all_checks: list, *, max_questions: int = 30) -> str:
    """The stored ``explore`` questions, newest first: first the comparisons of questions asked on
    the same data, then each question: a question asked at several seeds (a ``--seeds`` grid) is
    shown once, by its lowest seed's run, with the check counts over all its seeds; every run's
    checks go into ``all_checks``. At most ``max_questions`` are shown."""
    groups: dict[str, list[Path]] = {}
    for path in explored:  # oldest first
        groups.setdefault(_key(_config(path), drop=("seed",)), []).append(path)
    parts = [comparison_section(explored)]
    questions = list(groups.values())[::-1]  # newest question first
    for paths in questions[:max_questions]:
        paths = sorted(paths, key=_seed_key)
        q = _config(paths[0])
        heading = f"{q.get('problem')} · {q.get('model')} N={q.get('depth')} · {q.get('method')}"
        found = [c for p in paths for c in store.read_checks(p)]
        all_checks += found
        if len(paths) > 1:
            seeds = ", ".join(_text(_seed(p)) for p in paths)
            heading += f" · {len(paths)} seeds"
        parts.append(_run_section(paths[0], heading=heading))
        if len(paths) > 1:
            parts.append(
                f'<p class="muted">shown: seed {_e(_seed(paths[0]))}; stored at seeds {_e(seeds)}; '
                f"checks over all of them: {_counts_badge(found)}</p>"
            )
    for paths in questions[max_questions:]:
        all_checks += [c for p in paths for c in store.read_checks(p)]
    if len(questions) > max_questions:
        parts.append(
            f'<p class="muted">{len(questions) - max_questions} older questions are not shown '
            '(their checks count above): <code>implicit-bias query "SELECT * FROM runs WHERE '
            "experiment = 'explore'\"</code> lists them all.</p>"
        )
    return "\n".join(p for p in parts if p)


# ----------------------------------------------------------------------------------------------
# comparisons of questions on the same data


def comparison_groups(explored: list[Path]) -> list[list[Path]]:
    """The questions that ran on the same problem instance, two or more per group, newest group
    first. Where groups differ only in the seed, the lowest seed's stands for them all."""
    by_instance: dict[str, list[Path]] = {}
    for path in explored:
        by_instance.setdefault(_key(_config(path), drop=QUESTION_FIELDS), []).append(path)
    seen: dict[str, list[list[Path]]] = {}
    for paths in by_instance.values():
        if len(paths) >= 2:
            cfg = _config(paths[0])
            seen.setdefault(_key(cfg, drop=(*QUESTION_FIELDS, "seed")), []).append(paths)
    out = []
    for same in seen.values():
        same.sort(key=lambda ps: _seed_key(ps[0]))
        out.append(same)
    return out[::-1]


# the size fields that each problem reads (the others keep their defaults and are not shown)
SIZES = {
    "n", "n_cols", "rank", "spectrum", "symmetric", "m", "ensemble", "observed", "s", "signed",
    "p", "d",
}  # fmt: skip
SIZES_OF = {
    "full": {"n", "n_cols", "rank", "spectrum", "symmetric"},
    "sensing": {"n", "n_cols", "rank", "m", "ensemble"},
    "completion": {"n", "n_cols", "rank", "observed"},
    "sparse": {"n", "m", "s", "signed"},
    "regression": {"n", "p", "d"},
}
FROM_DATA = {"n", "observed", "m", "s"}  # with --data the instance's other sizes are the data's


def _natural(name: str) -> list:
    """rrr2 before rrr10: digits compare as numbers."""
    import re

    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", name)]


def _instance_title(cfg: dict) -> str:
    """The problem instance in one line: its problem, the sizes it reads, the data, the seed."""
    shown = []
    sizes = SIZES_OF.get(_text(cfg.get("problem")), SIZES)
    if cfg.get("data"):
        sizes = sizes & FROM_DATA
    for k, v in cfg.items():
        if k in QUESTION_FIELDS or k == "problem" or (k in SIZES and k not in sizes):
            continue
        if k != "seed" and v in ("", 0, (), [], None, False):
            continue
        if k == "data":
            v = Path(_text(v)).name
        shown.append(f"{k}={_text(v)}")
    return f"{cfg.get('problem')}: " + ", ".join(shown) if shown else _text(cfg.get("problem"))


def _read(path: Path) -> pd.DataFrame:
    try:
        df = store.read_rows(path)
    except Exception:  # noqa: BLE001 - a run without readable rows is shown without numbers
        return pd.DataFrame({"t": [], "series": [], "i": [], "value": []})
    from implicit_bias.explore.figures import frame

    return frame(df)


def _summary(path: Path) -> dict:
    """What the comparison shows of one question, read from its rows."""
    from implicit_bias.explore.figures import constant, constants, series

    meta = store.read_config(path)
    df = _read(path)
    out = {"path": path, "cfg": _config(path), "meta": meta, "checks": store.read_checks(path)}
    for metric in METRICS:
        t, v = series(df, metric, log_t=False)
        out[metric] = (t, v)
    out["baseline_error"] = constants(df, "test_error_")
    out["distances"] = {
        name.removeprefix("distance_to_"): series(df, name, log_t=False)[1]
        for name in sorted(set(df.series), key=_natural) if name.startswith("distance_to_")
    }  # fmt: skip
    out["norm"] = series(df, "norm", log_t=False)[1]
    out["baseline_norm"] = constants(df, "norm_")
    lo, hi = series(df, "hidden_min", log_t=False)[1], series(df, "hidden_max", log_t=False)[1]
    out["hidden"] = (lo[-1], hi[-1]) if len(lo) and len(hi) else None
    out["hidden_extreme"] = (float(lo.min()), float(hi.max())) if len(lo) and len(hi) else None
    out["observed"] = (constant(df, "observed_min"), constant(df, "observed_max"))
    return out


def _final(tv) -> float:
    return float(tv[1][-1]) if len(tv[1]) else math.nan


def _best(tv) -> tuple[float, float]:
    t, v = tv
    if not len(v):
        return math.nan, math.nan
    k = int(np.argmin(v))
    return float(v[k]), float(t[k])


def _varying(summaries: list[dict]) -> list[str]:
    """The question fields (beyond model, depth, scale, method) whose values differ in the group."""
    return [
        f for f in QUESTION_FIELDS
        if f not in LABEL_FIELDS and f != "baselines"
        and len({_text(s["cfg"].get(f)) for s in summaries}) > 1
    ]  # fmt: skip


def _line_label(cfg: dict, fields) -> str:
    return " · ".join(("α" if f == "scale" else f) + "=" + _text(cfg.get(f)) for f in fields)


def _order(s: dict):
    cfg = s["cfg"]
    return (
        _text(cfg.get("model")), _text(cfg.get("method")), _num(cfg.get("scale")),
        _num(cfg.get("depth")), _text(cfg),
    )  # fmt: skip


def comparison_section(explored: list[Path]) -> str:
    """Every comparison of questions on the same data (``comparison_groups``), at most
    ``MAX_COMPARISONS`` of them; "" when there is none."""
    groups = comparison_groups(explored)
    if not groups:
        return ""
    parts = ['<h3 id="explore-comparisons">Questions on the same data, side by side</h3>']
    for same in groups[:MAX_COMPARISONS]:
        parts.append(_comparison(same[0], other_seeds=[_seed(ps[0]) for ps in same[1:]]))
    if len(groups) > MAX_COMPARISONS:
        parts.append(
            f'<p class="muted">{len(groups) - MAX_COMPARISONS} older comparisons are not shown.</p>'
        )
    return "\n".join(parts)


def _comparison(paths: list[Path], *, other_seeds=()) -> str:
    from implicit_bias.explore.figures import families

    summaries = sorted((_summary(p) for p in paths), key=_order)
    cfg0 = summaries[0]["cfg"]
    parts = [f"<h4>{_e(_instance_title(cfg0))} · {len(summaries)} questions</h4>"]
    if other_seeds:
        parts.append(
            f'<p class="muted">shown: seed {_e(cfg0.get("seed"))}; questions on this data are also '
            f"stored at seeds {_e(', '.join(map(_text, other_seeds)))} (not shown).</p>"
        )
    metric = next((m for m in METRICS if any(len(s[m][1]) for s in summaries)), None)
    if metric is None:
        parts.append(
            '<p class="muted">No test error and no distance to X* stored for these questions '
            "(the truth is unknown and nothing was held out): no comparison.</p>"
        )
        return "\n".join(parts)
    what, prefix = METRICS[metric]
    if metric != "test_error":
        parts.append(f'<p class="muted">No held-out test error stored: compared by the {what}.</p>')
    baseline_values = {}
    if prefix:
        for s in summaries:
            for b, v in s["baseline_error"].items():
                baseline_values.setdefault(b, v)
    baseline_norms = {}
    for s in summaries:
        for b, v in s["baseline_norm"].items():
            baseline_norms.setdefault(b, v)
    parts.append(_table(summaries, metric, what, baseline_values, baseline_norms))
    fig = _depth_figure(summaries, metric, what, baseline_values)
    if fig is not None:
        parts.append(_fig_html(fig, f"final {what} against the depth"))
    fig = _time_figure(summaries, metric, what, baseline_values)
    if fig is not None:
        parts.append(_fig_html(fig, f"{what} over time, every question"))
    fams = families(list(baseline_values))[1]
    if fams:
        parts.append(
            '<p class="muted">Baseline families drawn thin and grey, with their best and worst '
            "member named: " + _e(", ".join(f"{p}1..{len(v)}" for p, v in fams.items())) + ".</p>"
        )
    return "\n".join(parts)


def _table(summaries, metric, what, baseline_values, baseline_norms) -> str:
    varying = _varying(summaries)
    dists = []
    for s in summaries:
        for name in s["distances"]:
            if name not in dists and name != metric.removeprefix("distance_to_"):
                dists.append(name)
    has_norm = any(len(s["norm"]) for s in summaries) or bool(baseline_norms)
    has_hidden = any(s["hidden"] is not None for s in summaries)
    head = [*LABEL_FIELDS, *varying, f"final {what}", f"best {what} (at t)"]
    head += [f"distance to {d} (end)" for d in dists]
    if has_norm:
        head.append("norm of the estimate (end)")
    if has_hidden:
        head.append("hidden values (end; extremes along the path)")
    head += ["time (s)", "checks"]
    rows = []
    for s in summaries:
        cfg, tv = s["cfg"], s[metric]
        best, t_best = _best(tv)
        cells = [f"<td>{_e(cfg.get(f, ''))}</td>" for f in (*LABEL_FIELDS, *varying)]
        cells.append(f'<td class="num">{_g(_final(tv))}</td>')
        at = f" (t={_g(t_best)})" if math.isfinite(best) else ""
        cells.append(f'<td class="num">{_g(best)}{at}</td>')
        for d in dists:
            v = s["distances"].get(d, [])
            cells.append(f'<td class="num">{_g(v[-1] if len(v) else None)}</td>')
        if has_norm:
            cells.append(f'<td class="num">{_g(s["norm"][-1] if len(s["norm"]) else None)}</td>')
        if has_hidden:
            cells.append(f'<td class="num">{_hidden_cell(s)}</td>')
        cells.append(f'<td class="num">{_g(s["meta"].get("elapsed_s"))}</td>')
        failed = s["meta"].get("status") == "failed"
        cells.append(f"<td>{_counts_badge(s['checks'], run_failed=failed)}</td>")
        rows.append(f'<tr class="question">{"".join(cells)}</tr>')
    n_label = len(LABEL_FIELDS) + len(varying)
    for b in _shown_baselines(list({**baseline_values, **baseline_norms})):
        cells = [f'<td colspan="{n_label}">baseline {_e(b)}</td>']
        cells.append(f'<td class="num">{_g(baseline_values.get(b))}</td><td class="num">—</td>')
        cells += ['<td class="num">—</td>'] * len(dists)
        if has_norm:
            cells.append(f'<td class="num">{_g(baseline_norms.get(b))}</td>')
        if has_hidden:
            cells.append('<td class="num">—</td>')
        cells.append('<td class="num">—</td><td></td>')
        rows.append(f'<tr class="baseline muted">{"".join(cells)}</tr>')
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f'<table class="explore-comparison"><tr>{header}</tr>{"".join(rows)}</table>'


def _shown_baselines(names: list[str]) -> list[str]:
    """The baselines named in the table: a family's (rrr1..rrrK) first and last only."""
    from implicit_bias.explore.figures import families

    singles, fams = families(names)
    return singles + [n for v in fams.values() for n in (v[0], v[-1])]


def _hidden_cell(s: dict) -> str:
    if s["hidden"] is None:
        return "—"
    (lo, hi), (xlo, xhi) = s["hidden"], s["hidden_extreme"]
    out = f"[{_g(lo)}, {_g(hi)}]"
    if (xlo, xhi) != (lo, hi):
        out += f' <span class="muted">(extremes [{_g(xlo)}, {_g(xhi)}])</span>'
    a, b = s["observed"]
    if math.isfinite(a) and math.isfinite(b):
        out += f' <span class="muted">observed [{_g(a)}, {_g(b)}]</span>'
    return out


def _lines_by(summaries, varying) -> dict[str, list[dict]]:
    """The questions grouped into the depth figure's lines: one per init scale (and per model,
    method and any other field that varies), keyed by a label."""
    keys = [f for f in ("model", "scale", "method", *varying)
            if len({_text(s["cfg"].get(f)) for s in summaries}) > 1 or f == "scale"]  # fmt: skip
    lines: dict[str, list[dict]] = {}
    for s in summaries:
        lines.setdefault(_line_label(s["cfg"], keys), []).append(s)
    return lines


def _depth_figure(summaries, metric, what, baseline_values):
    import matplotlib.pyplot as plt

    from implicit_bias import plots
    from implicit_bias.explore.figures import all_positive, baseline_lines, plain

    lines = _lines_by(summaries, _varying(summaries))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    drawn = []
    for k, (label, group) in enumerate(lines.items()):
        pts = sorted(
            (_num(s["cfg"].get("depth")), _final(s[metric]), _best(s[metric])[0]) for s in group
        )
        pts = [p for p in pts if math.isfinite(p[0]) and math.isfinite(p[1])]
        if not pts:
            continue
        d, final, best = (np.array(x, float) for x in zip(*pts))
        ax.plot(d, final, "o-", color=plots.color(k), label=plain(label))
        ax.plot(d, best, "o:", color=plots.color(k), mfc="none", alpha=0.7)
        drawn += [final, best]
    if not drawn:
        plots.close(fig)
        return None
    if any(len(v) for v in drawn) and len(lines):
        ax.plot([], [], "ko:", mfc="none", alpha=0.7, label="dotted: best along the path")
    baseline_lines(ax, baseline_values)
    if all_positive(*drawn, list(baseline_values.values())):
        ax.set_yscale("log")
    depths = sorted({d for s in summaries if math.isfinite(d := _num(s["cfg"].get("depth")))})
    if depths and all(float(x).is_integer() for x in depths):
        ax.set_xticks(depths)
    ax.set(xlabel="depth N", ylabel=f"final {what}", title=f"final {what} vs depth")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _time_figure(summaries, metric, what, baseline_values):
    import matplotlib.pyplot as plt

    from implicit_bias import plots
    from implicit_bias.explore.figures import all_positive, baseline_lines, plain

    fields = ["model", "depth", "scale", "method", *_varying(summaries)]
    fields = [f for f in fields if len({_text(s["cfg"].get(f)) for s in summaries}) > 1]
    fields = fields or ["depth"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    drawn = []
    for k, s in enumerate(summaries):
        t, v = s[metric]
        keep = t > 0
        if not keep.any():
            continue
        label = plain(_line_label(s["cfg"], fields))
        ax.plot(t[keep], v[keep], color=plots.color(k), lw=1.4, label=label)
        drawn.append(v[keep])
    if not drawn:
        plots.close(fig)
        return None
    ax.set_xscale("log")
    baseline_lines(ax, baseline_values)
    if all_positive(*drawn, list(baseline_values.values())):
        ax.set_yscale("log")
    flows = {s["cfg"].get("method") == "flow" for s in summaries}
    xlabel = "time t" if flows == {True} else "step" if flows == {False} else "time t or step"
    ax.set(xlabel=xlabel, ylabel=what, title=f"{what} over time")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
