"""SQL over the results store, by DuckDB. DuckDB only reads; runs are written as Parquet files.

Views (``implicit-bias query "SQL"`` and ``query(sql)``):

    runs         one row per stored run: experiment, hash, status, created, elapsed_s, checks_passed,
                 checks_failed, the counts by kind (claims_passed, claims_total, claims_outside,
                 claims_unconverged, claims_certified, hypotheses_met, hypotheses_total, sanity_passed, sanity_total;
                 see ``checks.counts``), and every config field as a column (NULL where an
                 experiment lacks it)
    rows         every run's tidy rows, with experiment and hash; join ``runs`` USING (hash) for configs
    estimates    the arrays a run kept (explore: the final ``estimate`` and each ``baseline_<name>``):
                 name, i, j (−1 for a vector), value, hash, experiment
    checks       one row per theory check: experiment, hash, name, kind (claim / hypothesis / sanity),
                 status (pass / fail / unconverged / outside), passed (the comparison's own verdict),
                 predicted, observed, tolerance, source, basis, loss, loss_tol, detail
    sweeps       one row per sweep: id, experiment, status, n_runs, n_done, n_failed
    sweep_runs   (sweep_id, hash) membership

    implicit-bias query "SELECT alpha, depth, avg(checks_failed) FROM runs GROUP BY ALL"

Read-only in fact, and lazy: the compacted parts (``compact.py``: Parquet per experiment) are
scanned by DuckDB's own Parquet reader (``read_parquet([exact files], union_by_name = true)``),
so it pushes projections and filters into the scan and reads only what a query needs; the few run
folders not yet compacted are loaded into in-memory tables (their ``rows`` only when the SQL names
it), and the views are their ``UNION ALL BY NAME`` (a run both compacted and a folder counts once:
the folder). Then the connection is locked: ``allowed_paths`` = exactly the part files the views
scan, ``enable_external_access = false`` (no other file, network or database: read_parquet of a
store file no view reads, a run folder's config.json, read_csv('/etc/passwd'), read_text, glob
all fail), extension autoinstall/autoload off, Python replacement scans off,
``lock_configuration = true``. And the SQL itself must only read (``read_only_statements``:
SELECT, or EXPLAIN of one; COPY … TO, ATTACH, INSTALL, SET, CREATE, … are refused with
``QueryRefused`` before anything runs — DuckDB would let COPY write over an allowed part).
``implicit-bias query --csv FILE`` is the way to export. Broken runs (``store.verify_run``) and
parts whose files do not have their manifest's sizes are skipped with a one-line warning
(checksums: ``verify`` and ``compact``).
"""

from __future__ import annotations  # pandas in annotations only: imported where a frame is made

import contextlib
import json
import math
import os
import re
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from implicit_bias import checks as checks_mod, compact, store, sweep as sweep_mod
from implicit_bias.errors import BrokenRunWarning, ConfigError

if TYPE_CHECKING:
    import pandas as pd


def _plain(v):
    """Config values as DuckDB-friendly scalars: tuples become JSON text."""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return v


COUNT_COLUMNS = (
    "claims_passed", "claims_total", "claims_outside", "claims_unconverged", "claims_certified",
    "hypotheses_met", "hypotheses_total", "sanity_passed", "sanity_total",
)  # fmt: skip


RUN_COLUMNS = [
    "experiment", "hash", "status", "created", "elapsed_s", "checks_passed", "checks_failed",
    *COUNT_COLUMNS, "path",
]  # fmt: skip


def _counts(cfg: dict, path: Path) -> dict:
    """The run's counts by kind: stored in config.json by the runner; for runs stored before that,
    computed from checks.json (whose checks then all read as claims)."""
    if all(k in cfg for k in COUNT_COLUMNS):
        return {k: cfg[k] for k in COUNT_COLUMNS}
    return checks_mod.counts(store.read_checks(path))


def _folder_runs(root: Path, experiment: str | None = None) -> list[tuple[Path, dict]]:
    """The complete run folders not yet compacted (few), with their config.json, oldest first; a
    broken or copied one is skipped with one line (as ``store.runs``)."""
    found = []
    for p in store.run_folders(root, experiment):
        why = store.verify_stored(p) if hasattr(store, "verify_stored") else store.verify_run(p)
        if why is None:
            try:
                found.append((p, store.read_config(p)))
            except (OSError, ValueError):
                continue
        else:
            warnings.warn(store.skipped_message(p, why), BrokenRunWarning, stacklevel=3)
    created = [c.get("created", 0) for _, c in found]
    order = sorted(range(len(found)), key=lambda i: (
        created[i] if isinstance(created[i], (int, float)) else 0, str(found[i][0])))  # fmt: skip
    return [found[i] for i in order]


