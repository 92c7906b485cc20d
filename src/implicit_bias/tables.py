"""Tables for an 80-column terminal: a run's theory checks and a query's result (``implicit-bias
run``, ``reproduce``, ``query``). Wide terminals get one table with every cell whole; narrow ones a
few lines per check, and the columns of a result that fit, naming the others."""

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "pass": "[green]pass[/green]",
    "FAIL": "[bold red]FAIL[/bold red]",
    "unconverged": "[bold yellow]unconverged[/bold yellow]",
    "outside the theorem": "[magenta]outside the theorem[/magenta]",
    "met": "[green]met[/green]",
    "not met": "[yellow]not met[/yellow]",
}


WIDE_CHECKS = 140  # columns from which the checks are one table (source · basis a column of it)
SHORT_STATUS = {"outside the theorem": "outside"}  # the narrow layout's status column is 11 wide


def _fmt(x) -> str:
    return "" if x is None else (f"{x:.6g}" if isinstance(x, float) else str(x))


def print_checks(checks: list[dict], title: str = "checks", *, out: Console | None = None) -> None:
    """The checks: kind, status (pass / FAIL / unconverged / outside the theorem; met / not met for
    hypotheses), predicted, observed, tolerance, source and basis; a limit claim also shows the
    loss it was evaluated at. At ``WIDE_CHECKS`` columns or more: one table with every cell whole;
    narrower: at most four lines a check (status and kind beside the name, in at most two lines;
    then the values; then source · basis), every line cut to the width with an ellipsis."""
    from implicit_bias import checks as checks_mod

    out = out or Console()
    normalized = list(map(checks_mod.normalize, checks))
    if out.width < WIDE_CHECKS:
        _print_checks_narrow(normalized, title, out)
        return
    table = Table(title=title, show_lines=False)
    for col in ("check", "kind", "predicted", "observed", "tolerance", "status", "source · basis"):
        table.add_column(
            col, overflow="fold", no_wrap=col == "kind", min_width=11 if col == "status" else None
        )
    for c in normalized:
        label = checks_mod.label(c)
        status = STATUS_STYLE.get(label, escape(label))
        if c["loss"] is not None:
            status += f"\n[dim]at loss {_fmt(float(c['loss']))}"
            if c["loss_tol"] is not None:
                status += f" (converged ≤ {_fmt(float(c['loss_tol']))})"
            status += "[/dim]"
        where = "\n".join(
            x
            for x in (
                escape(c["source"] or ""),
                f"[dim]{escape(c['basis'])}[/dim]" if c["basis"] else "",
            )
            if x
        )
        table.add_row(
            Text(c["name"]),
            c["kind"],
            Text(_fmt(c.get("predicted"))),
            Text(_fmt(c.get("observed"))),
            Text(_fmt(c.get("tolerance"))),
            status,
            where,
        )
    out.print(table)


def _print_checks_narrow(checks: list[dict], title: str, out: Console) -> None:
    from implicit_bias import checks as checks_mod

    body = max(20, out.width - 12)  # the status column (11) and one space
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=11, no_wrap=True, overflow="ellipsis")
    grid.add_column(width=body, no_wrap=True, overflow="ellipsis")
    cut = False
    for c in checks:
        label = checks_mod.label(c)
        short = SHORT_STATUS.get(label, label)
        status = Text.from_markup(STATUS_STYLE.get(label, escape(label)).replace(label, short))
        name = Text(c["name"]).wrap(out, body)
        if len(name) > 2:
            name = name[:2]
            name[1].truncate(body - 1)
            name[1].append("…")
            cut = True
        values = [
            f"{k} {_fmt(c.get(k))}" for k in ("predicted", "observed") if c.get(k) is not None
        ]
        if c.get("tolerance") is not None:
            values.append(f"tol {_fmt(c.get('tolerance'))}")
        if c["loss"] is not None:
            values.append(f"at loss {_fmt(float(c['loss']))}")
            if c["loss_tol"] is not None:
                values[-1] += f" (converged ≤ {_fmt(float(c['loss_tol']))})"
        lines = [*name, Text(" · ".join(values))]
        where = " · ".join(x for x in (c["source"], c["basis"]) if x)
        if where:
            lines.append(Text(where, style="dim"))
        cut = cut or any(len(line) > body for line in lines)
        left = Text("\n").join([status, Text(c["kind"], style="dim")])
        grid.add_row(left, Text("\n").join(lines))
    out.print(Text(title, style="bold"), no_wrap=True, overflow="ellipsis")
    out.print(grid)
    if cut:
        out.print(
            Text(
                f"(cells cut to {out.width} columns; at {WIDE_CHECKS} or more every cell is whole)",
                style="dim",
            ),
            no_wrap=True,
            overflow="ellipsis",
        )


MAX_CELL = 30  # a query result's column is at most this wide (longer cells end in …)


def _cell(v) -> str:
    """A value as one printable line: floats and decimals (DuckDB's DECIMAL, e.g. a literal 1.5)
    to 6 digits, SQL NULL (None, or NaN from a frame) as NULL."""
    from decimal import Decimal

    if v is None or (isinstance(v, float) and v != v):
        return "NULL"
    text = f"{v:.6g}" if isinstance(v, (float, Decimal)) else str(v)
    return "".join(ch if ch.isprintable() else " " for ch in text)


def result_table(columns, values, width: int) -> tuple[Table, list[str]]:
    """``values`` (tuples, one per row, as DuckDB's ``fetchall`` gives them) under ``columns`` as a
    table that fits ``width`` columns: one line a row (cells cut with … at ``MAX_CELL``), and as many
    columns, from the left, as fit; the names of the others."""
    from rich.cells import cell_len

    names = [_cell(c) for c in columns]
    rows = [[_cell(v) for v in row] for row in values]
    want = [
        min(MAX_CELL, max(cell_len(n), *(cell_len(r[i]) for r in rows), 1))
        for i, n in enumerate(names)
    ]
    shown, used = [], 1  # the left border
    for i, w in enumerate(want):
        if used + w + 3 > width:  # a column costs its width, two spaces of padding and a border
            if shown:
                break
            w = max(1, width - used - 3)
        shown.append((i, w))
        used += w + 3
    table = Table(show_header=True)
    for i, w in shown:
        table.add_column(Text(names[i]), no_wrap=True, overflow="ellipsis", max_width=w)
    for r in rows:
        table.add_row(*(Text(r[i]) for i, _ in shown))
    return table, names[len(shown) :]
