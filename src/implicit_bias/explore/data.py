"""User data for ``explore`` (``--data``/``--entries``/``--truth``), checked before anything is stored.

Files: ``.npy``; ``.npz`` (named arrays); Matrix Market ``.mtx`` (sparse ``coordinate`` or dense
``array``); text ``.csv``/``.tsv``/``.txt`` (UTF-8, separator ``,`` ``;`` tab or whitespace detected
per file, an optional header line: see ``_text``). A name ``PACKAGE:NAME`` (``skimage:camera``,
``sklearn:digits``, …: ``datasets.SOURCES``) in place of a path loads a package's data set.

A completion file (``load_completion``) is either

* an **entries table**, one observed entry per line ``(row, col, value)`` with 0-based indices: a
  text file whose header names the columns (any order; ``row/col/value``, ``i/j/v``, ``r/c``,
  ``user/item/rating``, ``row/column/value``, case-insensitive; other columns are ignored), an
  ``.npz`` array named ``entries`` (k, 3), or a sparse ``.mtx``; or
* a **matrix** whose NaN (or empty CSV fields) mark the missing entries: the observed entries are
  the finite ones. A text file, ``.npy``, an ``.npz`` with one array (or an array named ``X`` or
  ``M``), a dense ``.mtx``. A matrix with no missing entry is also returned whole (``full``).

The (k, 3) rule: a numeric (k, 3) array with no header (``.npy``, one array of an ``.npz``, a
header-less 3-column text file) is an entries table when its first two columns are non-negative
integers, otherwise a matrix. A header that names row/col/value makes a text file a table; a header
that names no such column is a matrix's column names (and the file a matrix).

Every problem is refused with a ``ConfigError`` of one line that names the file, with the 1-based
file line (header included) where a line is at fault: not UTF-8, empty, ragged lines, fields that are
not numbers, complex/text/object/structured/datetime arrays, 0-d arrays or a zero-length axis,
unreadable or truncated ``.npy``/``.npz``/``.mtx``, NaN or inf in a table or a problem's arrays,
non-integer, negative, duplicate or out-of-range indices.
"""

import io
import re
from pathlib import Path
from typing import NoReturn

import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.explore import _text

SUFFIXES = (".npy", ".npz", ".mtx", ".csv", ".tsv", ".txt")
_KINDS = {
    "U": "text strings",
    "S": "byte strings",
    "O": "Python objects",
    "M": "dates/times (datetime64)",
    "m": "time differences (timedelta64)",
}


def _fail(path, what: str) -> NoReturn:
    raise ConfigError(f"{path}: {what}")


