"""``explore``'s data loader (``explore/data.py``, ``explore/_text.py``, ``explore/datasets.py``): every
accepted form read back exactly, every bad file refused in one line naming the file (and the line),
and the package data sources. NumPy only (no JAX): ~2 s."""

import sys
import types
import zipfile

import numpy as np
import pytest

from implicit_bias.errors import ConfigError
from implicit_bias.explore.data import load_completion, load_data, load_entries, load_matrix
from implicit_bias.explore.datasets import SOURCES, load_source

TABLE = np.array([[0, 1, 0.25], [2, 0, -1.5e-3], [1, 2, 3.0], [0, 0, 1 / 3]])


def _write(path, text: str | bytes) -> str:
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return str(path)


def _lines(rows, sep=",") -> str:
    return "".join(sep.join(repr(float(v)) if k == 2 else str(int(v)) for k, v in enumerate(r)) + "\n" for r in rows)  # fmt: skip


def _refused(fn, *args, phrase: str, path=None) -> str:
    with pytest.raises(ConfigError) as e:
        fn(*args)
    msg = str(e.value)
    assert phrase in msg, msg
    assert "\n" not in msg and "np." not in msg, msg
    if path is not None:
        assert msg.startswith(str(path)), msg
    return msg


def _q(data, problem="completion", **kw):
    fields = dict(problem=problem, data=str(data), n=0, n_cols=0, m=0, s=5, seed=0, signed=False)
    return types.SimpleNamespace(**{**fields, **kw})


def _same_table(d, T=TABLE):
    np.testing.assert_array_equal(d["entries"], T[:, :2].astype(np.int64))
    np.testing.assert_array_equal(d["values"], T[:, 2])
    assert d["entries"].dtype == np.int64 and d["values"].dtype == np.float64
    assert d["full"] is None


# ---------------------------------------------------------------- accepted forms


@pytest.mark.parametrize(
    "header, order, sep",
    [
        ("row,col,value", (0, 1, 2), ","),
        ("value,col,row", (2, 1, 0), ","),
        ("I;J;V", (0, 1, 2), ";"),
        ("user\titem\trating", (0, 1, 2), "\t"),
        ("Column Value Row", (1, 2, 0), " "),
        ("r,c,Value", (0, 1, 2), ","),
        ("Row , Column , Value", (0, 1, 2), ","),
    ],
    ids=[
        "row-col-value",
        "any-order",
        "ijv-semicolon",
        "user-item-rating-tab",
        "whitespace",
        "r-c",
        "spaces",
    ],
)
def test_an_entries_table_with_a_header_is_read_in_any_column_order(tmp_path, header, order, sep):
    rows = TABLE[:, order]
    text = header + "\n" + "".join(sep.join(repr(float(v)) for v in r) + "\n" for r in rows)
    d = load_completion(_write(tmp_path / "t.csv", text))
    _same_table(d)
    assert d["shape"] == (3, 3) and type(d["shape"][0]) is int and d["notes"] == []


@pytest.mark.parametrize(
    "suffix, sep", [(".csv", ","), (".txt", " "), (".tsv", "\t"), (".csv", ";")]
)
def test_an_entries_table_without_header_is_row_col_value(tmp_path, suffix, sep):
    path = _write(tmp_path / f"t{suffix}", _lines(TABLE, sep))
    _same_table(load_completion(path))
    idx, values, shape = load_entries(path, (4, 5))
    np.testing.assert_array_equal(values, TABLE[:, 2])
    assert shape == (4, 5)


def test_a_separator_ending_every_line_is_dropped(tmp_path):
    _same_table(load_completion(_write(tmp_path / "t.csv", _lines(TABLE).replace("\n", ",\n"))))


def test_extra_columns_of_a_named_table_are_ignored_with_a_note(tmp_path):
    text = "userId,movieId,rating,timestamp\n" + "".join(
        f"{int(r)},{int(c)},{float(v)!r},964982703\n" for r, c, v in TABLE
    )
    d = load_completion(_write(tmp_path / "ratings.csv", text))
    _same_table(d)
    assert any("timestamp" in n and "ignored" in n for n in d["notes"])


