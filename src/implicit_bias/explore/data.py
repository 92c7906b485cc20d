"""User data for ``explore`` (``--data``/``--entries``): ``.npy``, ``.npz`` (named arrays), Matrix
Market ``.mtx`` and CSV ``row,col,value``. A bad file is refused with one line naming the file and the
problem (shape, NaN, index out of range, duplicate entries), before anything is stored."""

from pathlib import Path

import numpy as np

from implicit_bias.errors import ConfigError


def _fail(path, what: str):
    raise ConfigError(f"{path}: {what}")


def _finite(path, name, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        _fail(path, f"{name} has a NaN or inf entry at index {tuple(int(i) for i in bad)}")
    return a


def _read(path: str) -> dict[str, np.ndarray]:
    """The arrays of a file: {'': array} for .npy/.mtx/.csv, the named arrays of an .npz."""
    p = Path(path)
    if not p.is_file():
        _fail(path, "no such file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return {"": np.load(p, allow_pickle=False)}
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if suffix == ".mtx":
            import scipy.io
            import scipy.sparse

            M = scipy.io.mmread(str(p))
            if scipy.sparse.issparse(M):
                coo = M.tocoo()
                return {
                    "": np.asarray(M.todense()),
                    "entries": np.stack([coo.row, coo.col, coo.data], 1),
                }
            return {"": np.asarray(M)}
        if suffix in (".csv", ".txt"):
            lines = [ln for ln in p.read_text().splitlines() if ln.strip()]
            if (
                lines
                and not lines[0]
                .replace(",", "")
                .replace(".", "")
                .replace("-", "")
                .replace("e", "")
                .replace("+", "")
                .replace(" ", "")
                .isdigit()
            ):
                lines = lines[1:]  # a header line
            rows = [ln.split(",") for ln in lines]
            widths = {len(r) for r in rows}
            if len(widths) > 1:
                bad = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
                _fail(
                    path,
                    f"line {bad + 1} has {len(rows[bad])} fields, the first has {len(rows[0])}",
                )
            try:
                return {"": np.array([[float(x) for x in r] for r in rows], dtype=np.float64)}
            except ValueError as e:
                _fail(path, f"not a number: {e}")
    except (OSError, ValueError) as e:
        _fail(path, f"cannot be read as {suffix}: {str(e).splitlines()[0]}")
    _fail(path, f"unknown file type {suffix!r}: use .npy, .npz, .mtx or .csv")


def _named(path, arrays: dict, *names: str) -> list[np.ndarray]:
    missing = [n for n in names if n not in arrays]
    if missing:
        _fail(
            path, f"needs arrays named {', '.join(names)} (an .npz); missing {', '.join(missing)}"
        )
    return [arrays[n] for n in names]


def load_entries(path: str, shape: tuple[int, int] | None = None):
    """(entries (k, 2) int, values (k,), shape) of a completion file: CSV/array rows (row, col, value)."""
    arrays = _read(path)
    T = arrays.get("entries", arrays.get("", next(iter(arrays.values()))))
    T = np.asarray(T, dtype=np.float64)
    if T.ndim != 2 or T.shape[1] != 3 or T.shape[0] == 0:
        _fail(path, f"expected rows (row, col, value), got an array of shape {T.shape}")
    _finite(path, "the (row, col, value) table", T)
    idx = T[:, :2]
    if not np.all(idx == np.round(idx)):
        line = int(np.argmax(np.any(idx != np.round(idx), axis=1)))
        _fail(path, f"row {line}: indices must be integers, got {tuple(idx[line])}")
    idx = idx.astype(np.int64)
    if (idx < 0).any():
        line = int(np.argmax((idx < 0).any(1)))
        _fail(
            path,
            f"row {line}: index out of range {tuple(map(int, idx[line]))} (indices are 0-based)",
        )
    if shape is None:
        shape = (int(idx[:, 0].max()) + 1, int(idx[:, 1].max()) + 1)
    out = (idx[:, 0] >= shape[0]) | (idx[:, 1] >= shape[1])
    if out.any():
        line = int(np.argmax(out))
        _fail(
            path,
            f"row {line}: index {tuple(map(int, idx[line]))} out of range for a {shape[0]}×{shape[1]} matrix",
        )
    flat = idx[:, 0] * shape[1] + idx[:, 1]
    uniq, first, counts = np.unique(flat, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = int(uniq[counts > 1][0])
        _fail(
            path,
            f"duplicate entry ({dup // shape[1]}, {dup % shape[1]}) ({int(counts[counts > 1][0])} times)",
        )
    return idx, T[:, 2], shape


def load_data(q) -> dict:
    """The user's arrays for the ``Question`` q's problem, checked (shapes, NaN): a one-line
    ConfigError otherwise."""
    path = q.data
    if q.problem == "completion":
        shape = (q.n, q.n_cols or q.n) if q.n else None
        idx, values, shape = load_entries(path, shape)
        return {"entries": idx, "values": values, "shape": shape}
    arrays = _read(path)
    if q.problem == "full":
        W = _finite(
            path, "the target", arrays.get("", arrays.get("X", next(iter(arrays.values()))))
        )
        if W.ndim != 2:
            _fail(path, f"the target must be a matrix, got shape {W.shape}")
        return {"X": W}
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
