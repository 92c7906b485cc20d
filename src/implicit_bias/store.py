"""The results store: one folder per run, keyed by a hash of its experiment and config.

    results/<experiment>/<hash>/
        config.json    experiment, hash, config, version, timing, notes, status ("ok" | "failed")
        rows.parquet   the tidy rows of ``run`` (for a failed run: what was computed before the failure)
        checks.json    [{name, predicted, observed, tolerance, passed, detail}, …]
        error.json     failed runs only: {type, message, step?, last_loss?}
        <figure>.png
        manifest.json  written last: {files: {name: {size, sha256}}} of every other file

A run folder is written completely under a temporary name (``.tmp-<hash>-<pid>-<uuid>``) and then
renamed into place: an interrupted run leaves only a temporary folder, which readers ignore and
``clean_stale`` removes. A run counts as done only when its manifest is present, every file it
lists is readable with its recorded size and checksum, it lists every file of the folder, and
config.json and checks.json are records of the right field types (``verify_run``); a run that fails this (a truncated, deleted, garbled or unreadable file, a disk
that filled up) is *broken*: readers skip it with a one-line warning, ``run``/``sweep`` recompute
it and ``implicit-bias verify --repair`` moves it aside to ``<experiment>/.broken-<hash>-<time>``.
In a store a run also counts only in its place, ``<experiment>/<its config hash>``
(``verify_stored``): a copy (``cp -r RUN RUN.bak``) is skipped with one line, never counted twice,
and never moved by ``--repair`` (``repair`` moves only folders named by a config hash). Writers
write files; DuckDB only reads.
"""

import hashlib
import io
import itertools
import json
import os
import re
import shutil
import socket
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from implicit_bias.compacted import _digest  # sha256 of a file, in blocks (one home: the reader)
from implicit_bias.errors import BrokenRunWarning, ConfigError

if TYPE_CHECKING:  # pandas is imported where a frame is built: ``query`` starts without it
    import pandas as pd

DEFAULT_ROOT = Path("results")
TMP_PREFIX = ".tmp-"
BROKEN_PREFIX = ".broken-"
MANIFEST = "manifest.json"
RUN_FILES = ("config.json", "rows.parquet", "checks.json", "error.json", MANIFEST)
NOT_EXPERIMENTS = ("sweeps", "compacted")  # folders of the store that hold no runs


def run_path(root: Path, experiment: str, config_hash: str) -> Path:
    return Path(root) / experiment / config_hash


def is_done(path: Path) -> bool:
    """A run folder is done iff its manifest is there and every file matches it (``verify_run``)."""
    return verify_run(path) is None




def verify_run(path: Path) -> str | None:
    """Why the run folder ``path`` is broken ("rows.parquet has 812 bytes, manifest says 4096"), or
    None if it is complete: manifest present and readable, every listed file there, readable, with
    its size and checksum, config.json among them (a JSON object with its experiment, hash and
    config), checks.json (if any) a list of checks, and no file in the folder that the manifest does
    not list. A file that cannot be read (``chmod 000``, an I/O error) makes the run broken too.
    A run folded into the compacted tables (``compact``) is complete though its folder is gone."""
    why = _verify(Path(path))[0]
    if why == "no such run folder" and _compacted(path) is not None:
        return None
    return why


def _verify(path: Path) -> tuple[str | None, dict | None]:
    """``verify_run``'s answer and the run's parsed config.json (None when broken)."""
    try:
        return _verify_files(path)
    except OSError as e:  # the folder itself cannot be listed or entered (chmod 000 on it)
        return f"the run folder cannot be read ({e.strerror or e})", None


def _unreadable(name: str, e: OSError) -> str:
    return f"{name} cannot be read ({e.strerror or type(e).__name__})"


