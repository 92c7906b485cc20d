"""The results store: one folder per run, keyed by a hash of its experiment and config.

    results/<experiment>/<hash>/
        config.json    experiment, hash, config, version, timing, notes, status ("ok" | "failed")
        rows.parquet   the tidy rows of ``run`` (for a failed run: what was computed before the failure)
        checks.json    [{name, predicted, observed, tolerance, passed, detail}, …]
        error.json     failed runs only: {type, message, step?, last_loss?}
        <figure>.png

A run folder is written completely under a temporary name (``.tmp-<hash>-<pid>-<uuid>``) and then
renamed into place, so a folder that exists is complete: an interrupted run leaves only a temporary
folder, which readers ignore and ``clean_stale`` removes. Writers write files; DuckDB only reads.
"""

import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

import pandas as pd

DEFAULT_ROOT = Path("results")
TMP_PREFIX = ".tmp-"


def run_path(root: Path, experiment: str, config_hash: str) -> Path:
    return Path(root) / experiment / config_hash


def is_done(path: Path) -> bool:
    """A run folder is complete iff it exists with its config.json (the rename is atomic)."""
    return (Path(path) / "config.json").is_file()


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(x):
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def write_run(
    final: Path,
    *,
    config: dict,
    rows,
    checks: list[dict],
    figures: dict | None = None,
    error: dict | None = None,
    force: bool = False,
) -> Path:
    """Write one run folder atomically. Returns the final path.

    If ``final`` already exists (another writer finished the same config first) the new folder is
    discarded unless ``force``, in which case it replaces the old one.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = (
        final.parent
        / f"{TMP_PREFIX}{final.name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    )
    tmp.mkdir()
    try:
        _write_rows(tmp / "rows.parquet", rows)
        _write_json(tmp / "checks.json", checks)
        if error is not None:
            _write_json(tmp / "error.json", error)
        for name, fig in (figures or {}).items():
            fig.savefig(tmp / f"{name}.png", dpi=110)
        _write_json(tmp / "config.json", config)  # last: marks the folder complete
        _install(tmp, final, force=force)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _write_rows(path: Path, rows) -> None:
    """Rows (a list of dicts, a DataFrame or an Arrow table) to Parquet, without a pandas detour."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(rows, pd.DataFrame):
        table = pa.Table.from_pandas(rows, preserve_index=False)
    elif isinstance(rows, pa.Table):
        table = rows
    else:
        rows = list(rows)
        # from_pylist takes its schema from the first row: a key first seen later would be dropped
        keys = dict.fromkeys(k for r in rows for k in r)
        table = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows])
    pq.write_table(table, path)


def _install(tmp: Path, final: Path, *, force: bool) -> None:
    if final.exists() and force:
        trash = final.parent / f"{TMP_PREFIX}old-{final.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(final, trash)
        except FileNotFoundError:
            trash = None
        os.rename(tmp, final)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return
    try:
        os.rename(tmp, final)  # atomic; fails if another writer got there first
    except OSError:
        if not is_done(final):
            raise


def clean_stale(root: Path, *, older_than_s: float = 0.0) -> int:
    """Remove temporary folders left by killed writers on this host (dead pid, or other hosts' when old)."""
    removed = 0
    host = socket.gethostname()
    for tmp in Path(root).glob(f"*/{TMP_PREFIX}*"):
        parts = tmp.name[len(TMP_PREFIX) :].split("-")
        try:
            pid, tmp_host = int(parts[-2]), "-".join(parts[1:-2])
        except (ValueError, IndexError):
            pid, tmp_host = None, None
        alive = pid is not None and tmp_host == host and _pid_alive(pid)
        old = time.time() - tmp.stat().st_mtime > max(older_than_s, 3600.0)
        if (tmp_host == host and not alive) or old:
            shutil.rmtree(tmp, ignore_errors=True)
            removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_config(path: Path) -> dict:
    return json.loads((Path(path) / "config.json").read_text())


def read_checks(path: Path) -> list[dict]:
    f = Path(path) / "checks.json"
    return json.loads(f.read_text()) if f.is_file() else []


def read_error(path: Path) -> dict | None:
    f = Path(path) / "error.json"
    return json.loads(f.read_text()) if f.is_file() else None


def read_rows(path: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(path) / "rows.parquet")


def figures(path: Path) -> list[Path]:
    return sorted(Path(path).glob("*.png"))


def runs(root: Path = DEFAULT_ROOT, experiment: str | None = None) -> list[Path]:
    """Every complete run folder under ``root`` (optionally of one experiment), oldest first."""
    root = Path(root)
    pattern = f"{experiment}/*" if experiment else "*/*"
    found = [p for p in root.glob(pattern) if not p.name.startswith(".") and is_done(p)]
    return sorted(found, key=lambda p: read_config(p).get("created", 0))
