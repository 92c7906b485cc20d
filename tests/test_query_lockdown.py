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
    real = query.query

    def spy(sql, root, *, timeout=None):
        seen.append(timeout)
        return real(sql, root, timeout=timeout)

    monkeypatch.setattr(query, "query", spy)
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