def _one_line(e: Exception) -> str:
    """An exception's message on one line, without NumPy scalar reprs (``np.float64(0.5)`` → 0.5)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    msg = lines[0] if lines else type(e).__name__
    return re.sub(r"np\.\w+\(([^()]*)\)", r"\1", msg)


def _dims(shape) -> str:
    return "×".join(str(int(s)) for s in shape)


def _numeric(path, name: str, a) -> np.ndarray:
    """``a`` as a float64 array, refusing complex, text, object, structured and datetime arrays, 0-d
    arrays and arrays with an axis of length zero. ``name`` says which array (may be "")."""
    a = np.asarray(a)
    of = f"{name} " if name else ""
    kind = a.dtype.kind
    if kind == "c":
        _fail(path, f"{of}holds complex numbers: complex values are not supported")
    if kind == "V":
        fields = ", ".join(a.dtype.names or ()) or "raw bytes"
        _fail(path, f"{of}holds structured records ({fields}), not plain numbers")
    if kind in _KINDS:
        _fail(path, f"{of}holds {_KINDS[kind]}, not numbers")
    if kind not in "biuf":
        _fail(path, f"{of}holds values of type {a.dtype.name}, not numbers")
    if a.ndim == 0:
        _fail(path, f"{of}is a single number (a 0-d array), not an array of data")
    if 0 in a.shape:
        _fail(path, f"{of}has shape {tuple(a.shape)}: an axis of length zero (no data)")
    return a.astype(np.float64)


def _finite(path, name, a) -> np.ndarray:
    a = _numeric(path, name, a)
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        _fail(path, f"{name} has a NaN or inf entry at index {tuple(int(i) for i in bad)}")
    return a


class _File:
    """A data file, read: ``arrays`` (name → array; "" for .npy, a dense .mtx and text), ``table``
    (the parsed text, or None) and ``coo`` ((k, 3) entries and declared shape of a sparse .mtx, or
    None; its ``arrays`` are empty)."""

    def __init__(self, path: str):
        p = Path(path)
        try:
            exists, is_file = p.exists(), p.is_file()
        except (OSError, ValueError) as e:  # a name too long, a NUL byte
            _fail(path, f"cannot be read: {_one_line(e)}")
        if not exists:
            _fail(path, "no such file")
        if not is_file:
            _fail(path, "is not a file")
        suffix = p.suffix.lower()
        if suffix not in SUFFIXES:
            _fail(path, f"unknown file type {suffix!r}: use {', '.join(SUFFIXES)}")
        try:
            data = p.read_bytes()
        except OSError as e:
            _fail(path, f"cannot be read: {_one_line(e)}")
        if not data.strip():
            _fail(path, "is empty")
        self.table: _text.Table | None = None
        self.coo: tuple[np.ndarray, tuple[int, int]] | None = None
        self.arrays: dict[str, np.ndarray] = {}
        self.suffix = suffix
        if suffix in (".csv", ".tsv", ".txt"):
            self.table = _text.parse(data, lambda what: _fail(path, what))
            self.arrays = {"": self.table.rows}
            return
        try:
            if suffix == ".npy":
                self.arrays = {"": np.load(io.BytesIO(data), allow_pickle=False)}
            elif suffix == ".npz":
                with np.load(io.BytesIO(data), allow_pickle=False) as z:
                    self.arrays = {k: z[k] for k in z.files}
                if not self.arrays:
                    _fail(path, "is an .npz with no arrays")
                for k, a in self.arrays.items():
                    if not isinstance(a, np.ndarray):
                        _fail(
                            path, f"cannot be read as .npz: its member {k!r} is not a NumPy array"
                        )
            else:
                self._mtx(path)
        except ConfigError:
            raise
        except Exception as e:  # BadZipFile, EOFError, ValueError, zlib.error, …: all one line
            if "Object arrays cannot be loaded" in str(e):
                _fail(path, "holds Python objects (a pickled object array), not numbers")
            _fail(path, f"cannot be read as {suffix}: {_one_line(e)}")

    def _mtx(self, path):
        import scipy.io
        import scipy.sparse

        rows, cols, _, fmt, field, _ = scipy.io.mminfo(path)
        if field == "complex":
            _fail(path, "holds complex numbers: complex values are not supported")
        if field == "pattern":
            _fail(path, "is a pattern Matrix Market file: it has positions but no values")
        M = scipy.io.mmread(path)
        if scipy.sparse.issparse(M):
            coo = scipy.sparse.coo_matrix(M)
            T = np.stack([coo.row, coo.col, coo.data], 1).astype(np.float64)
            self.coo = (T, (int(rows), int(cols)))  # filled in only where a dense matrix is asked
        else:
            self.arrays = {"": np.asarray(M)}

    def one(self, path, names: tuple[str, ...], what: str) -> tuple[str, np.ndarray]:
        """The file's single array, or the one with the first of ``names`` present."""
        if len(self.arrays) == 1:
            return next(iter(self.arrays.items()))
        for n in names:
            if n in self.arrays:
                return n, self.arrays[n]
        _fail(
            path,
            f"holds arrays {', '.join(sorted(self.arrays))}: name {what} "
            f"{' or '.join(names)} (or save a single array)",
        )


def _named(path, arrays: dict, *names: str) -> list[np.ndarray]:
    missing = [n for n in names if n not in arrays]
    if missing:
        _fail(
            path, f"needs arrays named {', '.join(names)} (an .npz); missing {', '.join(missing)}"
        )
    return [arrays[n] for n in names]


def _is_table(T: np.ndarray) -> bool:
    """The (k, 3) rule: the first two columns are non-negative integers."""
    idx = T[:, :2]
    return bool(np.isfinite(idx).all() and (idx >= 0).all() and (idx == np.round(idx)).all())


def _at(lines, i: int) -> str:
    return f"line {int(lines[i])}" if lines is not None else f"row {int(i)} of the array"


def _at2(lines, i: int, j: int) -> str:
    if lines is not None:
        return f"on lines {int(lines[i])} and {int(lines[j])}"
    return f"at rows {int(i)} and {int(j)} of the array"


