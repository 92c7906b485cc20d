"""Reading the compacted dataset (``compact.py`` writes it): its parts, which run each holds, and a
compacted run's config, checks, error, rows and arrays by its would-be folder
``ROOT/<experiment>/<hash>``. Imports nothing of the store (``store`` falls back to it), so the
store's readers and the writer stay free of import cycles.
"""

from __future__ import annotations  # pandas in annotations only: imported where used

import contextlib
import hashlib
import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from implicit_bias.errors import BrokenRunWarning

if TYPE_CHECKING:
    import pandas as pd


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


COMPACTED = "compacted"


PARTS = "_parts"


TABLES = ("runs", "rows", "checks", "estimates")


INTERNAL = ("_meta", "_checks", "_error")  # the runs table's JSON columns (not in the runs view)


NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


HASH_RE = re.compile(r"[0-9a-f]{16}")


def compacted_dir(root: Path) -> Path:
    return Path(root) / COMPACTED


# --- records of runs -----------------------------------------------------------------------------


class Part:
    """One complete part: its manifest and where its files are."""

    def __init__(self, root: Path, manifest_path: Path, manifest: dict, text: str | None = None):
        """``manifest``: the parsed manifest; without ``runs`` (``_head``), ``text`` is the whole
        manifest, whose runs are parsed when first asked for."""
        self.root = Path(root)
        self.manifest_path = manifest_path
        self.id = str(manifest["id"])
        self.experiment = str(manifest["experiment"])
        self._runs, self._text = None, text
        if "runs" in manifest or text is None:
            self._runs = _runs_record(manifest["runs"])
        self.replaces = [str(r) for r in manifest.get("replaces", [])]
        self.files = {
            str(t): {"path": str(f["path"]), "size": int(f["size"]), "sha256": str(f["sha256"])}
            for t, f in manifest["files"].items()
        }

    @property
    def runs(self) -> dict:
        """{hash: created} of the runs the part holds."""
        if self._runs is None:
            self._runs = _runs_record(json.loads(self._text)["runs"])
            self._text = None
        return self._runs

    def file(self, table: str) -> Path | None:
        f = self.files.get(table)
        return None if f is None else compacted_dir(self.root) / f["path"]

    def problem(self, *, checksums: bool = False) -> str | None:
        """Why the part cannot be used (a file missing, of the wrong size or checksum), or None."""
        if "runs" not in self.files:
            return "its manifest lists no runs file"
        for table, f in self.files.items():
            path = compacted_dir(self.root) / f["path"]
            if (
                table not in TABLES
                or Path(f["path"]).is_absolute()
                or ".." in Path(f["path"]).parts
            ):
                return f"its manifest lists a file outside the dataset: {f['path']!r}"
            try:
                size = path.stat().st_size
            except OSError as e:
                return (
                    f"{f['path']} {'missing' if isinstance(e, FileNotFoundError) else 'unreadable'}"
                )
            if size != f["size"]:
                return f"{f['path']} has {size} bytes, the manifest says {f['size']}"
            try:  # opened, not only stat'ed: a chmod 000 file stats fine and reads never
                if checksums:
                    digest = _digest(path)
                else:
                    open(path, "rb").close()  # noqa: SIM115
            except OSError as e:
                return f"{f['path']} cannot be read ({e.strerror or type(e).__name__})"
            if checksums and digest != f["sha256"]:
                return f"{f['path']} fails its checksum (garbled)"
        return None


def _runs_record(runs) -> dict:
    if not isinstance(runs, dict):  # (JSON object keys are text: no copy of 10⁵ entries)
        raise TypeError("the manifest's runs are not a record")
    return runs


RUNS_KEY = '\n "runs": '  # the manifest's top-level runs key, as json.dumps(indent=1) writes it


def _head(text: str) -> dict | None:
    """The manifest's fields but ``runs``, parsed without them: ``write_part`` writes the runs
    last, and at 10⁵ runs their parse is most of a query's own time. (No JSON string holds a raw
    newline, so ``RUNS_KEY`` at one space of indent is the top-level key.) None for a manifest
    whose runs are not last (written before): it is parsed whole."""
    at = text.rfind(RUNS_KEY)
    head = text[:at].rstrip() if at > 0 else ""
    if not head.endswith(","):
        return None
    try:
        out = json.loads(head[:-1] + "\n}")
    except ValueError:
        return None
    return out if isinstance(out, dict) and "files" in out and "runs" not in out else None


