"""One self-contained HTML page from the store alone (no recomputation): claims, figures, checks.

Figures are embedded as base64 PNG, so the page can be moved or mailed without broken links.
"""

import base64
import datetime
import html
from pathlib import Path

from implicit_bias import __version__, config as config_mod, experiments, store

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
tr.pass td.verdict{color:#13722b;font-weight:600} tr.fail td.verdict{color:#b00020;font-weight:700}
.badge{display:inline-block;padding:.05em .5em;border-radius:3px;font-size:.8em;font-weight:600}
.badge.ok{background:#d7f5dd;color:#13722b} .badge.bad{background:#fde0e3;color:#b00020}
.badge.info{background:#e6eefc;color:#1f4aa8}
figure{margin:.8em 0} figure img{max-width:100%;border:1px solid #eee}
ul.notes{font-size:.85em;color:#444}
"""


def _fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.6g}"
    return html.escape(str(x))


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    alt = html.escape(path.stem.replace("_", " "))
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption class="muted">{alt}</figcaption></figure>'


def checks_table(checks: list[dict]) -> str:
    if not checks:
        return '<p class="muted">No checks recorded.</p>'
    head = "<tr><th>check</th><th>predicted</th><th>observed</th><th>tolerance</th><th>result</th></tr>"
    body = []
    for c in checks:
        cls = "pass" if c["passed"] else "fail"
        detail = f'<div class="muted">{_fmt(c.get("detail"))}</div>' if c.get("detail") else ""
        body.append(
            f'<tr class="check {cls}"><td>{_fmt(c["name"])}{detail}</td>'
            f'<td class="num">{_fmt(c.get("predicted"))}</td><td class="num">{_fmt(c.get("observed"))}</td>'
            f'<td class="num">{_fmt(c.get("tolerance"))}</td>'
            f'<td class="verdict">{"pass" if c["passed"] else "FAIL"}</td></tr>'
        )
    return f'<table class="checks">{head}{"".join(body)}</table>'


def _config_diff(cfg: dict, default: dict) -> str:
    diff = {k: v for k, v in cfg.items() if default.get(k) != v}
    if not diff:
        return "default config"
    return ", ".join(f"{k}={v}" for k, v in diff.items())


def _run_section(path: Path, default_cfg: dict, *, heading: str) -> str:
    cfg = store.read_config(path)
    checks = store.read_checks(path)
    error = store.read_error(path)
    n_fail = sum(not c["passed"] for c in checks)
    if error:
        badge = '<span class="badge bad">run failed</span>'
    elif n_fail:
        badge = f'<span class="badge bad">{n_fail} of {len(checks)} checks failed</span>'
    else:
        badge = f'<span class="badge ok">{len(checks)} checks pass</span>'
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


def experiment_section(name: str, root: Path, *, max_other_runs: int = 5) -> tuple[str, list[dict]]:
    """HTML for one experiment and the checks it shows."""
    module = experiments.get(name)
    default = config_mod.to_dict(module.Config())
    default_hash = config_mod.config_hash(name, module.Config())
    found = store.runs(root, name)
    parts = [
        f'<h3 id="{name}">{html.escape(getattr(module, "TITLE", name))} <span class="muted">({name})</span></h3>',
        f'<p class="claim">{html.escape(experiments.claim(module))}</p>',
        f'<pre class="doc">{html.escape(experiments.description(module))}</pre>',
    ]
    shown_checks = []
    if not found:
        parts.append(f'<p class="muted">Not run yet: <code>implicit-bias run {name}</code></p>')
        return "\n".join(parts), shown_checks
    main = [p for p in found if p.name == default_hash]
    others = [p for p in reversed(found) if p.name != default_hash][:max_other_runs]
    for i, path in enumerate(main + others):
        heading = "Default run" if path in main else f"Run {i + 1 - len(main)}"
        parts.append(_run_section(path, default, heading=heading))
        shown_checks += store.read_checks(path)
    return "\n".join(parts), shown_checks


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
    body, all_checks, toc = [], [], []
    for seed, names in by_seed.items():
        title = SEED_TITLES.get(seed, f"Seed {seed}")
        body.append(f'<h2 id="seed-{seed}">{html.escape(title)}</h2>')
        toc.append(f'<li><a href="#seed-{seed}">{html.escape(title)}</a><ul>')
        for name in names:
            section, shown = experiment_section(name, root)
            body.append(section)
            all_checks += shown
            toc.append(f'<li><a href="#{name}">{name}</a></li>')
        toc.append("</ul></li>")
    for title, section_html in extra_sections:
        body.append(section_html)
    n_fail = sum(not c["passed"] for c in all_checks)
    summary = (
        f'<span class="badge {"bad" if n_fail else "ok"}">{len(all_checks) - n_fail} of '
        f"{len(all_checks)} checks pass</span>"
    )
    now = datetime.datetime.now().isoformat(timespec="seconds")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>implicit-bias report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><h1>implicit-bias report</h1>
<p class="muted">Generated {now} from <code>{html.escape(str(root))}</code> by implicit-bias {__version__}.
Every number below was read from the results store; nothing was recomputed.</p>
<p>{summary}</p><ul class="toc">{"".join(toc)}</ul>
{"".join(body)}
</body></html>"""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