def _from_table(path, T, lines, shape, notes, *, zero_based_note=True) -> dict:
    """Checked (row, col, value) rows; ``lines`` are their file lines (None: array rows)."""
    bad = ~np.isfinite(T).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        vals = ", ".join(repr(float(v)) for v in T[i])
        _fail(
            path,
            f"{_at(lines, i)}: NaN or inf (or an empty field) in a (row, col, value) table: ({vals})",
        )
    idx = T[:, :2]
    frac = (idx != np.round(idx)).any(axis=1)
    if frac.any():
        i = int(np.argmax(frac))
        _fail(
            path,
            f"{_at(lines, i)}: indices must be integers, got ({float(idx[i, 0])}, {float(idx[i, 1])})",
        )
    neg = (idx < 0).any(axis=1)
    if neg.any():
        i = int(np.argmax(neg))
        r, c = (int(v) for v in idx[i])
        _fail(
            path,
            f"{_at(lines, i)}: index ({r}, {c}) is negative: out of range (indices are 0-based)",
        )
    huge = (idx >= 2**31).any(axis=1)
    if huge.any():
        i = int(np.argmax(huge))
        _fail(
            path,
            f"{_at(lines, i)}: index ({float(idx[i, 0]):.0f}, {float(idx[i, 1]):.0f}) is too large",
        )
    idx = idx.astype(np.int64)
    if shape is None:
        shape = (int(idx[:, 0].max()) + 1, int(idx[:, 1].max()) + 1)
    shape = (int(shape[0]), int(shape[1]))
    out = (idx[:, 0] >= shape[0]) | (idx[:, 1] >= shape[1])
    if out.any():
        i = int(np.argmax(out))
        r, c = (int(v) for v in idx[i])
        _fail(path, f"{_at(lines, i)}: index ({r}, {c}) out of range for a {_dims(shape)} matrix")
    flat = idx[:, 0] * shape[1] + idx[:, 1]
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    dup = np.arange(len(flat)) != first[inverse.ravel()]
    if dup.any():
        j = int(np.argmax(dup))
        i = int(first[inverse.ravel()[j]])
        r, c = (int(v) for v in idx[j])
        _fail(path, f"duplicate entry ({r}, {c}) {_at2(lines, i, j)}")
    if zero_based_note:
        for axis, word in ((0, "row"), (1, "column")):
            if not (idx[:, axis] == 0).any():
                notes.append(
                    f"{path}: {word} 0 is never observed: are the indices 1-based? "
                    "explore reads 0-based indices"
                )
    return {"entries": idx, "values": T[:, 2].copy(), "shape": shape, "full": None, "notes": notes}


def _from_matrix(path, M, shape, notes) -> dict:
    """The observed (finite) entries of a matrix whose NaN mark the missing ones."""
    if M.ndim != 2:
        _fail(
            path,
            f"expected a matrix or rows (row, col, value), got an array of shape {tuple(M.shape)}",
        )
    if shape is not None and tuple(int(s) for s in shape) != M.shape:
        _fail(path, f"is a {_dims(M.shape)} matrix, but the question asks for {_dims(shape)}")
    inf = np.isinf(M)
    if inf.any():
        notes.append(f"{path}: {int(inf.sum())} entries are inf: read as missing")
    seen = np.isfinite(M)
    if not seen.any():
        _fail(path, "has no observed entry: every entry of the matrix is NaN or missing")
    return {
        "entries": np.argwhere(seen).astype(np.int64),
        "values": M[seen],
        "shape": (int(M.shape[0]), int(M.shape[1])),
        "full": M.copy() if seen.all() else None,
        "notes": notes,
    }


def load_completion(path: str, shape: tuple[int, int] | None = None) -> dict:
    """The observed entries of a completion file: an entries table or a matrix with NaN for missing
    entries (see the module docstring for the forms and the (k, 3) rule). ``shape`` (rows, cols), if
    given, bounds the indices (a matrix must have it). Returns ``entries`` (k, 2) int64, ``values``
    (k,) float64, ``shape`` (rows, cols) ints, ``full`` (the complete float64 matrix when the file is
    a matrix with no missing entry, else None) and ``notes`` (one-line warnings for the user)."""
    f = _File(path)
    notes: list[str] = []
    if f.table is not None:
        t = f.table
        r = _text.roles(t.names)
        if isinstance(r, str):
            _fail(path, r)
        if r is not None:
            extra = [n for k, n in enumerate(t.names) if k not in r.values()]
            if extra:
                notes.append(f"{path}: columns {', '.join(extra)} are ignored")
            T = t.rows[:, [r["row"], r["col"], r["value"]]]
            return _from_table(path, T, t.lines, shape, notes)
        if t.names is None and t.rows.shape[1] == 3 and _is_table(t.rows):
            return _from_table(path, t.rows, t.lines, shape, notes)
        return _from_matrix(path, t.rows, shape, notes)
    if f.coo is not None:
        T, declared = f.coo
        if shape is not None and tuple(int(s) for s in shape) != declared:
            _fail(path, f"is a {_dims(declared)} matrix, but the question asks for {_dims(shape)}")
        if len(T) == 0:
            _fail(path, "has no entries")
        return _from_table(path, T, None, declared, notes, zero_based_note=False)
    if "entries" in f.arrays:
        T = _numeric(path, "entries", f.arrays["entries"])
        if T.ndim != 2 or T.shape[1] != 3:
            _fail(path, f"expected rows (row, col, value), got entries of shape {tuple(T.shape)}")
        return _from_table(path, T, None, shape, notes)
    name, a = f.one(path, ("X", "M"), "the matrix")
    a = _numeric(path, name, a)
    if f.suffix != ".mtx" and a.ndim == 2 and a.shape[1] == 3 and _is_table(a):
        return _from_table(path, a, None, shape, notes)
    return _from_matrix(path, a, shape, notes)


