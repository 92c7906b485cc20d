"""Compaction: finished run folders become rows of Parquet datasets, one set of parts per experiment.

    ROOT/compacted/
        runs/experiment=<name>/part-<id>.parquet       one row per run: the columns of query.RUN_COLUMNS
                                                       (but path), every config field, and the run's
                                                       config.json, checks.json, error.json as JSON text
                                                       (_meta, _checks, _error)
        rows/experiment=<name>/part-<id>.parquet       the runs' tidy rows, with hash and experiment
        checks/experiment=<name>/part-<id>.parquet     one row per check (query's checks view)
        estimates/experiment=<name>/part-<id>.parquet  the arrays runs kept (if any)
        _parts/<name>/part-<id>.json                   the part's manifest, written last:
                                                       {version, id, experiment, replaces: [ids],
                                                        files: {table: {path, size, sha256, n}},
                                                        runs: {hash: created}} (runs last: a query
                                                        parses the rest alone)

A part counts only once its manifest is in place and names files of the recorded sizes (every query
checks sizes; ``verify_parts`` and every compaction check the checksums). Its id is a hash of its
content (the runs it holds, their ``created`` times, the parts it replaces), so a compaction that was
killed and rerun writes the same bytes under the same names. Files are written under a temporary
name, fsynced and renamed; the manifest last; then the parts it replaces and the run folders it holds
are removed (a folder is first renamed to a hidden ``.tmp-compacted-…`` name, which readers ignore).
A run found both in a part and as a folder counts once: the folder wins (a newer ``run --force``),
and the next compaction folds it into a new part that replaces the old one. Small parts are merged
into the next part written, so an experiment keeps a few large parts.

``compact(root)`` is idempotent and crash-safe: kill it at any point and rerun it, the store ends up
the same. Concurrent compactions of one store wait for each other (a lock file).

Readers find a compacted run by its would-be folder ``ROOT/<experiment>/<hash>`` through ``lookup``,
``read_rows`` and ``read_arrays`` (``store.read_config`` and friends fall back to them), and the
``query`` views scan the parts lazily.
"""

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from implicit_bias import checks as checks_mod, store
from implicit_bias.compacted import (  # noqa: F401  (the reader's API, also compact's)
    _INDEX,
    _META,
    COMPACTED,
    HASH_RE,
    INTERNAL,
    KEYS,
    NAME_RE,
    PART_FILE_RE,
    PARTS,
    STRAY,
    SUMMARIES,
    TABLES,
    Part,
    _arrays,
    _drop_all_null,
    _field,
    _manifest_files,
    _meta_of,
    _part_of,
    _read,
    _read_filtered,
    _signature,
    compacted_dir,
    experiments_compacted,
    field,
    frame_of,
    has_run,
    index,
    index_fresh,
    lookup,
    n_runs,
    parts,
    read_arrays,
    read_rows,
    reading,
    rows_of,
    run_entries,
    run_paths,
    verify_parts,
)  # fmt: skip
from implicit_bias.errors import BrokenRunWarning

if TYPE_CHECKING:  # pandas is imported where a frame is built: ``query`` starts without it
    import pandas as pd

ROW_GROUP = 122_880  # DuckDB's row group size
MERGE_BELOW = 2_000  # parts with fewer runs are merged into the next part written
DELETING = ".tmp-compacted-"
COUNT_COLUMNS = (
    "claims_passed", "claims_total", "claims_outside", "claims_unconverged", "claims_certified",
    "hypotheses_met", "hypotheses_total", "sanity_passed", "sanity_total",
)  # fmt: skip
RUN_FIELDS = (
    "experiment", "hash", "status", "created", "elapsed_s", "checks_passed", "checks_failed",
    *COUNT_COLUMNS,
)  # fmt: skip
CHECK_COLUMNS = [
    "experiment", "hash", "name", "kind", "status", "passed", "predicted", "observed", "tolerance",
    "source", "basis", "loss", "loss_tol", "detail",
]  # fmt: skip