def _manifest_files(root: Path, experiment: str | None = None) -> list[Path]:
    base = compacted_dir(root) / PARTS
    if not base.is_dir():
        return []
    folders = [base / experiment] if experiment else sorted(p for p in base.iterdir() if p.is_dir())
    found = []
    for folder in folders:
        if folder.is_dir() and NAME_RE.fullmatch(folder.name):
            found += sorted(folder.glob("part-*.json"))
    return found


A_COPY = "not counted: a copy of part {id}"  # a manifest under another name (cp part-X.json …)


def _scan(
    root: Path, experiment: str | None, checksums: bool, lazy: bool = False
) -> tuple[list, list, bool]:
    """One pass over the manifests: (sound parts, [(manifest, why)], whether a manifest vanished
    while it was read: a compaction replaced its part, and the listing is out of date). ``lazy``:
    a part's runs are parsed when first asked for (``_head``)."""
    found, bad, vanished = [], [], False
    for m in _manifest_files(root, experiment):
        try:
            text = m.read_text()
            head = _head(text) if lazy else None
            part = Part(root, m, json.loads(text)) if head is None else Part(root, m, head, text)
        except FileNotFoundError:  # removed since it was listed
            vanished = True
            continue
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
            bad.append((m, f"manifest unreadable ({why})"))
            continue
        if part.experiment != m.parent.name or f"part-{part.id}.json" != m.name:
            bad.append((m, A_COPY.format(id=part.id) + f" of {part.experiment!r}"))
            continue
        why = part.problem(checksums=checksums)
        if why is None:
            found.append(part)
        elif not m.exists():  # a file missing because the part was removed meanwhile
            vanished = True
        else:
            bad.append((m, why))
    return found, bad, vanished


def part_message(manifest: Path, why: str) -> str:
    """The one line a reader prints for a part it skips (``why`` from ``parts``)."""
    if why.startswith(A_COPY.split("{")[0]):
        return f"skipping copied part {manifest}: {why} (implicit-bias verify)"
    return (
        f"skipping broken part {manifest}: {why} (implicit-bias verify --repair moves it aside; "
        "a rerun recomputes its runs)"
    )


_HELD = [0]  # > 0 while this process holds the store's compaction lock (compact._locked)


@contextlib.contextmanager
def reading(root: Path):
    """The store's compaction lock, shared: no compaction (which takes it exclusively) changes the
    parts while it is held. Readers take it only to retry a read that raced a compaction; nothing
    (a read-only store, no lock file yet, this process compacting) → no lock."""
    import fcntl

    if _HELD[0]:
        yield
        return
    try:
        f = open(compacted_dir(root) / ".lock", "rb")  # noqa: SIM115
    except OSError:
        yield
        return
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH)
        except OSError:
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def parts(
    root: Path, experiment: str | None = None, *, checksums: bool = False, warn: bool = True,
    broken: list | None = None, stale: list | None = None, lazy: bool = False,
) -> list[Part]:  # fmt: skip
    """The store's usable parts (optionally of one experiment), oldest id first: complete (every
    file of its recorded size, readable, and of its checksum if ``checksums``) and not replaced by
    another usable part. A broken part is skipped with one ``BrokenRunWarning`` line (and appended
    to ``broken`` as ``(manifest path, why)``); so is a manifest copied under another name (its
    part counts once, under its own name).

    A compaction writes a new part's manifest before it removes the parts the new one replaces:
    a manifest (or a file of it) that vanished while it was read means the listing is out of date,
    and it is listed again, once, under the shared compaction lock (``reading``).

    ``lazy``: each part's runs are parsed only when asked for (a query that needs only its files);
    a manifest garbled among its runs is then not seen (``verify`` and compaction parse it whole)."""
    found, bad, vanished = _scan(root, experiment, checksums, lazy)
    if vanished:
        with reading(root):
            found, bad, _ = _scan(root, experiment, checksums, lazy)
    replaced = {r for p in found for r in p.replaces}
    for m, why in bad:
        if m.stem.removeprefix("part-") in replaced:
            continue  # a part replaced by a sound one (its removal was interrupted): not used
        if broken is not None:
            broken.append((m, why))
        if warn:
            warnings.warn(part_message(m, why), BrokenRunWarning, stacklevel=2)
    if stale is not None:
        stale += [p for p in found if p.id in replaced]
        stale += [m for m, _ in bad if m.stem.removeprefix("part-") in replaced]
    return [p for p in found if p.id not in replaced]