def _verify_files(path: Path) -> tuple[str | None, dict | None]:
    if not path.is_dir():
        return "no such run folder", None
    manifest = path / MANIFEST
    if not manifest.is_file():
        return f"{MANIFEST} missing (an unfinished run, or one written before manifests)", None
    try:
        text = _read_bytes(manifest)
    except OSError as e:
        return _unreadable(MANIFEST, e), None
    try:
        files = json.loads(text)["files"]
        listed = {str(k): (int(v["size"]), str(v["sha256"])) for k, v in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{MANIFEST} unreadable (garbled)", None
    if "config.json" not in listed:
        return f"{MANIFEST} lists no config.json", None
    unlisted = sorted(set(os.listdir(path)) - set(listed) - {MANIFEST})
    if unlisted:
        more = f" and {len(unlisted) - 1} more" if len(unlisted) > 1 else ""
        return f"{unlisted[0]!r}{more} not listed in its {MANIFEST} (added after the run)", None
    meta = None
    for name, (size, digest) in listed.items():
        f = path / name
        if not f.is_file():
            return f"{name} missing", None
        actual = f.stat().st_size
        if actual != size:
            why = f"{name} has {actual} bytes, the manifest says {size} (truncated or changed)"
            return why, None
        try:
            if name in ("config.json", "checks.json"):
                data = _read_bytes(f)
                ok = hashlib.sha256(data).hexdigest() == digest
            else:
                data, ok = None, _digest(f) == digest
        except OSError as e:
            return _unreadable(name, e), None
        if not ok:
            return f"{name} fails its checksum (garbled)", None
        if name == "config.json":
            meta, why = _parse_record(data)
            if why:
                return f"config.json {why}", None
        elif name == "checks.json":
            try:
                found = json.loads(data)
            except ValueError:
                return "checks.json is not JSON (garbled)", None
            if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
                return "checks.json is not a list of checks", None
            for c in found:
                why = _wrong_type(c, CHECK_FIELDS)
                if why:
                    return f"checks.json is not a list of checks ({why})", None
    return None, meta


_NUMBER = (int, float)
# the fields that readers compute with or load as typed columns: each of these types, or null
RECORD_FIELDS = {
    "created": _NUMBER, "elapsed_s": _NUMBER, "checks_passed": int, "checks_failed": int,
    "status": str, "version": str, "notes": list,
}  # fmt: skip
CHECK_FIELDS = {
    "name": str, "kind": str, "status": str, "source": str, "basis": str, "passed": bool,
    "loss": _NUMBER, "loss_tol": _NUMBER, "requires": list,
}  # fmt: skip


def _wrong_type(record: dict, fields: dict) -> str | None:
    """Which field of ``record`` has a type its readers cannot take (a number stored as text)."""
    for key, kind in fields.items():
        v = record.get(key)
        if v is None:
            continue
        if kind is not bool and isinstance(v, bool) or not isinstance(v, kind):
            return f"{key} is a JSON {_JSON_NAMES.get(type(v), type(v).__name__)}"
    return None


_JSON_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "boolean"}  # fmt: skip


def _parse_record(data: bytes) -> tuple[dict | None, str | None]:
    """config.json's record, or why it is not one."""
    try:
        meta = json.loads(data)
    except ValueError:
        return None, "is not JSON (garbled)"
    if not isinstance(meta, dict):
        return None, f"is not a run record (a JSON {type(meta).__name__})"
    for key, kind in (("experiment", str), ("hash", str), ("config", dict)):
        if key not in meta:
            return None, f"is not a run record (no {key})"
        if not isinstance(meta[key], kind):
            return None, f"is not a run record ({key} is a {type(meta[key]).__name__})"
    why = _wrong_type(meta, RECORD_FIELDS)
    if why:
        return None, f"is not a run record ({why})"
    return meta, None


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _misplaced(path: Path, meta: dict) -> str | None:
    """Why a complete run folder does not count as the store's run (a copy, or one in the wrong
    place): its folder name must be the hash in its config.json and its parent folder the
    experiment (``ROOT/<experiment>/<hash>``)."""
    h, experiment = _one_line(meta["hash"]), _one_line(meta["experiment"])
    if meta["hash"] != path.name:
        return (
            f"not counted: its folder name is not its config hash {h} (a copy of "
            f"{path.parent.name}/{h}? move or delete it)"
        )
    if meta["experiment"] != path.parent.name:
        return (
            f"not counted: it is under {path.parent.name}/ but its config says experiment "
            f"{experiment} (a copy? move or delete it)"
        )
    return None