def test_a_matrix_with_nan_or_empty_fields_gives_its_finite_entries(tmp_path):
    M = np.array([[1.5, np.nan, -2.0, 0.1], [np.nan, 4.0, 1e-300, np.nan]])
    text = "1.5,,-2.0,0.1\nnan,4.0,1e-300,\n"
    for path in (_write(tmp_path / "m.csv", text), tmp_path / "m.npy"):
        np.save(tmp_path / "m.npy", M)
        d = load_completion(str(path))
        seen = np.isfinite(M)
        np.testing.assert_array_equal(d["entries"], np.argwhere(seen))
        np.testing.assert_array_equal(d["values"], M[seen])
        assert d["shape"] == (2, 4) and d["full"] is None


def test_inf_in_a_matrix_is_read_as_missing_with_a_note(tmp_path):
    np.save(tmp_path / "m.npy", np.array([[1.0, np.inf], [-np.inf, 2.0]]))
    d = load_completion(str(tmp_path / "m.npy"))
    np.testing.assert_array_equal(d["values"], [1.0, 2.0])
    assert d["full"] is None and "2 entries are inf: read as missing" in d["notes"][0]


def test_a_complete_matrix_is_returned_whole(tmp_path):
    M = np.random.default_rng(0).standard_normal((5, 4))
    np.save(tmp_path / "m.npy", M)
    np.savetxt(tmp_path / "m.csv", M, delimiter=",", fmt="%.17g")
    for path in (tmp_path / "m.npy", tmp_path / "m.csv"):
        d = load_completion(str(path))
        np.testing.assert_array_equal(d["full"], M)
        assert d["full"].dtype == np.float64 and d["entries"].shape == (20, 2)
        np.testing.assert_array_equal(d["values"], M.ravel())


@pytest.mark.parametrize("name", ["arr_0", "X", "M"])
def test_an_npz_matrix_is_its_one_array_or_the_one_named_X_or_M(tmp_path, name):
    M = np.array([[1.0, np.nan], [0.5, 2.0], [np.nan, -1.0]])
    arrays = {name: M} if name == "arr_0" else {name: M, "other": np.ones(3)}
    np.savez(tmp_path / "m.npz", **arrays)
    d = load_completion(str(tmp_path / "m.npz"))
    np.testing.assert_array_equal(d["values"], M[np.isfinite(M)])
    assert d["shape"] == (3, 2)


def test_an_npz_entries_array_is_a_table(tmp_path):
    np.savez(tmp_path / "e.npz", entries=TABLE, X=np.ones((2, 2)))
    _same_table(load_completion(str(tmp_path / "e.npz")))


def test_matrix_market_sparse_is_entries_and_dense_is_a_matrix(tmp_path):
    sparse = (
        "%%MatrixMarket matrix coordinate real general\n% c\n3 4 3\n1 2 0.25\n3 1 -1.5\n2 4 7\n"
    )
    d = load_completion(_write(tmp_path / "s.mtx", sparse))
    np.testing.assert_array_equal(d["entries"], [[0, 1], [2, 0], [1, 3]])
    np.testing.assert_array_equal(d["values"], [0.25, -1.5, 7.0])
    assert d["shape"] == (3, 4) and d["notes"] == []
    big = "%%MatrixMarket matrix coordinate real general\n100000 200000 1\n100000 1 2.5\n"
    d = load_completion(_write(tmp_path / "big.mtx", big))  # never filled in densely
    assert d["shape"] == (100000, 200000) and d["entries"].tolist() == [[99999, 0]]
    np.testing.assert_array_equal(
        load_data(_q(tmp_path / "s.mtx", "full"))["X"][2], [-1.5, 0, 0, 0]
    )
    dense = "%%MatrixMarket matrix array real general\n2 3\n1\n2\nnan\n4\n5\n6\n"
    d = load_completion(_write(tmp_path / "d.mtx", dense))
    assert d["shape"] == (2, 3)
    np.testing.assert_array_equal(d["values"], [1.0, 5.0, 2.0, 4.0, 6.0])  # column-major file


def test_the_k_by_3_rule_table_when_the_first_two_columns_are_nonnegative_integers(tmp_path):
    np.save(tmp_path / "t.npy", TABLE)
    _same_table(load_completion(str(tmp_path / "t.npy")))
    M = np.array([[0.5, 1.0, 2.0], [3.0, 4.0, 5.0]])  # a fractional first column: a matrix
    np.save(tmp_path / "m.npy", M)
    np.testing.assert_array_equal(load_completion(str(tmp_path / "m.npy"))["full"], M)
    N = np.array([[-1.0, 1.0, 2.0], [3.0, 4.0, 5.0]])  # a negative index: a matrix
    d = load_completion(_write(tmp_path / "n.csv", "-1,1,2\n3,4,5\n"))
    np.testing.assert_array_equal(d["full"], N)
    d = load_completion(
        _write(tmp_path / "h.csv", "a,b,c\n0,1,2\n3,4,5\n")
    )  # a header naming no role
    np.testing.assert_array_equal(d["full"], [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])


