"""The report's HTML building blocks: style, number formatting, embedded figures, check tables.

Everything read from the store is escaped before it goes into the page, text and attributes alike
(``_fmt``, ``attr``; ids and links through ``anchor``): a store shared on a cluster must not be able
to put markup or script into a report (tests/test_store_integrity.py renders a hostile store).
"""

import base64
import hashlib
import html
import io
import re
from pathlib import Path

from implicit_bias import (
    checks as checks_mod,
    plots,
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


def attr(x) -> str:
    """A value read from the store, escaped for a double- or single-quoted HTML attribute."""
    return html.escape(str(x), quote=True)


def anchor(prefix: str, text) -> str:
    """A safe element id (and ``#`` link target) for ``text`` read from the store: letters, digits,
    ``_`` and ``-`` only, with a short digest of the original where anything had to be replaced."""
    text = str(text)
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", text)[:80]
    if safe != text:
        safe += "-" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:8]
    return f"{prefix}-{safe}"


def _num(x) -> float | None:
    """A number read from the store, or None where it is none (text, a list, a bool)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x)


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
            lt, at = c["loss_tol"], c["loss"]
            lt, at = (x if _num(x) is None else _num(x) for x in (lt, at))
            tol = "" if lt is None else f" (converged ≤ {_fmt(lt)})"
            loss = f'<div class="muted">at loss {_fmt(at)}{tol}</div>'
        if c["requires"]:
            needs = ", ".join(map(_fmt, c["requires"]))
            detail += f'<div class="muted">requires: {needs}</div>'
        body.append(
            f'<tr class="check {attr(_css_class(label))}" data-kind="{attr(c["kind"])}"><td>{_fmt(c["name"])}{detail}</td>'
            f'<td class="kind">{html.escape(str(c["kind"]))}</td>'
            f'<td class="num">{_fmt(c.get("predicted"))}</td><td class="num">{_fmt(c.get("observed"))}</td>'
            f'<td class="num">{_fmt(c.get("tolerance"))}</td>'
            f'<td class="verdict">{html.escape(str(label))}{loss}</td>'
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
            f'<span class="st {attr(_css_class(_claim_label(st)))}">{html.escape(str(seed))}: '
            f"{html.escape(str(_claim_label(st)))}</span>"
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


SHARPNESS_ROWS_SHOWN = 16  # runs per table (the runner records at most 16 per experiment)
# what tells the runs of one table apart: the runner's label and batch member, regime_dmf's regime
# (``fit``: the runner's rows; ``run``: explore's and older stores')
SHARPNESS_KEYS = {"fit": "fit", "run": "run", "i": "member", "regime": "regime"}


def _sharpness_frame(path: Path):
    """The run's ``sharpness`` and ``two_over_eta`` rows (t, series, value and, where present,
    run and i), or None: read from rows.parquet with a filter on the series (not the whole file),
    or from the compacted tables; a file that cannot be read gives None (the page still builds)."""
    import pandas as pd

    from implicit_bias import store

    f = Path(path) / "rows.parquet"
    try:
        if f.is_file():
            import pyarrow.parquet as pq

            names = pq.read_schema(f).names
            if not {"t", "series", "value"} <= set(names):
                return None
            cols = ["t", "series", "value"] + [c for c in SHARPNESS_KEYS if c in names]
            frame = pd.read_parquet(f, columns=cols,
                                    filters=[("series", "in", ["sharpness", "two_over_eta"])])  # fmt: skip
        else:
            frame = store.read_rows(path)
            if not {"t", "series", "value"} <= set(frame.columns):
                return None
            frame = frame[frame["series"].isin(["sharpness", "two_over_eta"])]
        for c in ("t", "value"):  # numbers, or NaN where a hostile store put something else
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
    except Exception:  # noqa: BLE001 - an unreadable rows file: no panel, the page still builds
        return None
    return frame if len(frame) and (frame["series"] == "sharpness").any() else None


def sharpness_table(path: Path) -> str:
    """The run's sharpness panel: λ_max(∇²L) at the first and last recorded snapshot of each run
    (by ``run`` label, batch member ``i`` and ``regime``, where the rows have them) and 2/η for GD runs (the
    linear-stability bound; λ_max above it at the end: past the edge of stability). "" when the run
    has no ``sharpness`` rows. Every value read from the store is escaped."""
    frame = _sharpness_frame(path)
    if frame is None:
        return ""
    keys = [c for c in SHARPNESS_KEYS if c in frame.columns]
    sharp = frame[frame["series"] == "sharpness"].sort_values("t", kind="stable")
    bound = frame[frame["series"] == "two_over_eta"]
    groups = list(sharp.groupby(keys, sort=False, dropna=False)) if keys else [((), sharp)]
    body = []
    for key, g in groups[:SHARPNESS_ROWS_SHOWN]:
        key = key if isinstance(key, tuple) else (key,)
        b = bound
        for k, v in zip(keys, key):
            b = b[b[k] == v] if v == v else b[b[k].isna()]  # (v != v: a missing run label)
        two = _num(float(b["value"].iloc[0])) if len(b) else None
        first, last = g.iloc[0], g.iloc[-1]
        end = _num(float(last["value"]))
        past = two is not None and end is not None and end > two
        cells = [_fmt(v) for v in key] + [
            _fmt(float(first["t"])), _fmt(float(first["value"])),
            _fmt(float(last["t"])), _fmt(float(last["value"])),
            "—" if two is None else _fmt(two) + (" (λ_max above it at the end)" if past else ""),
        ]  # fmt: skip
        body.append("<tr>" + "".join(f'<td class="num">{c}</td>' for c in cells) + "</tr>")
    more = len(groups) - SHARPNESS_ROWS_SHOWN
    head = [SHARPNESS_KEYS[k] for k in keys]
    head += ["t start", "λ_max start", "t end", "λ_max end", "2/η (GD)"]
    note = f'<p class="muted">{more} more runs not shown (query the store).</p>' if more > 0 else ""
    return (
        '<h5>Sharpness λ_max(∇²L(θ))</h5><table class="sharpness"><tr>'
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + "</tr>" + "".join(body) + "</table>" + note
    )  # fmt: skip
