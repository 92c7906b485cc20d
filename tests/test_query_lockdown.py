"""``query`` is read-only in fact (issue 15 §4): SQL sees the store's tables and nothing else."""

import re

import pytest
from typer.testing import CliRunner

from conftest import one_run_store
from implicit_bias import query
from implicit_bias.cli import app
from implicit_bias.errors import ConfigError

cli = CliRunner()


@pytest.fixture
def root(tmp_path):
    """A store with one hand-written run (nothing computed)."""
    return one_run_store(tmp_path / "store")


ATTACKS = [
    ("COPY (SELECT * FROM runs) TO '{out}/x.csv'", "x.csv"),
    ("COPY runs TO '{store}/inside.csv'", "inside.csv"),  # not even inside the store
    ("ATTACH '{out}/x.db' AS x", "x.db"),
    ("INSTALL httpfs", None),
    ("LOAD httpfs", None),
    ("SELECT * FROM read_csv('/etc/passwd')", None),
    ("SELECT * FROM read_text('/etc/passwd')", None),
    ("SELECT * FROM read_blob('/etc/passwd')", None),
    ("SELECT * FROM glob('/')", None),
    ("SELECT * FROM glob('/*')", None),
    ("SELECT * FROM read_parquet('{store}/dmf_identical/*/rows.parquet')", None),
    ("SET enable_external_access = true", None),
    ("EXPORT DATABASE '{out}/dump'", "dump"),
    ("SELECT * FROM runs_df", None),  # the frames the tables were loaded from are gone
]