def _runs_records(folders: list[tuple[Path, dict]]) -> pd.DataFrame:
    import pandas as pd

    records = []
    for path, cfg in folders:
        row = {k: cfg.get(k) for k in RUN_COLUMNS[:7]}
        row.update(_counts(cfg, path))
        row["path"] = str(path)
        for k, v in (cfg.get("config") or {}).items():
            row.setdefault(k, _plain(v))
        records.append(row)
    if not records:  # an empty store still has the columns
        return pd.DataFrame(columns=RUN_COLUMNS)
    return pd.DataFrame.from_records(records)


def runs_frame(root: Path = store.DEFAULT_ROOT, experiment: str | None = None) -> pd.DataFrame:
    """One row per run with its config flattened into columns (compacted runs and folders)."""
    return consistent(
        Path(root), lambda con: con.execute("SELECT * FROM runs ORDER BY created, hash").df(),
        with_rows=False, with_sweeps=False, experiment=experiment,
    )  # fmt: skip


CHECK_COLUMNS = compact.CHECK_COLUMNS


LOCKED = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
}


# an empty frame's column types by dtype kind; an object column is NULL-typed (as DuckDB types one)
_EMPTY_TYPES = {"f": "::DOUBLE", "i": "::BIGINT", "b": "::BOOLEAN"}


SWEEP_COLUMNS = ["id", "experiment", "status", "n_runs", "n_done", "n_failed", "created"]


# ``compact.checks_frame``'s float columns; the others are object (NULL-typed when empty)
_CHECK_TYPES = {"loss": "::DOUBLE", "loss_tol": "::DOUBLE"}


def _empty(con, name: str, columns, types: dict | None = None) -> None:
    """An empty table with ``columns``, each of its type in ``types`` (a ``::TYPE`` cast) or
    NULL-typed: what registering an empty frame with those dtypes gives (``_EMPTY_TYPES``), made
    without pandas (a fully compacted store has no folder runs: nothing to load)."""
    types = types or {}
    cols = ", ".join(f"NULL{types.get(c, '')} AS {_ident(c)}" for c in columns)
    con.execute(f"CREATE TABLE {name} AS SELECT {cols or 'NULL AS _'} WHERE false")


def _table(con, name: str, frame: pd.DataFrame) -> None:
    """Copy a DataFrame into an in-memory table (a registered frame would outlive the lock). An
    empty frame is created by SQL (``_empty``), with the columns and types its registration would
    give (a few ms less per table, ``tests/test_query_lockdown.py``)."""
    if len(frame) == 0:
        kinds = {c: _EMPTY_TYPES.get(frame[c].dtype.kind, "") for c in frame.columns}
        _empty(con, name, list(frame.columns), kinds)
        return
    con.register("_load_df", frame)
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM _load_df")
    con.unregister("_load_df")