@pytest.mark.parametrize("first", ["1.5E-1,2,3", "nan,2,3", "inf,-3,1", "-3,1e2,+4"])
def test_a_first_line_of_numbers_is_data_not_a_header(tmp_path, first):
    d = load_completion(_write(tmp_path / "m.csv", first + "\n1,2,3.5\n"))
    assert d["shape"] == (2, 3)
    assert np.array_equal(d["entries"][-1], [1, 2]) and d["values"][-1] == 3.5
    want = np.array([float(f) for f in first.split(",")])
    got = np.full(3, np.nan)
    first_row = d["entries"][:, 0] == 0
    got[d["entries"][first_row, 1]] = d["values"][first_row]
    np.testing.assert_array_equal(got[np.isfinite(want)], want[np.isfinite(want)])


def test_a_utf8_byte_order_mark_is_dropped(tmp_path):
    text = "row,col,value\n" + _lines(TABLE)
    _same_table(load_completion(_write(tmp_path / "a.csv", "\ufeff" + text)))
    d = load_completion(_write(tmp_path / "b.csv", "\ufeff" + _lines(TABLE)))  # BOM, no header
    _same_table(d)


def test_indices_from_one_are_read_with_a_note(tmp_path):
    d = load_completion(_write(tmp_path / "t.csv", "1,1,2.0\n2,3,1.0\n"))
    notes = " | ".join(d["notes"])
    assert (
        "row 0 is never observed: are the indices 1-based? explore reads 0-based indices" in notes
    )
    assert "column 0 is never observed" in notes and d["shape"] == (3, 4)


def test_load_matrix_reads_complete_matrices_and_vectors(tmp_path):
    M = np.random.default_rng(1).standard_normal((3, 4))
    x = np.array([0.0, 1.5, -2.0])
    np.save(tmp_path / "m.npy", M)
    np.savez(tmp_path / "x.npz", x=x, other=np.ones(2))
    np.savetxt(tmp_path / "m.csv", M, delimiter=",", fmt="%.17g", header="a,b,c,d", comments="")
    _write(tmp_path / "x.csv", "x\n0\n1.5\n-2\n")
    _write(tmp_path / "s.mtx", "%%MatrixMarket matrix coordinate real general\n2 2 1\n2 1 3.5\n")
    np.testing.assert_array_equal(load_matrix(str(tmp_path / "m.npy"), "the truth"), M)
    np.testing.assert_array_equal(load_matrix(str(tmp_path / "m.csv"), "the truth"), M)
    np.testing.assert_array_equal(load_matrix(str(tmp_path / "x.npz"), "the truth"), x)
    np.testing.assert_array_equal(load_matrix(str(tmp_path / "x.csv"), "the truth"), x)
    np.testing.assert_array_equal(
        load_matrix(str(tmp_path / "s.mtx"), "the truth"), [[0, 0], [3.5, 0]]
    )
    assert load_matrix(str(tmp_path / "m.npy"), "the truth").dtype == np.float64


def test_load_data_keeps_its_keys_for_files(tmp_path):
    d = load_data(_q(_write(tmp_path / "t.csv", "row,col,value\n" + _lines(TABLE)), n=4))
    assert {"entries", "values", "shape"} <= set(d) and d["shape"] == (4, 4)
    np.savez(tmp_path / "s.npz", A=np.eye(3)[:2], y=np.ones(2))
    assert set(load_data(_q(tmp_path / "s.npz", "sparse"))) == {"A", "y"}
    np.savez(tmp_path / "r.npz", X=np.ones((4, 2)), Y=np.ones((4, 3)))
    assert set(load_data(_q(tmp_path / "r.npz", "regression"))) == {"X", "Y"}
    np.savez(tmp_path / "g.npz", A=np.ones((5, 2, 2)), X=np.eye(2))
    assert set(load_data(_q(tmp_path / "g.npz", "sensing"))) == {"A", "X"}
    np.save(tmp_path / "w.npy", np.eye(3))
    np.testing.assert_array_equal(load_data(_q(tmp_path / "w.npy", "full"))["X"], np.eye(3))