def _one_line(text: str, limit: int = 80) -> str:
    """Text read from the store, as it goes into a one-line message."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verify_stored(path: Path) -> str | None:
    """``verify_run`` for a run folder of a store, which must also be in its place: named by its
    config hash, under its experiment's folder (a copied folder, ``cp -r RUN RUN.bak``, is not
    counted twice)."""
    return _check_stored(Path(path))[0]


def _check_stored(path: Path) -> tuple[str | None, dict | None]:
    why, meta = _verify(path)
    if why is None:
        why = _misplaced(path, meta)
    return why, (meta if why is None else None)


def check_writable(path: Path, *, what: str = "--root", run_folder: bool = True) -> None:
    """Refuse, before any computation, a run folder that cannot be written: an existing file, an
    existing folder that is not a run folder, or a first existing ancestor that is a file or is not
    writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what}: {path} is an existing file, not a folder")
    if run_folder and path.is_dir() and any(path.iterdir()) and not looks_like_run(path):
        raise ConfigError(f"{what}: {path} is an existing folder that is not a run folder")
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{what}: cannot create {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{what}: cannot write {path}: {ancestor} is not writable")


SPECIAL_FILE_SYSTEMS = ("/proc", "/sys", "/dev")  # kernel views: no place for a report or a store
WRITABLE_UNDER_DEV = ("/dev/shm",)


def check_output_file(path: Path, flag: str) -> Path:
    """Refuse, before any work, an output file that cannot or must not be written, with one line
    naming ``flag``; return the path to write (symlinks resolved, so a link to a file writes the
    file). Refused: a folder; anything that exists and is not a regular file (a device such as
    /dev/null or /dev/full, a pipe, a socket: it is never replaced or written over); a path on
    /proc, /sys or /dev; a path whose nearest existing folder is not writable (read-only, by its
    mode bits even for root, or by a failed trial write: a read-only mount)."""
    path = Path(path)
    real = _real(path, flag)
    if real.is_dir():
        raise ConfigError(f"{flag}: {path} is a folder, not a file")
    if real.exists() and not real.is_file():
        raise ConfigError(
            f"{flag}: {path} is not a regular file (a device, pipe or socket); refusing to write "
            "over it: give a new file name or an ordinary file"
        )
    _check_folder_for(real, path, flag)
    return real


def check_output_folder(path: Path, flag: str) -> Path:
    """As ``check_output_file`` for a folder that is written into (a store's ``--root``, a run's
    ``--out``): refused if it is an existing file or anything but a folder, on /proc, /sys or /dev,
    or if it (or its nearest existing ancestor) is not writable. Returns the resolved path."""
    path = Path(path)
    real = _real(path, flag)
    if real.exists() and not real.is_dir():
        raise ConfigError(f"{flag}: {path} is an existing file, not a folder")
    _check_folder_for(real, path, flag, itself=True)
    return real


def _real(path: Path, flag: str) -> Path:
    if str(path) == "":
        raise ConfigError(f"{flag}: the path is empty")
    try:
        real = Path(os.path.realpath(path))
        real.exists()  # ENAMETOOLONG, ELOOP … surface here as one line
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        why = getattr(e, "strerror", None) or e
        raise ConfigError(f"{flag}: cannot use {path!r}: {why}") from None
    for special in SPECIAL_FILE_SYSTEMS:
        if not _under(real, special) or any(_under(real, w) for w in WRITABLE_UNDER_DEV):
            continue
        if real.exists() and not (real.is_file() or real.is_dir()):
            return real  # a device or pipe: the caller names it as such
        raise ConfigError(
            f"{flag}: {path} is on {special}, a kernel file system, not a place to write files"
        )
    return real


def _under(path: Path, folder: str) -> bool:
    return path == Path(folder) or Path(folder) in path.parents


def _check_folder_for(real: Path, path: Path, flag: str, *, itself: bool = False) -> None:
    """The nearest existing folder at or above ``real`` (its parent for a file) must be writable."""
    folder = real if itself else real.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{flag}: cannot create {path}: {folder} is a file, not a folder")
    why = _not_writable(folder)
    if why is not None:
        raise ConfigError(f"{flag}: cannot write {path}: {folder} {why}")


def _not_writable(folder: Path) -> str | None:
    """Why nothing can be created in ``folder`` (None if a trial file can be)."""
    import tempfile

    try:
        mode = folder.stat().st_mode
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if not mode & 0o222:
        return "is read-only"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "is not writable"
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".implicit-bias-probe-")
    except OSError as e:
        return f"is not writable ({e.strerror})"
    os.close(fd)
    os.unlink(name)
    return None