def _signature(root: Path, experiment: str) -> tuple:
    """What changes when a manifest of the experiment is written or removed: the folder's own
    stat when it last changed over 2 s ago (its mtime is then reliable), else every entry's."""
    folder = compacted_dir(root) / PARTS / experiment
    try:
        st = folder.stat()
        if time.time_ns() - st.st_mtime_ns > 2_000_000_000:
            return ("dir", st.st_mtime_ns, st.st_size, st.st_ino)
        with os.scandir(folder) as it:
            return tuple(
                sorted(
                    (e.name, e.stat().st_mtime_ns, e.stat().st_size)
                    for e in it
                    if e.name.endswith(".json")
                )
            )
    except OSError:
        return ()


_INDEX: dict = {}  # (root, experiment) -> (signature, {hash: Part})


_META: dict = {}  # (runs file, size, mtime) -> {hash: (meta, checks, error) JSON text}


def index(root: Path, experiment: str) -> dict[str, Part]:
    """{hash: Part} of the experiment's compacted runs (cached until a manifest changes)."""
    key = (str(Path(root).absolute()), experiment)
    sig = _signature(root, experiment)
    cached = _INDEX.get(key)
    if cached is not None and cached[0] == sig:
        return cached[1]
    found = {}
    if sig:
        for part in parts(root, experiment):
            for h in part.runs:
                found[h] = part
    _INDEX[key] = (sig, found)
    return found


def experiments_compacted(root: Path) -> list[str]:
    base = compacted_dir(root) / PARTS
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and NAME_RE.fullmatch(p.name))


def run_paths(root: Path, experiment: str | None = None) -> list[Path]:
    """The would-be folders of every compacted run (of one experiment)."""
    return [p for _, p in run_entries(root, experiment)]


def run_entries(root: Path, experiment: str | None = None) -> list[tuple]:
    """``(created, would-be folder)`` of every compacted run (of one experiment), from the
    manifests alone."""
    names = [experiment] if experiment else experiments_compacted(root)
    out = []
    for e in names:
        for h, part in sorted(index(root, e).items()):
            created = part.runs[h]
            out.append((created if isinstance(created, (int, float)) else 0, Path(root) / e / h))
    return out


def _part_of(path) -> Part | None:
    folder, h = os.path.split(os.fspath(path))
    root, experiment = os.path.split(folder)
    if not HASH_RE.fullmatch(h) or not NAME_RE.fullmatch(experiment):
        return None
    if not os.path.isdir(os.path.join(root or ".", COMPACTED, PARTS, experiment)):
        return None
    return index(Path(root or "."), experiment).get(h)


def has_run(path: Path) -> bool:
    """Whether the run folder ``path`` (which need not exist) is held by a compacted part."""
    return _part_of(path) is not None