def test_an_existing_file_whose_name_has_a_colon_is_a_file_not_a_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "my:data.csv", _lines(TABLE))
    _same_table(load_data(_q("my:data.csv")))


# ---------------------------------------------------------------- refused: text


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = _write(tmp_path / "l.csv", b"row,col,value\n0,1,2\n" + "0,2,caf\xe9\n".encode("latin-1"))
    msg = _refused(load_completion, path, phrase="is not UTF-8 text", path=path)
    assert "line 3" in msg


def test_a_field_that_is_not_a_number_names_its_line_and_text(tmp_path):
    path = _write(tmp_path / "t.csv", "row,col,value\n\n0,1,2\n1,0,abc\n")
    _refused(load_completion, path, phrase="line 4, field 3: 'abc' is not a number", path=path)


def test_a_ragged_line_names_its_line_and_field_counts(tmp_path):
    path = _write(tmp_path / "m.csv", "1,2,3\n4,5,6\n7,8\n")
    _refused(load_completion, path, phrase="line 3 has 2 fields, line 1 has 3", path=path)
    path = _write(tmp_path / "t.csv", "row,col,value\n0,1,2,7\n")
    _refused(load_completion, path, phrase="line 2 has 4 fields, the header (line 1) has 3")


def test_complex_values_are_refused(tmp_path):
    path = _write(tmp_path / "c.csv", "0,1,2\n1,0,1+2j\n")
    _refused(
        load_completion, path, phrase="line 2, field 3: '1+2j': complex values are not supported"
    )
    np.save(tmp_path / "c.npy", np.ones((2, 2), complex))
    _refused(load_completion, str(tmp_path / "c.npy"), phrase="complex values are not supported")
    _refused(
        load_matrix, str(tmp_path / "c.npy"), "the truth", phrase="complex values are not supported"
    )
    mtx = "%%MatrixMarket matrix coordinate complex general\n2 2 1\n1 1 1.0 2.0\n"
    _refused(
        load_completion, _write(tmp_path / "c.mtx", mtx), phrase="complex values are not supported"
    )


@pytest.mark.parametrize(
    "text, phrase",
    [("", "is empty"), ("\n  \n", "is empty"), ("# only a comment\n", "is empty (no data lines)"),
     ("row,col,value\n", "has a header (line 1) but no data lines")],
    ids=["empty", "blank", "comment", "header-only"],
)  # fmt: skip
def test_an_empty_text_file_is_refused(tmp_path, text, phrase):
    path = _write(tmp_path / "e.csv", text)
    _refused(load_completion, path, phrase=phrase, path=path)


def test_a_header_naming_two_roles_but_not_the_third_is_refused(tmp_path):
    path = _write(tmp_path / "t.csv", "user,item,score\n0,1,2\n")
    _refused(load_completion, path, phrase="names no value column")


# ---------------------------------------------------------------- refused: arrays


@pytest.mark.parametrize(
    "array, phrase",
    [
        (np.array([["a", "b"], ["c", "d"]]), "holds text strings, not numbers"),
        (np.array([b"ab", b"cd"]), "holds byte strings, not numbers"),
        (np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), "holds structured records (a, b)"),
        (np.array(["2024-01-01"], dtype="datetime64[D]"), "holds dates/times (datetime64)"),
        (np.array(3.0), "a 0-d array"),
        (np.zeros((0, 3)), "has shape (0, 3): an axis of length zero"),
        (np.zeros((4, 0)), "has shape (4, 0): an axis of length zero"),
    ],
    ids=["str", "bytes", "structured", "datetime", "0-d", "no-rows", "no-columns"],
)
def test_arrays_that_are_not_numeric_data_are_refused(tmp_path, array, phrase):
    np.save(tmp_path / "a.npy", array)
    path = str(tmp_path / "a.npy")
    _refused(load_completion, path, phrase=phrase, path=path)
    _refused(load_matrix, path, "the truth", phrase=phrase, path=path)


def test_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([1, "a", None], dtype=object))
    _refused(load_completion, str(tmp_path / "o.npy"), phrase="holds Python objects")
    np.savez(tmp_path / "o.npz", X=np.array([1, None], dtype=object))
    _refused(load_completion, str(tmp_path / "o.npz"), phrase="holds Python objects")


