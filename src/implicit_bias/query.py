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

Read-only in fact, and lazy: the compacted parts (``compact.py``: Parquet per experiment) are handed
to DuckDB as Arrow datasets, so it pushes projections and filters into the scan and reads only what
a query needs; the few run folders not yet compacted are loaded into in-memory tables (their
``rows`` only when the SQL names it), and the views are their ``UNION ALL BY NAME`` (a run both
compacted and a folder counts once: the folder). Then the connection is locked:
``enable_external_access = false`` (no file, network or database at all, not even inside the store:
COPY … TO, ATTACH, INSTALL, read_parquet/read_csv('/etc/passwd'), read_text, glob all fail; the
datasets reach DuckDB as Python objects registered before the lock), extension
autoinstall/autoload off, Python replacement scans off, ``lock_configuration = true``.
``implicit-bias query --csv FILE`` is the way to export. Broken runs (``store.verify_run``) and
parts whose files do not have their manifest's sizes are skipped with a one-line warning
(checksums: ``verify`` and ``compact``).
"""

import contextlib
import json
import math
import os
import re
import threading
import warnings
from pathlib import Path

import pandas as pd

from implicit_bias import checks as checks_mod, compact, store, sweep as sweep_mod
from implicit_bias.errors import BrokenRunWarning, ConfigError


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


def _table(con, name: str, frame: pd.DataFrame) -> None:
    """Copy a DataFrame into an in-memory table (a registered frame would outlive the lock). An
    empty frame (a compacted store has no folder runs) is created by SQL, with the columns and
    types its registration would give (a few ms less per table, ``tests/test_query_lockdown.py``)."""
    if len(frame) == 0:
        cols = ", ".join(
            f"NULL{_EMPTY_TYPES.get(frame[c].dtype.kind, '')} AS {_ident(c)}" for c in frame.columns
        )
        con.execute(f"CREATE TABLE {name} AS SELECT {cols or 'NULL AS _'} WHERE false")
        return
    con.register("_load_df", frame)
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM _load_df")
    con.unregister("_load_df")


def _lock(con) -> None:
    """From here on the connection reaches no file, network or extension: only its in-memory tables
    and the compacted datasets it was given as Arrow objects before the lock."""
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


def _datasets(parts: list, table: str) -> list:
    """Arrow datasets over the parts' files of ``table``: one per experiment (schemas unified), or
    one per file where an experiment's parts disagree on a column's type."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    by_exp: dict = {}
    for p in parts:
        f = p.file(table)
        if f is not None:
            by_exp.setdefault(p.experiment, []).append(str(f))
    out = []
    for files in by_exp.values():
        schemas = [pq.read_schema(f).remove_metadata() for f in files]
        try:
            schema = pa.unify_schemas(schemas, promote_options="permissive")
            out.append(ds.dataset(files, schema=schema, format="parquet"))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            out += [ds.dataset(f, format="parquet") for f in files]
    return out


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
    the compacted parts scanned lazily (as Arrow datasets: projection and filters pushed down),
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
    _table(con, "_store.runs", _runs_records(folders))
    _parquet_table(con, "_store.rows", "rows.parquet", paths if with_rows else [])
    _parquet_table(con, "_store.estimates", store.ESTIMATES, paths if with_estimates else [])
    checks = [
        r for p, cfg in folders
        for r in compact.check_rows(p.parent.name, p.name, store.read_checks(p))
    ]  # fmt: skip
    _table(con, "_store.checks", compact.checks_frame(checks))
    views: dict[str, list[str]] = {t: [] for t in compact.TABLES}
    prefix = _literal(str(root) + "/")
    for table in compact.TABLES:
        for i, dataset in enumerate(_datasets(found, table)):
            name = f"_{table}_part{i}"
            con.register(name, dataset)
            if table == "runs":
                names = [n for n in dataset.schema.names if n not in compact.INTERNAL]
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
                views[table].append(f"SELECT {', '.join(cols)} FROM {name}{skip}")
            else:
                views[table].append(f"SELECT * FROM {name}{skip}")
    for table in compact.TABLES:
        con.execute(f"CREATE VIEW {table} AS {_union(con, views[table], f'_store.{table}')}")
    sweeps = sweep_mod.read_sweeps(root) if with_sweeps else []
    sweeps_df = pd.DataFrame.from_records(
        [
            {
                k: s.get(k)
                for k in ("id", "experiment", "status", "n_runs", "n_done", "n_failed", "created")
            }
            for s in sweeps
        ],
        columns=["id", "experiment", "status", "n_runs", "n_done", "n_failed", "created"],
    )
    members = pd.DataFrame.from_records(
        [{"sweep_id": s["id"], "hash": h} for s in sweeps for h in s.get("runs", [])],
        columns=["sweep_id", "hash"],
    )
    _table(con, "sweeps", sweeps_df)
    _table(con, "sweep_runs", members)
    _lock(con)
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


def run_sql(sql: str, root: Path = store.DEFAULT_ROOT, *, timeout: float | None = None, fetch):
    """``fetch(result)`` of ``sql`` on the store's views (``result``: DuckDB's relation, or None
    for SQL that returns nothing): what ``query`` does, for a caller that wants the result in
    another form than a DataFrame (``result.fetchall()``, ``result.arrow()``)."""
    if not isinstance(sql, str) or not sql.strip():
        raise ConfigError('the SQL is empty: give a statement, e.g. "SELECT * FROM runs"')
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
            return fetch(con.execute(sql))
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