def plain(v):
    """Config values as DuckDB-friendly scalars: lists, tuples and dicts become JSON text."""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return v


def run_counts(cfg: dict, checks: list[dict]) -> dict:
    """The counts by kind stored in config.json (or computed from the checks for older runs)."""
    if all(k in cfg for k in COUNT_COLUMNS):
        return {k: cfg[k] for k in COUNT_COLUMNS}
    return checks_mod.counts(checks)


def run_row(cfg: dict, checks: list[dict]) -> dict:
    """A run's row of the runs view (without ``path``): its fields, counts and config columns."""
    row = {
        "experiment": cfg["experiment"],
        "hash": cfg["hash"],
        "status": cfg.get("status"),
        "created": cfg.get("created"),
        "elapsed_s": cfg.get("elapsed_s"),
        "checks_passed": cfg.get("checks_passed"),
        "checks_failed": cfg.get("checks_failed"),
        **run_counts(cfg, checks),
    }
    for k, v in (cfg.get("config") or {}).items():
        if k not in INTERNAL:
            row.setdefault(k, plain(v))
    return row


def check_rows(experiment: str, config_hash: str, found: list[dict]) -> list[dict]:
    """A run's checks as rows of the checks view."""
    out = []
    for c in map(checks_mod.normalize, found):
        out.append(
            {
                "experiment": experiment,
                "hash": config_hash,
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
    return out


def checks_frame(records: list[dict]) -> "pd.DataFrame":
    import pandas as pd

    df = pd.DataFrame.from_records(records, columns=CHECK_COLUMNS)
    df[["loss", "loss_tol"]] = df[["loss", "loss_tol"]].astype(float)
    return df


def _json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), default=store._json_default)


# --- reading parts -------------------------------------------------------------------------------


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(final: Path, write, *, durable: bool = True) -> None:
    """``write(tmp)`` then fsync (if ``durable``) and rename over ``final`` (then fsync its
    folder)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write(tmp)
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    if durable:
        _fsync_dir(final.parent)


def _arrow(records: list[dict]):
    """Records (dicts) as an Arrow table, column by column (every key of every record)."""
    import pyarrow as pa

    keys = dict.fromkeys(itertools.chain.from_iterable(records))
    return pa.Table.from_pydict({k: [r.get(k) for r in records] for k in keys})


def _concat(tables):
    import pyarrow as pa

    tables = [t.replace_schema_metadata(None) for t in tables if t is not None and t.num_rows]
    if not tables:
        return None
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # a column typed differently in two runs (text in one, numbers in another): as text
        names = list(dict.fromkeys(n for t in tables for n in t.column_names))
        fixed = []
        for t in tables:
            cols = {}
            for n in names:
                if n in t.column_names:
                    c = t.column(n)
                    kinds = {str(x.field(n).type) for x in tables if n in x.column_names}
                    cols[n] = c.cast(pa.string()) if len(kinds) > 1 else c
                else:
                    cols[n] = pa.nulls(t.num_rows)
            fixed.append(pa.table(cols))
        return pa.concat_tables(fixed, promote_options="permissive")


def _with_keys(table, config_hash: str, experiment: str):
    import pyarrow as pa

    n = table.num_rows
    for name in ("hash", "experiment"):
        if name in table.column_names:
            table = table.drop_columns([name])
    return table.append_column("hash", pa.array([config_hash] * n, pa.string())).append_column(
        "experiment", pa.array([experiment] * n, pa.string())
    )


class RunData:
    """One run to put in a part: config.json's record, rows (Arrow), checks, error, arrays rows."""

    __slots__ = ("config", "rows", "checks", "error", "estimates")

    def __init__(self, config, rows, checks, error=None, estimates=None):
        self.config, self.rows, self.checks = config, rows, checks
        self.error, self.estimates = error, estimates

    @property
    def hash(self) -> str:
        return str(self.config["hash"])

    @property
    def created(self):
        return self.config.get("created")


