"""One self-contained HTML page from the store alone (no recomputation): claims, figures, checks.

Figures are embedded as base64 PNG, so the page can be moved or mailed without broken links.
"""

import datetime
import html
import json
from pathlib import Path

from implicit_bias import (
    __version__,
    checks as checks_mod,
    config as config_mod,
    experiments,
    store,
)
from implicit_bias.report.explore import explore_section
from implicit_bias.report.page import (
    CSS,
    DECODE_JS,
    _counts_badge,
    _fmt,
    _img,
    _num,
    anchor,
    checks_table,
    cross_seed_table,
    sharpness_table,
)
from implicit_bias.report.sweeps import sweep_section


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
    elapsed = _num(cfg.get("elapsed_s", 0))
    parts = [
        f"<h4>{html.escape(heading)} {badge}</h4>",
        f'<p class="muted">{html.escape(_config_diff(cfg["config"], default_cfg))} · '
        f"hash {html.escape(str(cfg['hash']))} · "
        f"{'—' if elapsed is None else f'{elapsed:.1f}'} s · {html.escape(str(path))}</p>",
    ]
    if error:
        error = error if isinstance(error, dict) else {"type": "error", "message": error}
        parts.append(
            f'<p class="badge bad">{_fmt(error.get("type", "error"))}: '
            f"{_fmt(error.get('message', ''))}</p>"
        )
    parts += [_img(p) for p in store.figures(path)]
    parts.append(checks_table(checks))
    parts.append(sharpness_table(path))
    notes = cfg.get("notes")
    if notes:
        notes = notes if isinstance(notes, list) else [notes]
        parts.append('<ul class="notes">' + "".join(f"<li>{_fmt(n)}</li>" for n in notes) + "</ul>")
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
            f'<h4 class="cross-seed">Across {len(seeds)} seeds ({_fmt(", ".join(map(str, seeds)))}) '
            f'<span class="badge {"bad" if failing else "ok"}">{every} of '
            f"{len(rates)} claims pass at every seed; {failing} fail at some seed; {idle} not "
            f"compared at some seed (outside the theorem or unconverged)</span></h4>"
        )
        rows = []
        for seed, p in group.items():
            meta = store.read_config(p)
            failed = meta.get("status") == "failed"
            rows.append(
                f"<li>seed {_fmt(seed)}: {_counts_badge(by_seed[seed], run_failed=failed)} "
                f'<span class="muted">hash {_fmt(p.name)}</span></li>'
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


SEED_TITLES = {
    "000": "Seed 000 · Deep matrix factorization by gradient descent (Chou, Gieshoff, Maly & Rauhut)",
    "001": "Seed 001 · SGD with L2 regularization on deep linear networks (Wang & Jacot)",
    "002": "Seed 002 · Implicit regularization in matrix factorization (Gunasekar et al.)",
    "003": "Seed 003 · Sparse and low-rank recovery by overparameterization (Rauhut et al.)",
    "004": "Seed 004 · Discrete dynamics of deep linear regression (Gidel, Bach & Lacoste-Julien)",
}


def build(root: Path = store.DEFAULT_ROOT, out: Path | None = None, *, extra_sections=()) -> Path:
    """Write the report for everything in ``root`` to ``out`` (default ``root/report.html``).

    ``out`` is checked before the page is built (``store.check_output_file``: never a folder, a
    device such as /dev/null, a pipe, a path on /proc, or a read-only folder) and written to a new
    file beside it that is then renamed over it; a failed write is one ConfigError line."""
    from implicit_bias.errors import ConfigError

    root = Path(root)
    flag = "--out" if out is not None else "--root"
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--root: {root} is a file, not a results store folder")
    out = store.check_output_file(Path(out) if out is not None else root / "report.html", flag)
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
            toc.append(
                f'<li><a href="#{anchor("sweep", record["id"])}">{_fmt(record["id"])}</a></li>'
            )
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
    return store.write_output_file(out, page, flag)