def test_empty_and_truncated_npy_npz_files_are_refused(tmp_path):
    np.save(tmp_path / "full.npy", np.ones((10, 10)))
    np.savez(tmp_path / "full.npz", X=np.ones((50, 50)))
    for name in ("full.npy", "full.npz"):
        data = (tmp_path / name).read_bytes()
        for cut, label in ((0, "empty"), (20, "cut"), (len(data) // 2, "half")):
            path = _write(tmp_path / f"{label}{name[4:]}", data[:cut])
            phrase = "is empty" if cut == 0 else "cannot be read as"
            _refused(load_completion, path, phrase=phrase, path=path)
            _refused(load_matrix, path, "the truth", phrase=phrase, path=path)
    np.savez(tmp_path / "none.npz")
    _refused(load_completion, str(tmp_path / "none.npz"), phrase="is an .npz with no arrays")
    with zipfile.ZipFile(tmp_path / "junk.npz", "w") as z:
        z.writestr("X.npy", b"not an npy")
    _refused(load_completion, str(tmp_path / "junk.npz"), phrase="member 'X' is not a NumPy array")
    member = (tmp_path / "full.npy").read_bytes()[:150]  # the .npy magic, then cut short
    with zipfile.ZipFile(tmp_path / "short.npz", "w") as z:
        z.writestr("X.npy", member)
    _refused(load_completion, str(tmp_path / "short.npz"), phrase="cannot be read as .npz")


def test_an_npz_of_several_unnamed_arrays_is_refused(tmp_path):
    np.savez(tmp_path / "m.npz", a=np.ones((2, 2)), b=np.ones((2, 2)))
    _refused(
        load_completion, str(tmp_path / "m.npz"), phrase="holds arrays a, b: name the matrix X or M"
    )


def test_bad_matrix_market_files_are_refused(tmp_path):
    bad = "%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n4 2 2.0\n"
    _refused(load_completion, _write(tmp_path / "b.mtx", bad), phrase="cannot be read as .mtx")
    pattern = "%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1\n"
    _refused(
        load_completion, _write(tmp_path / "p.mtx", pattern), phrase="has positions but no values"
    )
    _refused(
        load_completion, _write(tmp_path / "j.mtx", "hello\n"), phrase="cannot be read as .mtx"
    )
    dup = "%%MatrixMarket matrix coordinate real general\n2 2 2\n1 2 1.0\n1 2 3.0\n"
    _refused(load_completion, _write(tmp_path / "d.mtx", dup), phrase="duplicate entry (0, 1)")


def test_unknown_types_and_missing_files_are_refused(tmp_path):
    _refused(load_completion, str(tmp_path / "x.csv"), phrase="no such file")
    path = _write(tmp_path / "x.parquet", "data")
    _refused(load_completion, path, phrase="unknown file type '.parquet'")
    _refused(load_completion, str(tmp_path), phrase="is not a file")


# ---------------------------------------------------------------- refused: entries and values


def test_nan_or_inf_in_an_entries_table_is_refused(tmp_path):
    path = _write(tmp_path / "t.csv", "row,col,value\n0,1,2\n1,0,nan\n")
    _refused(load_completion, path, phrase="line 3: NaN or inf", path=path)
    path = _write(tmp_path / "e.csv", "i,j,v\n0,1,2\n1,0,\n")
    _refused(load_completion, path, phrase="line 3: NaN or inf (or an empty field)")
    np.savez(tmp_path / "e.npz", entries=np.array([[0, 1, 1.0], [1, 1, np.inf]]))
    _refused(load_completion, str(tmp_path / "e.npz"), phrase="row 1 of the array: NaN or inf")


@pytest.mark.parametrize(
    "problem, arrays, phrase",
    [
        ("sensing", {"A": np.full((2, 2, 2), np.nan), "X": np.eye(2)}, "A has a NaN or inf entry at index (0, 0, 0)"),
        ("sensing", {"A": np.ones((2, 2, 2)), "X": np.array([[1, np.inf], [0, 1]])}, "X has a NaN or inf entry at index (0, 1)"),
        ("sparse", {"A": np.ones((2, 3)), "y": np.array([1.0, np.nan])}, "y has a NaN or inf entry at index (1,)"),
        ("regression", {"X": np.ones((3, 2)), "Y": np.array([[1.0], [-np.inf], [0]])}, "Y has a NaN or inf entry at index (1, 0)"),
        ("sparse", {"A": np.ones((2, 3), complex), "y": np.ones(2)}, "A holds complex numbers"),
        ("regression", {"X": np.zeros((0, 2)), "Y": np.ones((0, 1))}, "X has shape (0, 2)"),
    ],
    ids=["sensing-A", "sensing-X", "sparse-y", "regression-Y", "complex-A", "empty-X"],
)  # fmt: skip
def test_nan_inf_and_bad_arrays_of_the_other_problems_are_refused(
    tmp_path, problem, arrays, phrase
):
    np.savez(tmp_path / "d.npz", **arrays)
    _refused(load_data, _q(tmp_path / "d.npz", problem), phrase=phrase, path=tmp_path / "d.npz")
    np.save(tmp_path / "w.npy", np.array([[1.0, np.nan], [0, 1]]))
    _refused(
        load_data,
        _q(tmp_path / "w.npy", "full"),
        phrase="the target has a NaN or inf entry at index (0, 1)",
    )


def test_duplicate_entries_name_both_lines(tmp_path):
    path = _write(tmp_path / "t.csv", "row,col,value\n0,0,1\n0,1,2\n# a comment\n1,0,3\n0,1,4\n")
    _refused(load_completion, path, phrase="duplicate entry (0, 1) on lines 3 and 6", path=path)
    np.save(tmp_path / "t.npy", np.array([[0, 0, 1.0], [1, 1, 2.0], [0, 0, 3.0]]))
    _refused(
        load_completion,
        str(tmp_path / "t.npy"),
        phrase="duplicate entry (0, 0) at rows 0 and 2 of the array",
    )


def test_negative_and_non_integer_indices_are_refused(tmp_path):
    path = _write(tmp_path / "t.csv", "row,col,value\n0,1,2\n-1,0,1\n")
    _refused(load_completion, path, phrase="line 3: index (-1, 0) is negative: out of range")
    path = _write(tmp_path / "f.csv", "i,j,v\n0,1.5,2\n")
    _refused(load_completion, path, phrase="line 2: indices must be integers, got (0.0, 1.5)")
    np.savez(tmp_path / "e.npz", entries=np.array([[0, 1, 1.0], [0.5, 1, 1.0]]))
    _refused(
        load_completion,
        str(tmp_path / "e.npz"),
        phrase="row 1 of the array: indices must be integers",
    )


def test_indices_out_of_range_for_a_given_shape_are_refused(tmp_path):
    path = _write(tmp_path / "t.csv", "row,col,value\n0,1,2\n5,0,1\n")
    _refused(
        load_completion, path, (4, 4), phrase="line 3: index (5, 0) out of range for a 4×4 matrix"
    )
    _refused(load_data, _q(path, n=4, n_cols=6), phrase="out of range for a 4×6 matrix")
    np.save(tmp_path / "m.npy", np.ones((3, 2)))
    _refused(
        load_completion,
        str(tmp_path / "m.npy"),
        (4, 4),
        phrase="is a 3×2 matrix, but the question asks for 4×4",
    )


def test_a_matrix_with_no_observed_entry_is_refused(tmp_path):
    np.save(tmp_path / "m.npy", np.full((2, 2), np.nan))
    _refused(load_completion, str(tmp_path / "m.npy"), phrase="has no observed entry")


def test_load_matrix_refuses_missing_entries_and_three_axes(tmp_path):
    path = _write(tmp_path / "m.csv", "1,2\n3,\n")
    _refused(
        load_matrix,
        path,
        "the truth",
        phrase="line 2, field 2: the truth has a NaN, inf or empty entry",
    )
    np.save(tmp_path / "n.npy", np.array([1.0, np.nan]))
    _refused(
        load_matrix,
        str(tmp_path / "n.npy"),
        "the truth",
        phrase="the truth has a NaN or inf entry at index (1,)",
    )
    np.save(tmp_path / "c.npy", np.ones((2, 2, 2)))
    _refused(
        load_matrix,
        str(tmp_path / "c.npy"),
        "the truth",
        phrase="the truth must be a matrix or a vector",
    )


# ---------------------------------------------------------------- package sources


def test_skimage_camera_is_a_complete_matrix_in_0_1():
    pytest.importorskip("skimage")
    d = load_source("skimage:camera", "completion", n=32)
    assert (
        d["shape"] == (32, 32) and d["full"].shape == (32, 32) and d["entries"].shape == (1024, 2)
    )
    assert d["full"].dtype == np.float64 and 0 <= d["full"].min() and d["full"].max() <= 1
    np.testing.assert_array_equal(d["values"], d["full"][d["entries"][:, 0], d["entries"][:, 1]])
    np.testing.assert_array_equal(d["truth"], d["full"])
    full = load_data(_q("skimage:camera", "full"))
    assert full["X"].shape == (512, 512) and full["X"].max() <= 1 and full["X"].std() > 0.1


def test_sklearn_digits_regression():
    pytest.importorskip("sklearn")
    d = load_source("sklearn:digits", "regression", n=100)
    assert d["X"].shape == (100, 64) and d["Y"].shape == (100, 10)
    assert d["X"].min() == 0 and d["X"].max() == 1
    np.testing.assert_array_equal(d["Y"].sum(1), np.ones(100))
    assert set(np.unique(d["Y"])) == {0.0, 1.0}
    assert load_source("sklearn:digits", "regression")["X"].shape == (1797, 64)


def test_sklearn_linnerud_is_standardized():
    pytest.importorskip("sklearn")
    d = load_data(_q("sklearn:linnerud", "regression"))
    assert d["X"].shape == (20, 3) and d["Y"].shape == (20, 3)
    for a in (d["X"], d["Y"]):
        np.testing.assert_allclose(a.mean(0), 0, atol=1e-12)
        np.testing.assert_allclose(a.std(0), 1, atol=1e-12)


@pytest.mark.parametrize("signed", [True, False])
def test_scipy_dct_sensing_matrix_and_sparse_x(signed):
    d = load_source("scipy:dct", "sparse", n=64, m=24, s=5, seed=3, signed=signed)
    A, y, x = d["A"], d["y"], d["truth"]
    assert A.shape == (24, 64) and y.shape == (24,) and x.shape == (64,)
    np.testing.assert_allclose(A @ x, y, rtol=0, atol=1e-12)
    np.testing.assert_allclose((A**2).sum(0).mean(), 1.0, rtol=1e-12)  # unit column norm on average
    np.testing.assert_allclose(
        A @ A.T, (64 / 24) * np.eye(24), atol=1e-12
    )  # distinct orthonormal rows
    nz = x[x != 0]
    assert len(nz) == 5 and np.all((np.abs(nz) >= 1) & (np.abs(nz) <= 2))
    assert (nz < 0).any() if signed else (nz > 0).all()
    again = load_data(_q("scipy:dct", "sparse", n=64, m=24, s=5, seed=3, signed=signed))
    np.testing.assert_array_equal(again["A"], A)


def test_sklearn_digits_dictionary():
    pytest.importorskip("sklearn")
    d = load_source("sklearn:digits-dictionary", "sparse", n=200, s=4, seed=1)
    A, y, x = d["A"], d["y"], d["truth"]
    assert A.shape == (64, 200) and x.shape == (200,) and np.count_nonzero(x) == 4
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(A @ x, y, rtol=0, atol=1e-12)
    assert np.abs(A.T @ A - np.eye(200)).max() > 0.9  # coherent: near-parallel columns


def test_unknown_sources_and_wrong_problems_are_refused():
    msg = _refused(
        load_source,
        "sklearn:iris",
        "regression",
        phrase="unknown data source 'sklearn:iris'; known:",
    )
    assert all(name in msg for name in SOURCES)
    _refused(
        load_data,
        _q("skimage:camera", "sparse"),
        phrase="skimage:camera serves the completion and full problems, not sparse",
    )
    _refused(
        load_source,
        "scipy:dct",
        "completion",
        phrase="scipy:dct serves the sparse problem, not completion",
    )
    _refused(load_source, "scipy:dct", "sparse", phrase="give the number of measurements m")


def test_a_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    _refused(
        load_source,
        "skimage:camera",
        "full",
        phrase='needs scikit-image, which is not installed: pip install "implicit-bias[examples]"',
    )
    _refused(
        load_source,
        "sklearn:digits",
        "regression",
        phrase='needs scikit-learn, which is not installed: pip install "implicit-bias[examples]"',
    )