def _again(root_of):
    """A reader of compacted runs that a compaction may race: it looked a run's part up, then the
    compaction folded that part into a new one and removed its files before they were read
    (``FileNotFoundError``). The part index follows the manifests (``_signature``), so the read
    is done again, once, under the shared compaction lock (``reading``): the run is found in the
    part that replaced it. ``root_of(*args)``: the store's root."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def reader(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except FileNotFoundError:
                root = root_of(*args)
                _INDEX.clear()
                with reading(root):
                    return fn(*args, **kwargs)

        return reader

    return wrap


def _root_of_run(path, *_):
    return Path(path).parent.parent


def _root_first(root, *_):
    return Path(root)


def _meta_of(part: Part, name: str | None = None) -> dict:
    """{hash: JSON text} of one of the runs file's JSON columns (``_meta``, ``_checks``,
    ``_error``), or {hash: (meta, checks, error)} of all three; read once per file and column."""

    if name is None:
        cols = [_meta_of(part, c) for c in INTERNAL]
        return {h: tuple(c[h] for c in cols) for h in cols[0]}
    f = part.file("runs")
    st = f.stat()
    key = (str(f), st.st_size, st.st_mtime_ns, name)
    if key not in _META:
        t = _read(f, columns=["hash", name])
        _META[key] = dict(zip(t.column("hash").to_pylist(), t.column(name).to_pylist()))
        if len(_META) > 4096:
            _META.pop(next(iter(_META)))
    return _META[key]


@_again(_root_of_run)
def lookup(path: Path) -> dict | None:
    """A compacted run's ``{"config": …, "checks": […], "error": … | None}`` (the contents of its
    config.json, checks.json and error.json), or None if no part holds it."""
    part = _part_of(path)
    if part is None:
        return None
    return {k: _field(part, path, k) for k in ("config", "checks", "error")}


def _field(part: Part, path, name: str):
    key = (part.id, os.path.basename(os.fspath(path)))
    column = {"config": "_meta", "checks": "_checks", "error": "_error"}[name]
    text = _meta_of(part, column)[key[1]]
    if name == "checks" and not text:
        return []
    return json.loads(text) if text else None  # parsed per call: a caller may change it


@_again(_root_of_run)
def field(path, name: str):
    """One of a compacted run's ``config``, ``checks``, ``error`` (``held``: True), or None if no
    part holds the run (the cheap path behind ``store.read_config`` and friends)."""
    part = _part_of(path)
    if part is None:
        return None
    return True if name == "held" else _field(part, path, name)


def _read_filtered(file: Path, hashes):
    """The rows of ``hashes`` in one part's file, as an Arrow table (filter pushed into the scan)."""
    import pyarrow.dataset as ds

    hashes = list(hashes)
    expr = ds.field("hash") == hashes[0] if len(hashes) == 1 else ds.field("hash").isin(hashes)
    return ds.dataset(str(file), format="parquet").to_table(filter=expr)


@_again(_root_of_run)
def read_rows(path: Path) -> pd.DataFrame:
    """A compacted run's rows as ``store.read_rows`` gives them (without hash and experiment)."""
    import pandas as pd

    part = _part_of(path)
    if part is None:
        raise FileNotFoundError(f"{path}: no such run (not a folder, not compacted)")
    f = part.file("rows")
    if f is None:
        return pd.DataFrame()
    t = _read_filtered(f, [Path(path).name]).drop_columns(["hash", "experiment"])
    return _drop_all_null(t).to_pandas()


def _drop_all_null(t):
    """Columns another run of the part had and this one lacks (all null) are left out."""
    keep = [n for n in t.column_names if t.column(n).null_count < len(t) or len(t) == 0]
    return t.select(keep)


@_again(_root_first)
def frame_of(root: Path, experiment: str, hashes) -> pd.DataFrame:
    """Rows of many compacted runs of one experiment as one frame with a ``hash`` column, one read
    per part (for an experiment's vectorized ``summaries(rows)``)."""
    import pandas as pd

    by_part: dict = {}
    idx = index(root, experiment)
    for h in hashes:
        if h in idx:
            by_part.setdefault(idx[h].id, (idx[h], []))[1].append(h)
    frames = []
    for part, wanted in by_part.values():
        f = part.file("rows")
        if f is None:
            continue
        table = _read(f) if len(wanted) * 4 >= len(part.runs) else _read_filtered(f, wanted)
        df = table.drop_columns(["experiment"]).to_pandas()
        frames.append(df[df["hash"].isin(set(wanted))])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["hash"])


@_again(_root_first)
def rows_of(root: Path, experiment: str, hashes) -> dict[str, pd.DataFrame]:
    """Rows of many compacted runs of one experiment in one read per part: {hash: rows}."""
    import numpy as np

    by_part: dict = {}
    idx = index(root, experiment)
    for h in hashes:
        if h in idx:
            by_part.setdefault(idx[h].id, (idx[h], []))[1].append(h)
    out = {}
    for part, wanted in by_part.values():
        f = part.file("rows")
        if f is None:
            continue
        if len(wanted) * 4 >= len(part.runs):  # most of the part: read it whole
            table = _read(f)
        else:
            table = _read_filtered(f, wanted)
        col = table.column("hash").to_numpy(zero_copy_only=False)
        df = table.drop_columns(["hash", "experiment"]).to_pandas()
        if not len(col):
            continue
        # a run's rows are contiguous in its part: one slice each (no copy, no group-by)
        starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
        ends = np.r_[starts[1:], len(col)]
        want = set(wanted)
        for a, b in zip(starts, ends):
            if col[a] in want:
                out[str(col[a])] = df.iloc[a:b]
    return out


