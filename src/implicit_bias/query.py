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

Read-only in fact: the tables are loaded from the store first (``rows`` only when the SQL names it),
then the connection is locked: ``enable_external_access = false`` (no file, network or database
outside it: COPY … TO, ATTACH, INSTALL, read_csv('/etc/passwd'), read_text, glob all fail),
extension autoinstall/autoload off, Python replacement scans off, ``lock_configuration = true``.
``implicit-bias query --csv FILE`` is the way to export. Broken runs (``store.verify_run``) are
skipped with a one-line warning.
"""

import json
import math
import re
import threading
from pathlib import Path

import pandas as pd

from implicit_bias import checks as checks_mod, store, sweep as sweep_mod
from implicit_bias.errors import ConfigError


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


def runs_frame(root: Path = store.DEFAULT_ROOT, experiment: str | None = None) -> pd.DataFrame:
    """One row per run with its config flattened into columns."""
    records = []
    for path in store.runs(root, experiment):
        cfg = store.read_config(path)
        row = {
            "experiment": cfg["experiment"],
            "hash": cfg["hash"],
            "status": cfg.get("status"),
            "created": cfg.get("created"),
            "elapsed_s": cfg.get("elapsed_s"),
            "checks_passed": cfg.get("checks_passed"),
            "checks_failed": cfg.get("checks_failed"),
            **_counts(cfg, path),
            "path": str(path),
        }
        for k, v in cfg["config"].items():
            row.setdefault(k, _plain(v))
        records.append(row)
    if not records:  # an empty store still has the columns
        return pd.DataFrame(columns=RUN_COLUMNS)
    return pd.DataFrame.from_records(records)


CHECK_COLUMNS = [
    "experiment", "hash", "name", "kind", "status", "passed", "predicted", "observed", "tolerance",
    "source", "basis", "loss", "loss_tol", "detail",
]  # fmt: skip


LOCKED = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
}


def _table(con, name: str, frame: pd.DataFrame) -> None:
    """Copy a DataFrame into an in-memory table (a registered frame would outlive the lock)."""
    con.register(f"{name}_df", frame)
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_df")
    con.unregister(f"{name}_df")


def _lock(con) -> None:
    """From here on the connection reaches nothing outside its in-memory tables."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _parquet_table(con, table: str, file: str, paths) -> None:
    """``table``: the named Parquet file of every run in ``paths``, with its hash and experiment
    (an empty table with those two columns when no run has one)."""
    files = [str(Path(p) / file) for p in paths if (Path(p) / file).is_file()]
    if files:
        name = re.escape(file)
        con.read_parquet(files, filename=True, union_by_name=True).create_view(f"{table}_files")
        con.execute(
            f"CREATE TABLE {table} AS SELECT * EXCLUDE (filename), "
            f"regexp_extract(filename, '([^/]+)/{name}$', 1) AS hash, "
            f"regexp_extract(filename, '([^/]+)/[^/]+/{name}$', 1) AS experiment "
            f"FROM {table}_files"
        )
        con.execute(f"DROP VIEW {table}_files")
    else:
        con.execute(
            f"CREATE TABLE {table} AS SELECT NULL::VARCHAR AS hash, NULL::VARCHAR AS experiment "
            "WHERE false"
        )


def _connect(root: Path, runs: pd.DataFrame, *, with_rows: bool = True, with_estimates: bool = False):
    import duckdb

    con = duckdb.connect(":memory:", config=LOCKED)
    _table(con, "runs", runs)
    _parquet_table(con, "rows", "rows.parquet", runs["path"] if len(runs) and with_rows else [])
    _parquet_table(
        con, "estimates", store.ESTIMATES, runs["path"] if len(runs) and with_estimates else []
    )
    checks = []
    for p in runs["path"] if len(runs) else []:
        for c in map(checks_mod.normalize, store.read_checks(Path(p))):
            checks.append(
                {
                    "experiment": Path(p).parent.name,
                    "hash": Path(p).name,
                    "name": c["name"],
                    "kind": c["kind"],
                    "status": c["status"],
                    "passed": c["passed"],
                    "predicted": str(c.get("predicted")),
                    "observed": str(c.get("observed")),
                    "tolerance": None if c.get("tolerance") is None else str(c.get("tolerance")),
                    "source": c["source"],
                    "basis": c["basis"],
                    "loss": None if c["loss"] is None else float(c["loss"]),
                    "loss_tol": None if c["loss_tol"] is None else float(c["loss_tol"]),
                    "detail": c.get("detail") or "",
                }
            )
    checks_df = pd.DataFrame.from_records(checks, columns=CHECK_COLUMNS)
    checks_df[["loss", "loss_tol"]] = checks_df[["loss", "loss_tol"]].astype(float)
    _table(con, "checks", checks_df)
    sweeps = sweep_mod.read_sweeps(root)
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