def load_entries(path: str, shape: tuple[int, int] | None = None):
    """(entries (k, 2) int64, values (k,) float64, shape) of a completion file (``load_completion``)."""
    d = load_completion(path, shape)
    return d["entries"], d["values"], d["shape"]


def load_matrix(path: str, what: str) -> np.ndarray:
    """A complete float64 matrix or vector (``what`` names it in messages, e.g. "the truth"): an
    ``.npy``, an ``.npz`` with one array (or one named X, M, x or truth), a text file (a header line of
    column names is skipped; a single column is a vector) or an ``.mtx`` (a sparse one is filled with
    zeros). NaN, inf, empty fields and arrays of more than two axes are refused."""
    f = _File(path)
    if f.table is not None:
        t = f.table
        bad = ~np.isfinite(t.rows)
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            _fail(
                path, f"line {int(t.lines[i])}, field {j + 1}: {what} has a NaN, inf or empty entry"
            )
        return t.rows[:, 0].copy() if t.rows.shape[1] == 1 else t.rows
    if f.coo is not None:  # a sparse .mtx: the entries it does not list are zeros
        T, (rows, cols) = f.coo
        if rows * cols > 10**8:
            _fail(path, f"is a {_dims((rows, cols))} sparse matrix: too large to fill in densely")
        a = np.zeros((rows, cols))
        a[T[:, 0].astype(np.int64), T[:, 1].astype(np.int64)] = T[:, 2]
    else:
        a = f.one(path, ("X", "M", "x", "truth"), what)[1]
    a = _finite(path, what, a)
    if a.ndim > 2:
        _fail(path, f"{what} must be a matrix or a vector, got an array of shape {tuple(a.shape)}")
    return a


def is_source(name: str) -> bool:
    """``PACKAGE:NAME`` that is not an existing path (``C:\\data.csv`` is a path: a one-letter
    prefix is a drive)."""
    try:
        if Path(name).exists():
            return False
    except (OSError, ValueError):
        return False
    return re.fullmatch(r"[A-Za-z][\w.-]+:[\w.-]+", name) is not None


def load_data(q) -> dict:
    """The data of the ``Question`` q (``q.data``: a file or a ``PACKAGE:NAME`` source), checked; a
    one-line ConfigError otherwise. Keys by ``q.problem``: completion ``entries``, ``values``,
    ``shape``, ``full``, ``notes``; full ``X``; sensing ``A``, ``X``; sparse ``A``, ``y``; regression
    ``X``, ``Y``; a source adds ``truth`` where it is known."""
    path = q.data
    if is_source(path):
        from implicit_bias.explore.datasets import load_source

        return load_source(path, q.problem, n=q.n, m=q.m, s=q.s, seed=q.seed, signed=q.signed)
    if q.problem == "completion":
        shape = (q.n, q.n_cols or q.n) if q.n else None
        return load_completion(path, shape)
    if q.problem == "full":
        W = load_matrix(path, "the target")
        if W.ndim != 2:
            _fail(path, f"the target must be a matrix, got shape {tuple(W.shape)}")
        return {"X": W}
    arrays = _File(path).arrays
    if q.problem == "sensing":
        A, X = (_finite(path, n, a) for n, a in zip(("A", "X"), _named(path, arrays, "A", "X")))
        if A.ndim != 3 or X.ndim != 2 or A.shape[1:] != X.shape:
            _fail(path, f"A must be (m, a, b) and X (a, b); got A {A.shape}, X {X.shape}")
        return {"A": A, "X": X}
    if q.problem == "sparse":
        A, y = (_finite(path, n, a) for n, a in zip(("A", "y"), _named(path, arrays, "A", "y")))
        if A.ndim != 2 or y.shape != (A.shape[0],):
            _fail(path, f"A must be (m, n) and y (m,); got A {A.shape}, y {y.shape}")
        return {"A": A, "y": y}
    X, Y = (_finite(path, n, a) for n, a in zip(("X", "Y"), _named(path, arrays, "X", "Y")))
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        _fail(path, f"X must be (n, p) and Y (n, d) with the same n; got X {X.shape}, Y {Y.shape}")
    return {"X": X, "Y": Y}
