"""Text tables (``.csv``, ``.tsv``, ``.txt``) for ``explore``'s data files.

The bytes must be UTF-8 (a byte-order mark is dropped). Lines are counted as in the file (1-based);
blank lines and lines starting with ``#`` are skipped. The separator is detected per file from the
first two content lines: a tab, else ``;``, else ``,``, else runs of whitespace. The first content
line is a header only when one of its fields does not parse as a float (``1.5E-1``, ``nan``, ``inf``,
``-3`` are numbers, so such a line is data; a line whose other fields are complex numbers such as
``1+2j`` is refused). An empty field (``1,,3``) is a missing entry (NaN).
Fields may be wrapped in double quotes; a separator that ends every line is dropped.
"""

import dataclasses
import re
from collections.abc import Callable

import numpy as np

# header names of an entries table, case-insensitive (spaces, "-" and "_" ignored)
ROLES = {
    "row": ("row", "rows", "i", "r", "user", "userid", "rowid", "rowindex"),
    "col": ("col", "cols", "column", "columns", "j", "c", "item", "itemid", "movie", "movieid",
            "colid", "colindex", "columnindex"),
    "value": ("value", "values", "v", "val", "rating", "ratings"),
}  # fmt: skip


@dataclasses.dataclass
class Table:
    """A parsed text file: header fields (or None), the numbers (NaN where a field is empty) and the
    1-based file line of each row."""

    names: list[str] | None
    rows: np.ndarray  # (N, F) float64
    lines: np.ndarray  # (N,) int64
    header_line: int | None


def roles(names: list[str] | None) -> dict[str, int] | str | None:
    """{"row": column, "col": column, "value": column} when the header names all three roles (in any
    order; synonyms in ``ROLES``); None when it names at most one (a matrix's column names); an
    error message when it names two roles but not the third, or a role twice."""
    if not names:
        return None
    found: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        key = re.sub(r"[\s_\-]", "", name).lower()
        for role, synonyms in ROLES.items():
            if key in synonyms:
                found.setdefault(role, []).append(k)
    if len(found) < 2:
        return None
    twice = [r for r, cols in found.items() if len(cols) > 1]
    if twice:
        return f"the header names the {twice[0]} column twice ({', '.join(map(repr, names))})"
    missing = [r for r in ROLES if r not in found]
    if missing:
        return (
            f"the header ({', '.join(map(repr, names))}) names no {' and no '.join(missing)} column "
            f"(a row, col, value header: e.g. row/col/value, i/j/v, user/item/rating)"
        )
    return {r: cols[0] for r, cols in found.items()}


def _field(f: str) -> str:
    f = f.strip()
    if len(f) >= 2 and f[0] == f[-1] == '"':
        f = f[1:-1].strip()
    return f


def _is_number(f: str) -> bool:
    if not f:
        return True  # an empty field: a missing entry
    try:
        float(f)
    except ValueError:
        return False
    return True


def _is_complex(f: str) -> bool:
    """A complex number with a digit (``1+2j``, ``3j``; a lone ``j`` is a column name)."""
    try:
        complex(f)
    except ValueError:
        return False
    return any(c.isdigit() for c in f)


def parse(data: bytes, fail: Callable[[str], None]) -> Table:
    """The ``Table`` of a text file's bytes; ``fail(message)`` raises on anything unreadable (not
    UTF-8, no data lines, a ragged line, a field that is not a number)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        fail(f"is not UTF-8 text (byte {e.start}, line {line}): save it as UTF-8")
    text = text.removeprefix("\ufeff")
    content = [
        (n, ln)
        for n, ln in enumerate(re.split(r"\r\n|\r|\n", text), start=1)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not content:
        fail("is empty (no data lines)")
    sample = [ln for _, ln in content[:2]]
    sep = next((s for s in ("\t", ";", ",") if any(s in ln for ln in sample)), None)
    split = [[_field(f) for f in ln.split(sep)] for _, ln in content]
    lines = [n for n, _ in content]
    if sep is not None and all(len(fs) > 1 and fs[-1] == "" for fs in split):
        split = [fs[:-1] for fs in split]  # a separator that ends every line
    names, header_line = None, None
    words = [(j, f) for j, f in enumerate(split[0], start=1) if not _is_number(f)]
    if words and all(_is_complex(f) for _, f in words):  # 1+2j is a value, not a column name
        j, f = words[0]
        fail(f"line {lines[0]}, field {j}: {f[:40]!r}: complex values are not supported")
    if words:
        names, header_line = split[0], lines[0]
        split, lines = split[1:], lines[1:]
        if not split:
            fail(f"has a header (line {header_line}) but no data lines")
    width = len(names) if names is not None else len(split[0])
    for fields, n in zip(split, lines):
        if len(fields) != width:
            if names is not None:
                what = f"the header (line {header_line}) has {width}"
                r = roles(names)
                if isinstance(r, dict) and width == 3:
                    what += ": expected rows (row, col, value) as the header says"
            else:
                what = f"line {lines[0]} has {width}"
            fail(f"line {n} has {len(fields)} fields, {what}")
    try:
        rows = np.array([[float(f) if f else np.nan for f in fs] for fs in split], dtype=np.float64)
    except ValueError:
        for fields, n in zip(split, lines):
            for j, f in enumerate(fields, start=1):
                if not _is_number(f):
                    try:
                        complex(f)
                    except ValueError:
                        fail(f"line {n}, field {j}: {f[:40]!r} is not a number")
                    fail(f"line {n}, field {j}: {f[:40]!r}: complex values are not supported")
        raise
    return Table(names, rows.reshape(len(split), width), np.asarray(lines, np.int64), header_line)