def _rows_table(rows):
    """Rows (a list of dicts, a DataFrame or an Arrow table) as an Arrow table, with the types
    ``store.write_run`` would give them in rows.parquet."""
    import pyarrow as pa

    if store._is_frame(rows):
        return pa.Table.from_pandas(rows, preserve_index=False).replace_schema_metadata(None)
    if isinstance(rows, pa.Table):
        return rows.replace_schema_metadata(None)
    return _arrow(list(rows))


def run_data(config: dict, rows, checks: list[dict], error=None, arrays=None) -> RunData:
    """A run as ``store.write_run`` takes it, ready for a part (no folder written)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    est = None
    if arrays:
        est = pq.read_table(pa.BufferReader(store._arrays_bytes(arrays)))
    config = json.loads(_json(config))
    checks = json.loads(_json(checks))
    return RunData(
        config, _rows_table(rows), checks, json.loads(_json(error)) if error else None, est
    )


def write_batch(root: Path, experiment: str, runs: list[RunData]) -> Part | None:
    """A sweep task's runs as one new part (under the store's compaction lock); runs that a part
    already holds (another writer computed them first) are left out. Returns the part (or None)."""
    with _locked(root):
        held = index_fresh(root, experiment)
        fresh = {r.hash: r for r in runs if r.hash not in held}
        if not fresh:
            return None
        return write_part(root, experiment, list(fresh.values()), durable=False)


def _from_folder(path: Path) -> RunData:
    import pyarrow.parquet as pq

    est = path / store.ESTIMATES
    rows = path / "rows.parquet"
    return RunData(
        store.read_config(path),
        pq.read_table(rows) if rows.is_file() else None,
        json.loads((path / "checks.json").read_text()) if (path / "checks.json").is_file() else [],
        store.read_error(path),
        pq.read_table(est) if est.is_file() else None,
    )


def _kept(part: Part, table: str, keep: list[str]):
    """A part's table, only the runs in ``keep``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    f = part.file(table)
    if f is None or not keep:
        return None
    t = _read(f)
    if len(keep) < len(part.runs):
        t = t.filter(pc.is_in(t.column("hash"), value_set=pa.array(sorted(keep), pa.string())))
    return t