def write_output_file(path: Path, data: str | bytes, flag: str) -> Path:
    """Write an output file checked by ``check_output_file``: first to a new hidden file beside it,
    then renamed over it (a reader never sees half a file); an OSError on the way (a full disk) is
    one line naming ``flag``, and the half-written file is removed."""
    path = check_output_file(path, flag)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:  # "x": never an existing file
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        if path.exists() and not path.is_file():  # became a device since the check: keep it
            raise ConfigError(f"{flag}: {path} is no longer a regular file; not replaced")
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"{flag}: cannot write {path}: {e.strerror or e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def looks_like_run(path: Path) -> bool:
    try:
        return any((Path(path) / name).exists() for name in RUN_FILES)
    except OSError:  # an unreadable folder: whether it holds a run cannot be told
        return is_run_name(Path(path).name)


RUN_NAME = re.compile(r"[0-9a-f]{16}")


def is_run_name(name: str) -> bool:
    """Whether ``name`` has the shape of a run folder's name: a config hash (16 hex digits)."""
    return RUN_NAME.fullmatch(name) is not None


def _json_bytes(obj) -> bytes:
    """Compact JSON (one line): with ``indent`` the json module falls back to its pure-Python
    encoder, which cost ~0.4 ms per file of a sweep's run (``python -m json.tool`` or ``jq .``
    pretty-prints a file; ``implicit-bias query`` reads them as tables)."""
    return (json.dumps(obj, separators=(",", ":"), default=_json_default) + "\n").encode()


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
    arrays: dict | None = None,
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
    # every file is built in memory and hashed from those bytes as it is written: one open/write/
    # close per file and no read-back for the manifest (issue 13 §5: the store's per-run overhead)
    files = {"rows.parquet": _rows_bytes(rows), "checks.json": _json_bytes(checks)}
    if error is not None:
        files["error.json"] = _json_bytes(error)
    if arrays:
        files[ESTIMATES] = _arrays_bytes(arrays)
    for name, fig in (figures or {}).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        files[f"{name}.png"] = buf.getvalue()
    files["config.json"] = _json_bytes(config)
    tmp.mkdir()
    try:
        manifest = {}
        for name, data in files.items():
            (tmp / name).write_bytes(data)
            manifest[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        manifest = {"version": 1, "files": dict(sorted(manifest.items()))}
        (tmp / MANIFEST).write_bytes(_json_bytes(manifest))  # last: marks the folder complete
        _install(tmp, final, force=force)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _rows_bytes(rows) -> bytes:
    """Rows (a list of dicts, a DataFrame or an Arrow table) as Parquet bytes, without a pandas
    detour."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if _is_frame(rows):
        table = pa.Table.from_pandas(rows, preserve_index=False)
    elif isinstance(rows, pa.Table):
        table = rows
    else:
        rows = list(rows)
        # column by column (every key of every row; a row without it gets null): 0.26 vs 0.38 ms
        # with pa.Table.from_pylist for 168 rows (measured), with the same inferred types
        keys = dict.fromkeys(itertools.chain.from_iterable(rows))
        table = pa.Table.from_pydict({k: [r.get(k) for r in rows] for k in keys})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


ESTIMATES = "estimates.parquet"


def _arrays_bytes(arrays: dict) -> bytes:
    """Named arrays (vectors or matrices) as one long Parquet table: name, i, j (−1 for a vector's
    entries), value — DuckDB reads it (``query``'s ``estimates`` view), ``read_arrays`` rebuilds them."""
    import pyarrow as pa

    cols = {"name": [], "i": [], "j": [], "value": []}
    for name, a in arrays.items():
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 1:
            i, j = np.arange(a.size), np.full(a.size, -1)
        else:
            i, j = (x.ravel() for x in np.indices(a.shape))
        cols["name"].append(np.full(a.size, name, dtype=object))
        cols["i"].append(i.astype(np.int32))
        cols["j"].append(j.astype(np.int32))
        cols["value"].append(a.ravel())
    return _rows_bytes(pa.table({k: np.concatenate(v) for k, v in cols.items()}))


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The named arrays a run kept (explore: ``estimate`` and ``baseline_<name>``); {} if none."""
    f = Path(path) / ESTIMATES
    if not f.is_file():
        if not Path(path).is_dir() and _compacted(path) is not None:
            from implicit_bias import compacted as compact

            return compact.read_arrays(path)
        return {}
    import pandas as pd

    from implicit_bias.compacted import _arrays  # the long table (name, i, j, value) → arrays

    return _arrays(pd.read_parquet(f))


def _install(tmp: Path, final: Path, *, force: bool) -> None:
    if final.exists() and not force and looks_like_run(final) and not is_done(final):
        quarantine(final)  # a broken run is replaced (and kept aside, never deleted)
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


def quarantine(path: Path) -> Path:
    """Move a broken run folder aside to ``.broken-<hash>-<time>`` (readers ignore it); return it."""
    path = Path(path)
    aside = (
        path.parent
        / f"{BROKEN_PREFIX}{path.name}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    )
    os.rename(path, aside)
    return aside


NOT_A_RUN = "not a run folder (its name is not a config hash)"
A_COPY = "a complete run that is not in its place (a copy?)"


def repair(path: Path) -> tuple[Path | None, str]:
    """``verify --repair`` for one broken folder: move it aside (``quarantine``) if it is a run
    folder, named by a config hash; leave anything else where it is (a copy such as ``RUN.bak``,
    a folder of the user's such as ``old results``). Returns (where it went or None, one phrase)."""
    path = Path(path)
    if not is_run_name(path.name):
        return None, f"left alone: {NOT_A_RUN}; move it yourself"
    if _verify(path)[0] is None:  # complete, but not in its place: someone's copy, not broken
        return None, f"left alone: {A_COPY}; move it yourself"
    try:
        aside = quarantine(path)
    except OSError as e:
        return None, f"cannot move it aside ({e.strerror or e}): left where it is"
    return aside, f"moved to {aside.name}"


def run_folders(root: Path, experiment: str | None = None) -> list[Path]:
    """Every folder of ``root`` that is (or was meant to be) a run: ``<experiment>/<name>``, not
    hidden (temporary and quarantined folders are), outside ``sweeps/``, named by a config hash or
    holding a run's files (a copy such as ``RUN.bak`` is one, and fails ``verify_stored``)."""
    root = Path(root)
    pattern = f"{experiment}/*" if experiment else "*/*"
    found = []
    for p in root.glob(pattern):
        try:
            if not p.is_dir():
                continue
        except OSError:
            continue
        if (
            not p.name.startswith(".")
            and not p.parent.name.startswith(".")
            and p.parent.name not in NOT_EXPERIMENTS
            and (is_run_name(p.name) or looks_like_run(p))
        ):
            found.append(p)
    return sorted(found)


def broken_runs(root: Path, experiment: str | None = None) -> list[tuple[Path, str]]:
    """``(folder, why)`` for every run folder of the store that fails ``verify_stored``: broken,
    unreadable, or not in its place (a copy)."""
    out = []
    for p in run_folders(root, experiment):
        why = verify_stored(p)
        if why is not None:
            out.append((p, why))
    return out


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


def _compacted(path: Path, field: str = "held"):
    """A field (config, checks, error; held: True) of a run folded into the compacted tables, read
    from there (``compact.field``); None if no part holds the run (or ``path`` is a folder)."""
    path = Path(path)
    if path.is_dir() or not (path.parent.parent / "compacted").is_dir():
        return None
    from implicit_bias import compacted as compact

    return compact.field(path, field)


def read_config(path: Path) -> dict:
    f = Path(path) / "config.json"
    if not f.is_file() and (rec := _compacted(path, "config")) is not None:
        return rec
    return json.loads(f.read_text())


def read_checks(path: Path) -> list[dict]:
    f = Path(path) / "checks.json"
    if not f.is_file() and (rec := _compacted(path, "checks")) is not None:
        return rec
    return json.loads(f.read_text()) if f.is_file() else []


def read_error(path: Path) -> dict | None:
    f = Path(path) / "error.json"
    if not f.is_file() and (rec := _compacted(path, "error")) is not None:
        return rec
    return json.loads(f.read_text()) if f.is_file() else None


def read_rows(path: Path) -> "pd.DataFrame":
    f = Path(path) / "rows.parquet"
    if not f.is_file() and _compacted(path) is not None:
        from implicit_bias import compacted as compact

        return compact.read_rows(path)
    import pandas as pd

    return pd.read_parquet(f)


def figures(path: Path) -> list[Path]:
    return sorted(Path(path).glob("*.png"))


def skipped_message(path: Path, why: str) -> str:
    """The one line a reader prints for a run folder it skips (``why`` from ``verify_stored``)."""
    if why.startswith("not counted"):
        return f"skipping copied or misplaced run {path}: {why} (implicit-bias verify)"
    if not is_run_name(Path(path).name):  # run files in a folder of the user's ("old results")
        return f"skipping {path}: {why} ({NOT_A_RUN})"
    return f"skipping broken run {path}: {why} (implicit-bias verify --repair)"


def warn_skipped(path: Path, why: str, *, stacklevel: int = 2) -> None:
    """``skipped_message`` as a ``BrokenRunWarning`` (the CLI prints it as one line)."""
    warnings.warn(skipped_message(path, why), BrokenRunWarning, stacklevel=stacklevel + 1)


def runs(
    root: Path = DEFAULT_ROOT, experiment: str | None = None, *, warn: bool = True
) -> list[Path]:
    """Every complete run folder under ``root`` (optionally of one experiment), oldest first.

    A broken run (``verify_stored``: a file truncated, deleted, garbled or unreadable, or a folder
    that is a copy of a run) is skipped with a one-line ``BrokenRunWarning`` naming it (unless
    ``warn=False``).
    """
    found = []
    for p in run_folders(root, experiment):
        why, meta = _check_stored(p)
        if why is None:
            created = meta.get("created", 0)
            found.append((created if isinstance(created, (int, float)) else 0, p))
        elif warn:
            warn_skipped(p, why, stacklevel=3)
    if (Path(root) / "compacted").is_dir():  # runs folded into the compacted tables (compact.py)
        from implicit_bias import compacted as compact

        held = {p.name for _, p in found}
        found += [(c, p) for c, p in compact.run_entries(root, experiment) if p.name not in held]
    return [p for _, p in sorted(found, key=lambda cp: (cp[0], str(cp[1])))]


def _is_frame(x) -> bool:
    """Whether ``x`` is a pandas DataFrame, without importing pandas (if pandas was never imported,
    nothing is a DataFrame)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(x, pd.DataFrame)