@pytest.mark.parametrize("sql, leftover", ATTACKS, ids=[a for a, _ in ATTACKS])
def test_nothing_outside_the_store_is_reachable(root, tmp_path, sql, leftover):
    out = tmp_path / "out"
    out.mkdir()
    sql = sql.format(out=out, store=root)
    result = cli.invoke(app, ["query", sql, "--root", str(root)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, text
    assert re.search(r"error: query failed: (Permission|Invalid Input|Catalog) Error", text), text
    assert "Traceback" not in result.output
    assert not list(out.iterdir()) and not (root / "inside.csv").exists()


def test_select_still_works_and_csv_exports(root, tmp_path):
    assert query.query("SELECT alpha, depth, status FROM runs", root).to_dict("records") == [
        {"alpha": 0.1, "depth": 3, "status": "ok"}
    ]
    rows = query.query("SELECT hash, experiment, sum(value) AS s FROM rows GROUP BY ALL", root)
    assert rows.to_dict("records") == [
        {"hash": "0123456789abcdef", "experiment": "dmf_identical", "s": 1.5}
    ]
    joined = query.query("SELECT count(*) AS n FROM checks JOIN runs USING (hash)", root)
    assert joined["n"].item() == 1
    out = tmp_path / "export.csv"
    result = cli.invoke(
        app, ["query", "SELECT alpha, depth FROM runs", "--root", str(root), "--csv", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines() == ["alpha,depth", "0.1,3"]


def test_an_empty_store_is_queryable(tmp_path):
    assert query.query("SELECT count(*) AS n FROM runs", tmp_path)["n"].item() == 0
    assert query.query("SELECT count(*) AS n FROM rows", tmp_path)["n"].item() == 0


# --- issue 24 §5: a default time limit, a flag to lift it, and empty SQL as one line -------------

ENDLESS = "SELECT count(*) FROM range(10000000000000)"  # 10¹³ rows: hours, unless stopped


def test_a_long_query_stops_at_its_time_limit(root):
    import time

    start = time.monotonic()
    with pytest.raises(query.QueryTimeout, match=r"^the query ran longer than 1 s and was stopped"):
        query.query(ENDLESS, root, timeout=1)
    assert time.monotonic() - start < 15
    result = cli.invoke(app, ["query", ENDLESS, "--root", str(root), "--timeout", "1"])
    assert result.exit_code == 2 and result.output == (
        "error: query stopped after 1 s (--timeout 1; raise it, or --timeout 0 for no limit)\n"
    )
    # as the issue wrote it: this DuckDB has no range(DOUBLE), which is one line too
    result = cli.invoke(app, ["query", "SELECT count(*) FROM range(1e13)", "--root", str(root)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: query failed: ") and "Traceback" not in result.output


def test_the_cli_applies_the_default_limit_and_0_lifts_it(root, monkeypatch):
    seen = []
    real = query.run_sql  # what the CLI calls (query.query builds a DataFrame on it)

    def spy(sql, root, *, timeout=None, fetch):
        seen.append(timeout)
        return real(sql, root, timeout=timeout, fetch=fetch)

    monkeypatch.setattr(query, "run_sql", spy)
    for extra, expected in (([], query.DEFAULT_TIMEOUT_S), (["--timeout", "0"], None),
                            (["--timeout", "2.5"], 2.5)):  # fmt: skip
        result = cli.invoke(app, ["query", "SELECT 1 AS x", "--root", str(root), *extra])
        assert result.exit_code == 0, result.output
        assert seen.pop() == expected
    assert query.query("SELECT 1 AS x", root, timeout=0)["x"].item() == 1  # 0: no limit
    for bad in ("-1", "nan", "inf"):
        result = cli.invoke(app, ["query", "SELECT 1", "--root", str(root), "--timeout", bad])
        assert result.exit_code == 2 and result.output.startswith("error: --timeout must be")


@pytest.mark.parametrize("sql", ["", "   ", "\n\t"], ids=["empty", "blank", "whitespace"])
def test_empty_sql_is_one_line(root, sql):
    message = 'the SQL is empty: give a statement, e.g. "SELECT * FROM runs"'
    with pytest.raises(ConfigError) as caught:
        query.query(sql, root)
    assert str(caught.value) == message
    result = cli.invoke(app, ["query", sql, "--root", str(root)])
    assert result.exit_code == 2 and result.output == f"error: {message}\n"
    # a statement with nothing to return is not an error: an empty result
    assert query.query(";", root).shape == (0, 0)


def test_an_empty_table_has_the_types_its_frame_would_give():
    """``_table`` creates an empty frame's table by SQL (a fully compacted store has no folder
    runs): the same columns and types as registering the frame, for every frame it is given."""
    import duckdb
    import pandas as pd

    from implicit_bias import compact

    frames = {
        "runs": query._runs_records([]),
        "checks": compact.checks_frame([]),
        "typed": pd.DataFrame({"f": pd.Series([], dtype=float), "i": pd.Series([], dtype="int64"),
                               "b": pd.Series([], dtype=bool), "o": pd.Series([], dtype=object)}),
    }  # fmt: skip
    con = duckdb.connect()
    for name, frame in frames.items():
        query._table(con, f"by_sql_{name}", frame)
        con.register("_f", frame)
        con.execute(f"CREATE TABLE registered_{name} AS SELECT * FROM _f")
        con.unregister("_f")
        got, want = (
            con.execute(f"DESCRIBE {t}_{name}").fetchall() for t in ("by_sql", "registered")
        )
        assert got == want and len(got) == frame.shape[1], name
    # and the tables ``_connect`` makes without pandas (no folder runs, no sweep records): the
    # types the frames it would otherwise build give (a dtype changed there fails this)
    made = {
        "runs": (query.RUN_COLUMNS, None),
        "checks": (query.CHECK_COLUMNS, query._CHECK_TYPES),
        "sweeps": (query.SWEEP_COLUMNS, None),
    }
    frames["sweeps"] = pd.DataFrame.from_records([], columns=query.SWEEP_COLUMNS)
    con.register("_f", frames["sweeps"])
    con.execute("CREATE TABLE registered_sweeps AS SELECT * FROM _f")
    con.unregister("_f")
    for name, (columns, types) in made.items():
        query._empty(con, f"empty_{name}", columns, types)
        got, want = (
            con.execute(f"DESCRIBE {t}_{name}").fetchall() for t in ("empty", "registered")
        )
        assert got == want and len(got) == frames[name].shape[1], name


def test_sweep_records_are_read_only_by_sql_that_names_them(root, monkeypatch):
    """A 10⁵-run sweep's record lists every hash: ``query`` reads the records only for SQL that
    names ``sweeps`` or ``sweep_runs`` (as ``rows`` is loaded from folders only when named)."""
    from implicit_bias import sweep

    read = []
    real = sweep.read_sweeps
    monkeypatch.setattr(sweep, "read_sweeps", lambda *a, **k: read.append(1) or real(*a, **k))
    assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 1 and not read
    query.query("SELECT count(*) AS n FROM sweeps", root)
    query.query("SELECT count(*) AS n FROM SWEEP_RUNS", root)
    assert len(read) == 2


# --- issue 24 §2: DuckDB scans the compacted parts itself; the lock-down is read-only by statement


def _tree(root):
    """{relative path: sha256} of every file under the store (what a query must never change)."""
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def compacted(tmp_path):
    """Two runs compacted into one part, a third still a folder beside it, and a copy of a part
    file under a hidden name (as ``verify --repair`` leaves a broken one): no view reads it."""
    import shutil

    import pandas as pd

    from implicit_bias import compact, store

    root = one_run_store(tmp_path / "store")

    def write(h, alpha):
        store.write_run(
            root / "dmf_identical" / h,
            config={"experiment": "dmf_identical", "hash": h, "config": {"alpha": alpha},
                    "status": "ok", "created": 2.0, "checks_passed": 1, "checks_failed": 0},
            rows=pd.DataFrame({"t": [0.0], "series": "loss", "i": 0, "value": [2.0]}),
            checks=[],
        )  # fmt: skip

    write("1123456789abcdef", 0.2)
    compact.compact(root)
    write("2123456789abcdef", 0.3)  # a folder not yet compacted
    (part,) = compact.parts(root)
    shutil.copy(part.file("rows"), part.file("rows").with_name(".broken-copy.parquet"))
    return root, part


LOCKED_ATTACKS = [
    "COPY (SELECT 1 AS x) TO '{part}' (FORMAT parquet, USE_TMP_FILE false)",  # over a part
    "COPY runs TO '{part}'",
    "COPY runs TO '{store}/compacted/rows/inside.csv'",  # into the store's folders
    "COPY runs TO '{out}/x.csv'",
    "ATTACH '{part}' AS p",
    "ATTACH '{store}/compacted/x.db' AS x",
    "SELECT 1; COPY runs TO '{out}/y.csv'",  # a second statement after a SELECT
    "SELECT count(*) FROM runs; ATTACH '{out}/z.db'",
    "EXPLAIN ANALYZE COPY runs TO '{out}/e.csv'",  # EXPLAIN ANALYZE would run it
    "EXPLAIN ANALYZE SELECT 1; COPY runs TO '{out}/f.csv'",
    "CREATE TABLE t AS SELECT 1",
    "INSERT INTO sweeps SELECT * FROM sweeps",
    "DELETE FROM sweeps",
    "SET allowed_paths = ['/']",
    "PRAGMA enable_profiling",
    "CALL checkpoint()",
    "INSTALL httpfs",
    "LOAD parquet",
    "EXPORT DATABASE '{out}/dump'",
    "SELECT * FROM read_parquet('{broken}')",  # a file of the store no view reads
    "SELECT * FROM read_json('{store}/dmf_identical/2123456789abcdef/config.json')",
    "SELECT * FROM read_text('{store}/dmf_identical/2123456789abcdef/config.json')",
    "SELECT * FROM read_parquet('{store}/compacted/rows/*/*.parquet')",
    "SELECT * FROM glob('{store}/compacted/*/*/*')",
    "SELECT * FROM read_parquet('{part}/../.broken-copy.parquet')",
    "SELECT * FROM read_text('/etc/passwd')",
]


@pytest.mark.parametrize("sql", LOCKED_ATTACKS)
def test_a_compacted_store_is_read_only(compacted, tmp_path, sql):
    root, part = compacted
    out = tmp_path / "out"
    out.mkdir()
    broken = part.file("rows").with_name(".broken-copy.parquet")
    sql = sql.format(out=out, store=root, part=part.file("rows"), broken=broken)
    before = _tree(root)
    result = cli.invoke(app, ["query", sql, "--root", str(root)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, text
    assert re.search(r"error: query failed: (Permission|Invalid Input|Catalog) Error", text), text
    assert "Traceback" not in result.output
    assert not list(out.iterdir()) and _tree(root) == before
    assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 3


def test_what_is_refused_is_named_before_anything_runs(compacted, tmp_path):
    root, part = compacted
    out = tmp_path / "y.csv"
    with pytest.raises(query.QueryRefused) as caught:
        query.query(f"SELECT 1; COPY runs TO '{out}'", root)
    assert str(caught.value).startswith(
        "Permission Error: query refused: statement 2 of 2 is COPY, and the store is read-only"
    )
    assert isinstance(caught.value, ConfigError)  # bad input, and one line through the CLI
    for sql, kind in (("ATTACH 'x.db'", "ATTACH"), ("INSTALL httpfs", "LOAD"),
                      ("PRAGMA version", "PRAGMA"), ("SET threads = 1", "SET"),
                      ("EXPLAIN ANALYZE COPY runs TO 'x'", "EXPLAIN of COPY")):  # fmt: skip
        with pytest.raises(query.QueryRefused, match=f"the statement is {kind}, "):
            query.query(sql, root)
    assert not out.exists()


def test_the_compacted_views_are_duckdb_scans_and_select_still_works(compacted):
    """The part files reach DuckDB by path (``read_parquet``, allowed by exact name), not as
    Python objects: reads, EXPLAIN of a SELECT, and pushdown into the scan."""
    root, part = compacted
    runs = query.query("SELECT hash, alpha, path FROM runs ORDER BY hash", root)
    assert runs["alpha"].tolist() == [0.1, 0.2, 0.3]
    assert runs["path"].tolist() == [
        str(root / "dmf_identical" / h)
        for h in ("0123456789abcdef", "1123456789abcdef", "2123456789abcdef")
    ]
    rows = query.query("SELECT hash, sum(value) AS s FROM rows GROUP BY ALL ORDER BY hash", root)
    assert rows["s"].tolist() == [1.5, 2.0, 2.0]
    plan = " ".join(query.query("EXPLAIN SELECT hash FROM rows WHERE value > 1.9", root)
                    .astype(str).to_numpy().ravel())  # fmt: skip
    assert "READ_PARQUET" in plan.upper() and "value>1.9" in plan.replace(" ", "")
    assert len(query.query("EXPLAIN ANALYZE SELECT count(*) FROM runs", root)) == 1
    assert len(query.query("-- a comment\nEXPLAIN SELECT 1", root)) == 1
    # reading a part the views read is allowed: it is the store's own data, read-only
    n = query.query(f"SELECT count(*) AS n FROM read_parquet('{part.file('rows')}')", root)
    assert n["n"].item() == 3


def test_parts_that_disagree_on_a_type_read_as_one_view(tmp_path):
    """Two parts of one experiment whose columns differ in type (an integer and a float, a number
    and text) or exist in one only: one ``read_parquet(union_by_name)`` scan, types unified as the
    Arrow datasets' permissive unification (and the UNION of per-file scans) gave them."""
    import pandas as pd

    from implicit_bias import compact

    root = tmp_path / "store"

    def run(h, alpha, extra, value):
        meta = {"experiment": "dmf_identical", "hash": h, "config": {"alpha": alpha, **extra},
                "status": "ok", "created": 1.0, "checks_passed": 0, "checks_failed": 0}  # fmt: skip
        rows = pd.DataFrame({"t": [0.0], "series": "loss", "i": 0, "value": [value]})
        return compact.run_data(meta, rows, [])

    compact.write_batch(root, "dmf_identical", [run("0" * 16, 1, {"mode": 3}, 2)])
    compact.write_batch(root, "dmf_identical", [run("1" * 16, 0.5, {"mode": "a", "k": 1}, 2.5)])
    assert len(compact.parts(root)) == 2
    got = query.query("SELECT hash, alpha, mode, k FROM runs ORDER BY hash", root)
    assert got.to_dict("list") == {"hash": ["0" * 16, "1" * 16], "alpha": [1.0, 0.5],
                                   "mode": ["3", "a"], "k": [None, 1]}  # fmt: skip
    types = dict(query.query("DESCRIBE runs", root)[["column_name", "column_type"]].to_numpy())
    assert (types["alpha"], types["mode"], types["k"]) == ("DOUBLE", "VARCHAR", "BIGINT")
    rows = query.query("SELECT typeof(value) AS ty, sum(value) AS s FROM rows GROUP BY ALL", root)
    assert rows.to_dict("records") == [{"ty": "DOUBLE", "s": 4.5}]


def test_a_compacted_store_is_queried_without_building_a_frame(compacted, monkeypatch):
    """With no run folder and no sweep record, ``run_sql`` makes every in-memory table by SQL
    (``_empty``): no DataFrame is built on the way to DuckDB's scans (pandas is for the result)."""
    from implicit_bias import compact

    root, _ = compacted
    compact.compact(root)  # the folder too

    def no_frames(*a, **k):
        raise AssertionError("a DataFrame was built")

    monkeypatch.setattr(query, "_table", no_frames)
    monkeypatch.setattr(query, "_runs_records", no_frames)
    got = query.run_sql("SELECT count(*), sum(alpha) FROM runs", root, fetch=lambda r: r.fetchall())
    assert got == [(3, pytest.approx(0.6, rel=1e-15))]  # 0.1 + 0.2 + 0.3 in float64