def part_id(runs: dict, replaces: list[str]) -> str:
    text = json.dumps({"runs": sorted(runs.items()), "replaces": sorted(replaces)}, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_part(
    root: Path, experiment: str, runs: list[RunData], replaces: list[str] = (),
    carried: list = (), durable: bool = True,
) -> Part:  # fmt: skip
    """Write ``runs`` (one experiment's, distinct hashes) and the runs ``carried`` over from other
    parts (``[(part, hashes to keep)]``: their tables are copied, not rebuilt run by run) as one
    part, atomically, manifest last; the part is checked (sizes and checksums) once written. A
    run's rows stay contiguous in every table. ``durable``: fsync every file and folder before
    the manifest's rename (a compaction, which then removes the folders, always is; a sweep task's
    batch, whose runs are nowhere else yet, is as durable as a run folder: renamed, not fsynced).
    Returns the part."""
    import pyarrow.parquet as pq

    if not NAME_RE.fullmatch(experiment):
        raise ValueError(f"not an experiment name: {experiment!r}")
    runs = sorted(runs, key=lambda r: r.hash)
    created = {r.hash: r.created for r in runs}
    for p, keep in carried:
        created.update({h: p.runs[h] for h in keep})
    created = dict(sorted(created.items()))
    replaces = sorted(replaces)
    pid = part_id(created, replaces)
    base = compacted_dir(root)
    tables = {
        "runs": _arrow(
            [
                {
                    **run_row(r.config, r.checks),
                    "_meta": _json(r.config),
                    "_checks": _json(r.checks),
                    "_error": None if r.error is None else _json(r.error),
                }
                for r in runs
            ]
        ),
        "rows": _concat(
            [_with_keys(r.rows, r.hash, experiment) for r in runs if r.rows is not None]
        ),
        "checks": _arrow([c for r in runs for c in check_rows(experiment, r.hash, r.checks)])
        if any(r.checks for r in runs)
        else None,
        "estimates": _concat(
            [_with_keys(r.estimates, r.hash, experiment) for r in runs if r.estimates is not None]
        ),
    }
    if tables["checks"] is not None:
        import pyarrow as pa

        c = tables["checks"]
        for name in ("loss", "loss_tol"):
            c = c.set_column(c.column_names.index(name), name, c.column(name).cast(pa.float64()))
        for name in ("tolerance",):
            c = c.set_column(c.column_names.index(name), name, c.column(name).cast(pa.string()))
        tables["checks"] = c
    for name in TABLES:  # the carried parts' tables, less the runs they give up
        tables[name] = _concat([tables[name], *(_kept(p, name, keep) for p, keep in carried)])
    files = {}
    for name, table in tables.items():
        if table is None or table.num_rows == 0:
            continue
        rel = f"{name}/experiment={experiment}/part-{pid}.parquet"
        _write_atomic(
            base / rel,
            lambda tmp, table=table: pq.write_table(
                table,
                tmp,
                row_group_size=ROW_GROUP,
                compression="zstd",
                # the runs' JSON texts are long: a dictionary of them decodes 10-20× slower
                use_dictionary=[n for n in table.column_names if n not in INTERNAL],
            ),  # fmt: skip
            durable=durable,
        )
        files[name] = {
            "path": rel,
            "size": (base / rel).stat().st_size,
            "sha256": store._digest(base / rel),
            "n": table.num_rows,
        }
    manifest = {  # runs last: a query reads the rest without parsing them (compacted._head)
        "version": 1,
        "id": pid,
        "experiment": experiment,
        "replaces": replaces,
        "files": files,
        "runs": created,
    }
    mpath = base / PARTS / experiment / f"part-{pid}.json"
    data = (json.dumps(manifest, indent=1, default=str) + "\n").encode()
    _write_atomic(mpath, lambda tmp: tmp.write_bytes(data), durable=durable)
    part = Part(root, mpath, json.loads(data))
    why = part.problem(checksums=True)
    if why is not None:  # verified when written
        raise OSError(f"the part just written fails its manifest: {why}")
    return part


def _remove_part(part: Part) -> None:
    with contextlib.suppress(FileNotFoundError):
        part.manifest_path.unlink()
    for table in part.files:
        with contextlib.suppress(FileNotFoundError):
            part.file(table).unlink()


@contextlib.contextmanager
def _locked(root: Path):
    import fcntl

    from implicit_bias import compacted

    base = compacted_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        compacted._HELD[0] += 1  # (this process's readers then take no shared lock: no deadlock)
        try:
            yield
        finally:
            compacted._HELD[0] -= 1
            fcntl.flock(f, fcntl.LOCK_UN)


def _runs_named(manifest: Path) -> list[str]:
    """The hashes a (possibly broken) manifest lists; [] if it cannot be read."""
    try:
        runs = json.loads(manifest.read_text()).get("runs", {})
        return [str(h) for h in runs] if isinstance(runs, dict) else []
    except (OSError, ValueError, AttributeError):
        return []


def _quarantine_part(root: Path, manifest: Path, why: str, sound: list) -> tuple[Path | None, str]:
    """Move a broken part aside, as ``store.quarantine`` does a broken run folder: its manifest
    first (one rename: readers stop seeing the part at once) to ``.broken-part-<id>-<time>.json``,
    then each of its files that no sound part (``sound``) names to ``.broken-<name>-<time>`` beside
    it (kept, not deleted: an unreadable file may be the user's to recover; readers and compaction
    skip hidden names). Its runs are then not stored: ``run`` and ``sweep`` recompute them. A copy
    (a manifest under another part's name, a stray file) is left alone. Returns (the manifest's new
    path or None, one phrase)."""
    from implicit_bias.compacted import A_COPY

    if why.startswith(A_COPY.split("{")[0]) or why == STRAY:
        return None, "left alone: a copy, not counted; move it yourself"
    try:
        listed = json.loads(manifest.read_text()).get("files", {})
        files = [str(f["path"]) for f in listed.values()] if isinstance(listed, dict) else []
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        files = []
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    aside = manifest.parent / f"{store.BROKEN_PREFIX}{manifest.stem}-{stamp}.json"
    try:
        os.rename(manifest, aside)
    except OSError as e:
        return None, f"cannot move it aside ({e.strerror or e}): left where it is"
    base = compacted_dir(root)
    named = {f["path"] for p in sound for f in p.files.values()}
    for rel in files:
        path = base / rel
        if rel in named or Path(rel).is_absolute() or ".." in Path(rel).parts:
            continue
        with contextlib.suppress(OSError):
            os.rename(path, path.parent / f"{store.BROKEN_PREFIX}{path.name}-{stamp}")
    n = len(_runs_named(aside))
    return aside, f"moved to {aside.name} (its {n} runs are recomputed by a rerun)"


def repair(root: Path, path: Path, why: str) -> tuple[Path | None, str]:
    """``verify --repair`` for one entry of ``verify_parts``: a broken part moved aside
    (``_quarantine_part``), under the compaction lock; a copy or a stray file left alone."""
    if why == STRAY:
        return None, "left alone: not a part (a copy?); move it yourself"
    with _locked(root):
        return _quarantine_part(root, Path(path), why, parts(root, warn=False))


def _cleanup(root: Path, experiment: str, keep: set[str]) -> None:
    """Temporary files of killed compactions, files no manifest names, half-removed folders."""
    base = compacted_dir(root)
    for table in TABLES:
        folder = base / table / f"experiment={experiment}"
        if not folder.is_dir():
            continue
        for f in folder.iterdir():  # (a stray file, a broken part's moved aside: left alone)
            rel = f"{table}/{folder.name}/{f.name}"
            if f.name.startswith(".tmp-") or (PART_FILE_RE.fullmatch(f.name) and rel not in keep):
                with contextlib.suppress(OSError):
                    f.unlink()
    ids = {Path(k).stem.removeprefix("part-") for k in keep}
    sfolder = base / SUMMARIES / experiment
    if sfolder.is_dir():  # the summaries of parts that are gone
        for f in sfolder.iterdir():
            if f.name.startswith(".tmp-") or f.name[len("part-") :][:16] not in ids:
                with contextlib.suppress(OSError):
                    f.unlink()
    mfolder = base / PARTS / experiment
    if mfolder.is_dir():
        for f in mfolder.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                f.unlink()
    for f in (Path(root) / experiment).glob(f"{DELETING}*"):
        shutil.rmtree(f, ignore_errors=True)


def _remove_folder(path: Path) -> None:
    """Hide a compacted run folder (one rename: readers stop seeing it at once), then delete it."""
    hidden = path.parent / f"{DELETING}{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, hidden)
    except FileNotFoundError:
        return
    shutil.rmtree(hidden, ignore_errors=True)


def compact(
    root: Path = store.DEFAULT_ROOT, experiment: str | None = None, *, on_note=None,
    remove_folders: bool = True,
) -> dict:  # fmt: skip
    """Fold every finished run folder of ``root`` (or of one experiment) into the compacted
    datasets and remove the folders. Returns counts: {"runs": compacted now, "parts": written,
    "removed": folders removed, "broken_parts": [...], "lost": [hashes of broken parts with no
    folder left]}."""
    root = Path(root)
    note = on_note or (lambda text: None)
    summary = {"runs": 0, "parts": 0, "removed": 0, "broken_parts": [], "lost": []}
    if not root.is_dir():
        return summary
    names = (
        [experiment]
        if experiment
        else sorted(
            {p.parent.name for p in store.run_folders(root)} | set(experiments_compacted(root))
        )
    )
    with _locked(root), warnings.catch_warnings():
        warnings.simplefilter("ignore", BrokenRunWarning)  # broken parts: ``on_note``, once each
        for name in names:
            if NAME_RE.fullmatch(name) and name not in store.NOT_EXPERIMENTS and name != COMPACTED:
                _compact_one(root, name, note, summary, remove_folders)
    _INDEX.clear()  # (filled without the warnings: readers warn afresh)
    return summary


def _compact_one(root: Path, name: str, note, summary: dict, remove_folders: bool) -> None:
    broken: list = []
    stale: list = []
    found = parts(root, name, checksums=True, warn=False, broken=broken, stale=stale)
    for old in stale:  # parts replaced by a sound part whose compaction was interrupted
        if isinstance(old, Part):
            _remove_part(old)
        else:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    held = {h: p for p in found for h in p.runs}
    for m, why in broken:
        note(f"skipping broken part {m}: {why}")
        summary["broken_parts"].append(f"{m}: {why}")
        aside, done = _quarantine_part(root, m, why, found)
        if done.startswith("left alone"):
            continue  # a copy of a sound part: its runs are that part's
        lost = _runs_named(aside or m)  # (or it could not be moved: its runs are lost all the same)
        summary["lost"] += [
            h for h in lost if h not in held and not store.run_path(root, name, h).is_dir()
        ]
    new, redundant = [], []
    for folder in store.run_folders(root, name):
        if store.verify_run(folder) is not None:
            continue  # broken: left to verify --repair and a rerun
        try:
            cfg = store.read_config(folder)
        except (OSError, ValueError):
            continue
        if cfg.get("hash") != folder.name or cfg.get("experiment") != name:
            continue  # a copied or misnamed folder is not folded in
        part = held.get(folder.name)
        if part is not None and part.runs[folder.name] == cfg.get("created"):
            redundant.append(folder)
        else:
            new.append(folder)
    replaced = []
    small = [p for p in found if len(p.runs) < MERGE_BELOW]
    if new or len(small) > 1:  # new runs, or small parts (a sweep's batches) to merge
        superseded = {f.name for f in new}
        replaced = [p for p in found if superseded & set(p.runs) or len(p.runs) < MERGE_BELOW]
        data = [_from_folder(f) for f in new]
        carried = [(p, sorted(h for h in p.runs if h not in superseded)) for p in replaced]
        write_part(root, name, data, [p.id for p in replaced], carried)
        summary["parts"] += 1
        summary["runs"] += len(new)
        summary["merged"] = summary.get("merged", 0) + len(replaced)
        for p in replaced:
            _remove_part(p)
    keep = set()
    for p in parts(root, name, warn=False):
        keep |= {f["path"] for f in p.files.values()}
    _cleanup(root, name, keep)
    if remove_folders:
        still = index_fresh(root, name)
        for folder in [*new, *redundant]:
            try:
                created = store.read_config(folder).get("created")
            except (OSError, ValueError):
                continue
            part = still.get(folder.name)
            if part is not None and part.runs[folder.name] == created:  # rewritten since: kept
                _remove_folder(folder)
                summary["removed"] += 1


def _code_digest(fn) -> str:
    import inspect

    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):
        text = repr(fn)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def summaries(
    root: Path, experiment: str, hashes: list[str], summarize, cfg_of, vectorized=None
) -> dict:
    """``summarize(rows, cfg)`` of compacted runs, {hash: {metric: value}}, cached per part in
    ``compacted/_summaries/<experiment>/part-<id>-<code>.json`` (``code``: a digest of the
    function's source, so a changed summary is recomputed; a part's id names its content, so a
    cache never goes stale). ``cfg_of(hash)`` gives a run's config (None: not summarized). The
    cache is derived data: written when it can be, safe to delete.

    ``vectorized``: the experiment's ``summaries(rows) -> DataFrame`` (rows of many runs with a
    ``hash`` column → one row per hash, the same metrics as ``summary``), used instead of one
    ``summarize`` call per run where the experiment defines it (10⁴ runs: one pass)."""
    code = _code_digest(vectorized or summarize)
    idx = index(root, experiment)
    by_part: dict = {}
    for h in hashes:
        if h in idx:
            by_part.setdefault(idx[h].id, (idx[h], []))[1].append(h)
    out = {}
    for part, wanted in by_part.values():
        f = compacted_dir(root) / SUMMARIES / experiment / f"part-{part.id}-{code}.json"
        try:
            cached = json.loads(f.read_text())
            if not isinstance(cached, dict):
                cached = {}
        except (OSError, ValueError):
            cached = {}
        todo = [h for h in wanted if h not in cached]
        if todo and vectorized is not None:
            todo = [h for h in todo if cfg_of(h) is not None]
            import pandas as pd

            frame = vectorized(frame_of(root, experiment, todo)) if todo else pd.DataFrame()
            for h, metrics in frame.iterrows():
                cached[str(h)] = {k: float(v) for k, v in metrics.items()}
        elif todo:
            rows = rows_of(root, experiment, todo)
            for h in todo:
                cfg = cfg_of(h)
                if cfg is not None and h in rows:
                    cached[h] = {k: float(v) for k, v in summarize(rows[h], cfg).items()}
            data = (json.dumps(cached, sort_keys=True) + "\n").encode()
            try:
                _write_atomic(f, lambda tmp: tmp.write_bytes(data))
            except OSError:  # a read-only store: computed, not kept
                pass
        out.update({h: cached[h] for h in wanted if h in cached})
    return out