def query(
    sql: str, root: Path = store.DEFAULT_ROOT, *, timeout: float | None = None
) -> pd.DataFrame:
    """Run ``sql`` against the store's views and return a pandas DataFrame (read-only: see above).

    ``timeout``: seconds after which the SQL is interrupted (``QueryTimeout``); None or 0: no
    limit. Empty SQL is a ConfigError; SQL that returns no result (a comment) gives an empty frame.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise ConfigError('the SQL is empty: give a statement, e.g. "SELECT * FROM runs"')
    if timeout is not None and not (isinstance(timeout, (int, float)) and 0 <= timeout < math.inf):
        raise ConfigError(
            f"timeout must be a number of seconds >= 0 (0: no limit), got {timeout!r}"
        )
    with_rows = re.search(r"\brows\b", sql, flags=re.IGNORECASE) is not None
    with_estimates = re.search(r"\bestimates\b", sql, flags=re.IGNORECASE) is not None
    con = _connect(Path(root), runs_frame(root), with_rows=with_rows, with_estimates=with_estimates)
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
        result = con.execute(sql)
        return pd.DataFrame() if result is None else result.df()
    except Exception as e:
        if stopped.is_set() and type(e).__name__ == "InterruptException":
            raise QueryTimeout(f"the query ran longer than {timeout:g} s and was stopped") from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
        con.close()


def sweep_frame(
    sweep_id: str, root: Path = store.DEFAULT_ROOT, *, rows: bool = True
) -> pd.DataFrame:
    """A sweep in one call: its runs' tidy rows joined with their config columns (or just the runs)."""
    records = {s["id"]: s for s in sweep_mod.read_sweeps(root)}
    if sweep_id not in records:
        matches = [k for k in records if k.startswith(sweep_id)]
        if len(matches) != 1:
            from implicit_bias.errors import ConfigError

            raise ConfigError(f"no single sweep matches {sweep_id!r}; known: {sorted(records)}")
        sweep_id = matches[0]
    record = records[sweep_id]
    runs = runs_frame(root, record["experiment"])
    runs = runs[runs["hash"].isin(record["runs"])]
    if not rows:
        return runs.reset_index(drop=True)
    con = _connect(Path(root), runs)
    try:
        return con.execute("SELECT * FROM rows JOIN runs USING (hash, experiment)").df()
    finally:
        con.close()


CHECKS_METRIC = "fraction of checks passed"


def sweep_summary(record: dict, root: Path = store.DEFAULT_ROOT) -> pd.DataFrame:
    """One row per stored run of a sweep: its grid values, seed, status and per-run metrics.

    Metrics: the fraction of the run's theory checks that passed, plus whatever the experiment's
    ``summary(rows, cfg) -> dict[str, float]`` derives from the stored rows (no recomputation).
    Runs not yet stored are left out; failed runs have NaN metrics.
    """
    from implicit_bias import config as config_mod, experiments

    module = experiments.get(record["experiment"])
    summarize = getattr(module, "summary", None)
    keys = list(record.get("grid", {}))
    out = []
    for h in record.get("runs", []):
        path = store.run_path(Path(root), record["experiment"], h)
        if not store.is_done(path):
            continue
        meta = store.read_config(path)
        cfg_dict = meta["config"]
        n_pass, n_fail = meta.get("checks_passed") or 0, meta.get("checks_failed") or 0
        row = {
            "hash": h,
            "seed": cfg_dict.get("seed"),
            "status": meta.get("status"),
            **{k: _plain(cfg_dict.get(k)) for k in keys},
            CHECKS_METRIC: n_pass / (n_pass + n_fail) if n_pass + n_fail else float("nan"),
        }
        if summarize is not None and meta.get("status") != "failed":
            try:
                cfg = config_mod.from_dict(module.Config, cfg_dict)
            except ConfigError:  # stored before a constraint between its fields was checked
                cfg = None
            if cfg is not None:
                row.update(summarize(store.read_rows(path), cfg))
        out.append(row)
    return pd.DataFrame.from_records(out)