@_again(_root_of_run)
def read_arrays(path: Path) -> dict:
    """A compacted run's named arrays, as ``store.read_arrays``."""
    part = _part_of(path)
    f = None if part is None else part.file("estimates")
    if f is None:
        return {}
    df = _read_filtered(f, [Path(path).name]).to_pandas()
    return _arrays(df)


def _arrays(df) -> dict:
    import numpy as np

    out = {}
    for name, g in df.groupby("name", sort=False):
        i, j, v = g.i.to_numpy(), g.j.to_numpy(), g.value.to_numpy()
        if (j < 0).all():
            a = np.zeros(int(i.max()) + 1)
            a[i] = v
        else:
            a = np.zeros((int(i.max()) + 1, int(j.max()) + 1))
            a[i, j] = v
        out[str(name)] = a
    return out


# --- writing parts -------------------------------------------------------------------------------


KEYS = ("hash", "experiment")
THREADS_FROM_BYTES = 1 << 20  # ``_read`` decodes a file this large or larger on pyarrow's threads


def _read(f: Path, columns=None):
    """A part's file, whole (no dataset discovery: its folder name looks like a hive partition);
    hash and experiment decoded through their dictionary (3–8× faster than string by string),
    then as plain strings again. Threads only for a file of 1 MB or more: a sweep task's small
    part read 1.3–5× faster on one thread (its checks table: 1.4 ms against 7.4 ms with threads;
    measured on 2 cores with pyarrow 26)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    threads = Path(f).stat().st_size >= THREADS_FROM_BYTES
    t = pq.ParquetFile(f, read_dictionary=list(KEYS)).read(columns=columns, use_threads=threads)
    for name in KEYS:
        if name in t.column_names:
            i = t.column_names.index(name)
            t = t.set_column(i, name, t.column(i).cast(pa.string()))
    return t


SUMMARIES = "_summaries"


def index_fresh(root: Path, experiment: str) -> dict[str, Part]:
    _INDEX.pop((str(Path(root).absolute()), experiment), None)
    return index(root, experiment)


def verify_parts(root: Path) -> list[tuple[Path, str]]:
    """``(manifest, why)`` for every part that fails its manifest (sizes, readability and
    checksums) or is a copy of another; then ``(file, why)`` for every stray file of the tables
    (``stray_files``)."""
    broken: list = []
    parts(root, checksums=True, warn=False, broken=broken)
    return broken + stray_files(root)


PART_FILE_RE = re.compile(r"part-[0-9a-f]{16}\.parquet")
STRAY = "not counted: no part's manifest names it (a copy?)"


def stray_files(root: Path) -> list[tuple[Path, str]]:
    """Files among the tables' parts that compaction did not write (``cp part-….parquet
    part-copy.parquet``): no query reads them (the views list only the files manifests name), and
    compaction leaves them alone; ``verify`` names them. Files named like a part's but named by no
    manifest (a killed compaction's, or the next part's being written) are compaction's to remove,
    and hidden names (``.tmp-``, ``.broken-``) are skipped."""
    base = compacted_dir(root)
    out = []
    for table in TABLES:
        folder = base / table
        if not folder.is_dir():
            continue
        for sub in sorted(folder.iterdir()):
            if not sub.is_dir():
                if not sub.name.startswith("."):
                    out.append((sub, STRAY))
                continue
            for f in sorted(sub.iterdir()):
                if not f.name.startswith(".") and not PART_FILE_RE.fullmatch(f.name):
                    out.append((f, STRAY))
    return out


def n_runs(root: Path) -> int:
    """How many runs the store's sound parts hold."""
    return sum(len(p.runs) for p in parts(root, warn=False))


# --- one run's figures on demand -----------------------------------------------------------------