def find_run(root: Path, ident: str) -> Path:
    """A stored run (folder or compacted) named by its folder, its hash or a unique hash prefix."""
    from implicit_bias.errors import ConfigError

    root = Path(root)
    given = Path(ident)
    if given.is_dir() and store.verify_run(given) is None:
        return given
    if not re.fullmatch(r"[0-9a-f]{1,16}", given.name):
        raise ConfigError(f"{ident!r} is neither a run folder nor a run's hash (16 hex digits)")
    matches = {p for p in store.runs(root, warn=False) if p.name.startswith(given.name)}
    if len(matches) != 1:
        some = ", ".join(sorted(p.name for p in matches)[:5])
        raise ConfigError(
            f"{len(matches)} stored runs in {root} match {given.name!r}"
            + (f": {some}" if some else "")
        )
    return matches.pop()


def draw_run(path: Path, out: Path) -> list[Path]:
    """Draw a stored run's figures with its experiment's ``plot(rows, cfg)`` into ``out`` as
    ``<hash>-<name>.png``; returns the files written."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from implicit_bias import config as config_mod, experiments
    from implicit_bias.errors import ConfigError

    meta = store.read_config(path)
    try:
        module = experiments.get(meta["experiment"])
    except ConfigError:
        raise ConfigError(
            f"{path}: experiment {meta.get('experiment')!r} is not known here"
        ) from None
    cfg = config_mod.from_dict(module.Config, meta["config"])
    figs = module.plot(store.read_rows(path), cfg)
    out = store.check_output_folder(Path(out), "--out")
    written = []
    try:
        for name, fig in figs.items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110)
            written.append(
                store.write_output_file(out / f"{meta['hash']}-{name}.png", buf.getvalue(), "--out")
            )
    finally:
        for fig in figs.values():
            plt.close(fig)
    return written