def _lock(con, files: list[str]) -> None:
    """From here on the connection reaches no file, network or extension but ``files`` (the part
    files its views scan, exact paths: DuckDB's ``allowed_paths``), and only reads them: SQL other
    than SELECT is refused before it runs (``read_only_statements``)."""
    if files:
        con.execute(f"SET allowed_paths = [{', '.join(_literal(f) for f in files)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _parquet_table(con, table: str, file: str, paths) -> None:
    """``table``: the named Parquet file of every run folder in ``paths``, with its hash and
    experiment (an empty table with those two columns when no run has one)."""
    files = [str(Path(p) / file) for p in paths if (Path(p) / file).is_file()]
    if files:
        name = re.escape(file)
        con.read_parquet(files, filename=True, union_by_name=True).create_view("_files")
        con.execute(
            f"CREATE TABLE {table} AS SELECT * EXCLUDE (filename), "
            f"regexp_extract(filename, '([^/]+)/{name}$', 1) AS hash, "
            f"regexp_extract(filename, '([^/]+)/[^/]+/{name}$', 1) AS experiment "
            f"FROM _files"
        )
        con.execute("DROP VIEW _files")
    else:
        con.execute(
            f"CREATE TABLE {table} AS SELECT NULL::VARCHAR AS hash, NULL::VARCHAR AS experiment "
            "WHERE false"
        )


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _part_files(parts: list, table: str) -> list[list[str]]:
    """The parts' files of ``table``, one list per experiment, as absolute paths (the paths
    ``allowed_paths`` lets through: a relative store root would be resolved against the working
    directory by both, but one spelling for both is simpler to trust)."""
    by_exp: dict = {}
    for p in parts:
        f = p.file(table)
        if f is not None:
            by_exp.setdefault(p.experiment, []).append(os.path.abspath(f))
    return list(by_exp.values())


def _scan(con, files: list[str]) -> tuple[str, list[str]]:
    """DuckDB's own lazy Parquet scan over one experiment's files of a table,
    ``read_parquet([...], union_by_name = true)``, and its column names (bound here, before the
    lock: a file that vanished fails here, and ``consistent`` reads again). Columns are unified by
    name and types by DuckDB's supertypes, as the Arrow datasets' permissive unification did: an
    integer column in one part and a float in another reads as DOUBLE, a number and text as
    VARCHAR (``tests/test_query_lockdown.py``); a nested type against a scalar one, which no
    writer makes (config values are JSON text, rows are scalars), fails the query with DuckDB's
    Conversion Error naming the file. No hive partitioning: the files are named exactly, and a
    store folder named like ``a=1`` is no column."""
    scan = (
        f"read_parquet([{', '.join(_literal(f) for f in files)}], union_by_name = true, "
        "hive_partitioning = false)"
    )
    return scan, [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]


def _union(con, parts_sql: list[str], folders: str) -> str:
    """The parts' SELECTs UNION the folders' table (left out when empty and there are parts: its
    columns, typed from no rows, would turn numbers into text)."""
    empty = con.execute(f"SELECT count(*) FROM {folders}").fetchone()[0] == 0
    if parts_sql and empty:
        return " UNION ALL BY NAME ".join(parts_sql)
    return " UNION ALL BY NAME ".join([*parts_sql, f"SELECT * FROM {folders}"])


def _connect(
    root: Path, *, with_rows: bool = True, with_estimates: bool = True, with_sweeps: bool = True,
    experiment: str | None = None, used: list | None = None,
):  # fmt: skip
    """A locked connection with the views runs, rows, checks, estimates, sweeps and sweep_runs:
    the compacted parts scanned lazily (DuckDB's ``read_parquet`` of the exact files, ``_scan``:
    projection and filters pushed down),
    UNION the run folders not yet compacted (loaded into memory: they are few). ``with_sweeps``
    False: sweeps and sweep_runs are empty (a query that does not name them: the records of a
    10⁵-run sweep list every hash). ``used`` gets every folder and part file the views read."""
    import duckdb

    root = Path(root)
    folders = _folder_runs(root, experiment)
    found = (
        compact.parts(root, experiment, lazy=not folders)  # the runs held: only beside folders
        if (root / compact.COMPACTED).is_dir()
        else []
    )
    if used is not None:
        used += [p for p, _ in folders]
        used += [part.file(t) for part in found for t in part.files]
    folder_hashes = {p.name for p, _ in folders}
    overlap = sorted(h for h in folder_hashes if any(h in part.runs for part in found))
    # a run both compacted and a folder counts once: the folder (the newer copy) wins
    skip = " WHERE hash NOT IN (" + ", ".join(_literal(h) for h in overlap) + ")" if overlap else ""
    con = duckdb.connect(":memory:", config=LOCKED)
    con.execute("CREATE SCHEMA _store")
    paths = [p for p, _ in folders]
    if folders:
        _table(con, "_store.runs", _runs_records(folders))
    else:
        _empty(con, "_store.runs", RUN_COLUMNS)  # (as _runs_records([]) would give)
    _parquet_table(con, "_store.rows", "rows.parquet", paths if with_rows else [])
    _parquet_table(con, "_store.estimates", store.ESTIMATES, paths if with_estimates else [])
    checks = [
        r for p, cfg in folders
        for r in compact.check_rows(p.parent.name, p.name, store.read_checks(p))
    ]  # fmt: skip
    if checks:
        _table(con, "_store.checks", compact.checks_frame(checks))
    else:
        _empty(con, "_store.checks", CHECK_COLUMNS, _CHECK_TYPES)
    views: dict[str, list[str]] = {t: [] for t in compact.TABLES}
    prefix = _literal(str(root) + "/")
    allowed: list[str] = []
    for table in compact.TABLES:
        for files in _part_files(found, table):
            allowed += files
            scan, columns = _scan(con, files)
            if table == "runs":
                names = [n for n in columns if n not in compact.INTERNAL]
                cols = [
                    _ident(n) if n != "path" else "path"
                    for n in RUN_COLUMNS
                    if n in names or n == "path"
                ]
                cols = [
                    f"{prefix} || experiment || '/' || hash AS path" if c == "path" else c
                    for c in cols
                ]
                cols += [_ident(n) for n in names if n not in RUN_COLUMNS]
                views[table].append(f"SELECT {', '.join(cols)} FROM {scan}{skip}")
            else:
                views[table].append(f"SELECT * FROM {scan}{skip}")
    for table in compact.TABLES:
        con.execute(f"CREATE VIEW {table} AS {_union(con, views[table], f'_store.{table}')}")
    sweeps = sweep_mod.read_sweeps(root) if with_sweeps else []
    if sweeps:
        import pandas as pd

        _table(con, "sweeps", pd.DataFrame.from_records(
            [{k: s.get(k) for k in SWEEP_COLUMNS} for s in sweeps], columns=SWEEP_COLUMNS
        ))  # fmt: skip
        _table(con, "sweep_runs", pd.DataFrame.from_records(
            [{"sweep_id": s["id"], "hash": h} for s in sweeps for h in s.get("runs", [])],
            columns=["sweep_id", "hash"],
        ))  # fmt: skip
    else:
        _empty(con, "sweeps", SWEEP_COLUMNS)
        _empty(con, "sweep_runs", ["sweep_id", "hash"])
    _lock(con, allowed)
    return con


DEFAULT_TIMEOUT_S = 60.0


class QueryTimeout(ConfigError):
    """The SQL ran longer than its time limit and was interrupted."""


def _gone(used: list) -> bool:
    return any(p is not None and not os.path.exists(p) for p in used)


def consistent(root: Path, read, **connect):
    """``read(con)`` on a locked connection (``_connect(root, **connect)``), consistent with one
    state of the store: compaction folds parts into a new one and then deletes them, and removes
    the run folders it folded in, so a read that overlapped one may have found a file gone (an
    error) or a folder's run in neither place. Files are never changed in place (a part's id names
    its content; a folder is renamed whole), so a read after which every folder and part file it
    listed still exists saw one state; otherwise it is done again, once, under the shared
    compaction lock (``compacted.reading``: no compaction runs meanwhile)."""
    for attempt in (0, 1):
        used: list = []
        with compact.reading(root) if attempt else contextlib.nullcontext():
            con = None
            try:
                con = _connect(Path(root), used=used, **connect)
                out = read(con)
            except Exception:
                if attempt == 0 and _gone(used):
                    continue
                raise
            finally:
                if con is not None:
                    con.close()
            if attempt == 0 and _gone(used):
                continue
            return out
    raise AssertionError("unreachable")  # pragma: no cover


def names_table(sql: str, table: str) -> bool:
    """Whether ``sql`` may read ``table`` (its name as a word: a view left out is an empty one)."""
    return re.search(rf"\b{table}\b", sql, flags=re.IGNORECASE) is not None


# EXPLAIN [ANALYZE] after any comments; what follows must be one SELECT (EXPLAIN ANALYZE runs it)
_EXPLAIN_RE = re.compile(
    r"(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/)*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)


def read_only_statements(con, sql: str) -> list:
    """The statements of ``sql``, split by DuckDB's own parser (``con.extract_statements``), if
    each one only reads (else ``QueryRefused``): a SELECT (which takes in WITH, FROM-first,
    VALUES, DESCRIBE, SHOW, SUMMARIZE: DuckDB parses them as SELECTs) or ``EXPLAIN [ANALYZE]`` of
    one SELECT. Anything else (COPY, ATTACH, INSTALL/LOAD, SET/PRAGMA/CALL, CREATE/INSERT/UPDATE/
    DELETE, EXPORT, a transaction, a PIVOT without ``IN (…)``: DuckDB makes it a CREATE TYPE and a
    SELECT; with ``IN (…)`` it is a SELECT) is refused, naming its type, before
    any statement runs: the lock-down (``_lock``) lets DuckDB open the part files, and DuckDB
    would also write to an allowed path (``COPY … TO`` a part's own name, ``USE_TMP_FILE
    false``)."""
    import duckdb

    statements = con.extract_statements(sql)
    for k, statement in enumerate(statements, 1):
        kind = statement.type.name
        if kind == "SELECT":
            continue
        if kind == "EXPLAIN":
            m = _EXPLAIN_RE.fullmatch(statement.query)
            try:
                inner = con.extract_statements(m["rest"]) if m else []
            except duckdb.Error:
                inner = []
            if len(inner) == 1 and inner[0].type.name == "SELECT":
                continue
            kind = "EXPLAIN of " + (inner[0].type.name if len(inner) == 1 else "no single SELECT")
        where = f"statement {k} of {len(statements)}" if len(statements) > 1 else "the statement"
        raise _refused()(
            f"Permission Error: query refused: {where} is {kind}, and the store is read-only "
            "(only SELECT, and EXPLAIN of a SELECT, runs; to export a result: implicit-bias "
            "query --csv FILE)"
        )
    return statements


_REFUSED: list = []


def _refused() -> type:
    """``QueryRefused``: SQL that would do more than read. A ConfigError (bad input) and a
    ``duckdb.PermissionException`` (the CLI's one line for DuckDB's own refusals, e.g. a file
    outside the store: ``error: query failed: Permission Error: …``). Made on first use, as
    ``query.QueryRefused``, so that importing this module does not import DuckDB."""
    if not _REFUSED:
        import duckdb

        class QueryRefused(ConfigError, duckdb.PermissionException):
            """SQL other than SELECT (or EXPLAIN of a SELECT): the store is read-only."""

        QueryRefused.__module__ = __name__
        _REFUSED.append(QueryRefused)
    return _REFUSED[0]


def __getattr__(name: str):
    if name == "QueryRefused":
        return _refused()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_sql(sql: str, root: Path = store.DEFAULT_ROOT, *, timeout: float | None = None, fetch):
    """``fetch(result)`` of ``sql`` on the store's views (``result``: DuckDB's relation, or None
    for SQL that returns nothing): what ``query`` does, for a caller that wants the result in
    another form than a DataFrame (``result.fetchall()``, ``result.arrow()``)."""
    if not isinstance(sql, str) or not sql.strip():
        raise ConfigError('the SQL is empty: give a statement, e.g. "SELECT * FROM runs"')
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate (undecodable bytes on the command line)
        raise ConfigError(
            f"the SQL is not valid text: {e.object[e.start:e.end]!r} at character {e.start}"
        ) from None
    if timeout is not None and not (isinstance(timeout, (int, float)) and 0 <= timeout < math.inf):
        raise ConfigError(
            f"timeout must be a number of seconds >= 0 (0: no limit), got {timeout!r}"
        )

    def read(con):
        stopped = threading.Event()

        def stop():
            stopped.set()
            try:
                con.interrupt()
            except Exception:  # noqa: BLE001 - the query finished (and closed) as the time ran out
                pass

        timer = threading.Timer(timeout, stop) if timeout else None
        try:
            if timer is not None:
                timer.daemon = True
                timer.start()
            result = None
            for statement in read_only_statements(con, sql):  # what was checked is what runs
                result = con.execute(statement)
            return fetch(result)
        except Exception as e:
            if stopped.is_set() and type(e).__name__ == "InterruptException":
                raise QueryTimeout(
                    f"the query ran longer than {timeout:g} s and was stopped"
                ) from None
            raise
        finally:
            if timer is not None:
                timer.cancel()

    return consistent(
        root, read, with_rows=names_table(sql, "rows"),
        with_estimates=names_table(sql, "estimates"),
        with_sweeps=names_table(sql, "sweeps") or names_table(sql, "sweep_runs"),
    )  # fmt: skip


def query(
    sql: str, root: Path = store.DEFAULT_ROOT, *, timeout: float | None = None
) -> pd.DataFrame:
    """Run ``sql`` against the store's views and return a pandas DataFrame (read-only: see above).

    ``timeout``: seconds after which the SQL is interrupted (``QueryTimeout``); None or 0: no
    limit. Empty SQL is a ConfigError; SQL that returns no result (a comment) gives an empty frame.
    A query that overlapped a compaction is answered as of one state of the store
    (``consistent``)."""
    import pandas as pd

    return run_sql(
        sql, root, timeout=timeout,
        fetch=lambda result: pd.DataFrame() if result is None else result.df(),
    )  # fmt: skip


def _sweep_record(sweep_id: str, root: Path) -> dict:
    records = {s["id"]: s for s in sweep_mod.read_sweeps(root)}
    if sweep_id not in records:
        matches = [k for k in records if k.startswith(sweep_id)]
        if len(matches) != 1:
            raise ConfigError(f"no single sweep matches {sweep_id!r}; known: {sorted(records)}")
        sweep_id = matches[0]
    return records[sweep_id]


def sweep_frame(
    sweep_id: str, root: Path = store.DEFAULT_ROOT, *, rows: bool = True
) -> pd.DataFrame:
    """A sweep in one call: its runs' tidy rows joined with their config columns (or just the runs)."""
    record = _sweep_record(sweep_id, root)
    member = "hash IN (SELECT hash FROM sweep_runs WHERE sweep_id = $1)"
    sql = (
        f"SELECT * FROM rows JOIN runs USING (hash, experiment) WHERE {member}"
        if rows
        else f"SELECT * FROM runs WHERE {member} ORDER BY created, hash"
    )
    return consistent(
        Path(root), lambda con: con.execute(sql, [record["id"]]).df(), with_rows=rows,
        with_estimates=False, experiment=record["experiment"],
    )  # fmt: skip


CHECKS_METRIC = "fraction of checks passed"


def sweep_summary(record: dict, root: Path = store.DEFAULT_ROOT) -> pd.DataFrame:
    """One row per stored run of a sweep: its grid values, seed, status and per-run metrics.

    Metrics: the fraction of the run's theory checks that passed, plus whatever the experiment's
    ``summary(rows, cfg) -> dict[str, float]`` derives from the stored rows (no recomputation).
    Runs not yet stored are left out; failed runs have NaN metrics. Compacted runs are read in one
    pass per part (``compact.rows_of``), folders one by one; an experiment that also defines
    ``summaries(rows) -> DataFrame`` (many runs' rows with a ``hash`` column, one row per hash) has its
    compacted runs summarized in one vectorized pass.
    """
    import pandas as pd

    from implicit_bias import config as config_mod, experiments

    root = Path(root)
    experiment = record["experiment"]
    module = experiments.get(experiment)
    summarize = getattr(module, "summary", None)
    keys = list(record.get("grid", {}))
    held = compact.index(root, experiment) if (root / compact.COMPACTED).is_dir() else {}
    metas, in_parts = {}, []
    for h in record.get("runs", []):
        path = store.run_path(root, experiment, h)
        if path.is_dir():
            if store.is_done(path):
                metas[h] = store.read_config(path)
        elif h in held:
            metas[h] = store.read_config(path)
            in_parts.append(h)

    def cfg_of(h):
        if metas[h].get("status") == "failed":
            return None
        try:
            return config_mod.from_dict(module.Config, metas[h]["config"])
        except ConfigError:
            return None

    done = (
        compact.summaries(root, experiment, in_parts, summarize, cfg_of,
                          vectorized=getattr(module, "summaries", None))  # fmt: skip
        if summarize is not None and in_parts
        else {}
    )
    out = []
    for h, meta in metas.items():
        cfg_dict = meta["config"]
        n_pass, n_fail = meta.get("checks_passed") or 0, meta.get("checks_failed") or 0
        row = {
            "hash": h,
            "seed": cfg_dict.get("seed"),
            "status": meta.get("status"),
            **{k: _plain(cfg_dict.get(k)) for k in keys},
            CHECKS_METRIC: n_pass / (n_pass + n_fail) if n_pass + n_fail else float("nan"),
        }
        if h in done:  # compacted: computed once per part and kept (compact.summaries)
            row.update(done[h])
        elif summarize is not None and meta.get("status") != "failed" and h not in in_parts:
            try:
                cfg = config_mod.from_dict(module.Config, cfg_dict)
            except ConfigError:  # stored before a constraint between its fields was checked
                cfg = None
            if cfg is not None:
                row.update(summarize(store.read_rows(store.run_path(root, experiment, h)), cfg))
        out.append(row)
    return pd.DataFrame.from_records(out)
