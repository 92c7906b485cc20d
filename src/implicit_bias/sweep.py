"""Parameter sweeps: the Cartesian product of a grid × seeds, run on Dask distributed, stored per run.

    implicit-bias sweep dmf_identical --grid alpha=0.1,0.05 --grid depth=2,3,4 --seeds 0-9
    implicit-bias sweep sweeps/alpha_depth.toml            # the same, versioned as a file

A sweep file (TOML):

    experiment = "dmf_identical"
    seeds = "0-9"                  # or a list [0, 1, 2]
    [grid]
    alpha = [0.1, 0.05, 0.02]
    depth = [2, 3, 4]
    [set]                          # fixed overrides for every run
    n_steps = 20000

Runs go to the store exactly as single runs do (``ROOT/<experiment>/<config hash>/``), so a run shared
by two sweeps is computed once, a finished run is never recomputed, and an interrupted sweep resumes
where it stopped. The sweep itself is recorded in ``ROOT/sweeps/<experiment>-<id>/sweep.json`` (spec,
run hashes, status, and while it runs its process's pid and host and a heartbeat ``updated``: a killed
sweep reads as ``interrupted``, see ``read_sweeps``). Execution: an embedded ``LocalCluster`` with
one single-threaded worker process per core, or an existing cluster (``scheduler="tcp://host:port"``). Configs that differ only in an
experiment's ``BATCH_FIELDS`` (seed, step size, initial scale, …) share one task and, where the
experiment defines ``run_batch``, one vmapped computation.
"""

import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import socket
import threading
import time
import tomllib
import warnings
from pathlib import Path

from implicit_bias import config as config_mod, experiments, store
from implicit_bias.cluster import (
    MAX_WORKERS,
    _client_of,
    _log_to_file,
    connect,
    local_cluster,
    slurm_cluster as slurm_cluster,  # the SLURM recipe of docs/sweeps.md, documented under sweep
    write_tls_credentials as write_tls_credentials,
)
from implicit_bias.errors import BrokenRunWarning, ConfigError

SWEEPS_DIR = "sweeps"


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """What to run: an experiment, a grid of config values, seeds and fixed overrides."""

    experiment: str
    grid: dict  # key -> tuple of values (as given: text or Python values)
    seeds: tuple[int, ...] = (0,)
    fixed: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "experiment": self.experiment,
            "grid": {k: list(v) for k, v in self.grid.items()},
            "seeds": list(self.seeds),
            "set": dict(self.fixed),
        }

    @property
    def n_runs(self) -> int:
        """Grid points × seeds (before duplicates are removed): known without expanding."""
        return math.prod(len(v) for v in self.grid.values()) * len(self.seeds)

    @property
    def id(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return f"{self.experiment}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


MAX_SEEDS = 10_000_000  # a seed list longer than this is refused outright (memory)
CONFIRM_ABOVE = 10_000  # the CLI asks for --yes before a sweep of more runs than this


def parse_seeds(text) -> tuple[int, ...]:
    """'0-9' -> 0…9; '1,4,7' -> (1, 4, 7); '3' -> (3,); a list of integers is taken as it is.

    Seeds are integers >= 0: 1.5, "a", true, an empty list or a reversed range are ConfigErrors.
    """
    usage = "seeds: expected e.g. '0-9', '1,4,7' or a list of integers >= 0"
    if isinstance(text, (list, tuple)):
        bad = [s for s in text if isinstance(s, bool) or not isinstance(s, int) or s < 0]
        if bad:
            raise ConfigError(f"{usage}, got {list(text)!r} ({bad[0]!r} is not)")
        if not text:
            raise ConfigError(f"{usage}, got an empty list")
        if len(text) > MAX_SEEDS:
            raise ConfigError(f"seeds: {len(text)} seeds is more than {MAX_SEEDS:,}")
        return tuple(text)
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ConfigError(f"{usage}, got {text!r}")
    seeds: list = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if b < a or a < 0:
                    raise ValueError
                if b - a + 1 + len(seeds) > MAX_SEEDS:
                    raise ConfigError(f"seeds: {text!r} selects more than {MAX_SEEDS:,} seeds")
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
                if seeds[-1] < 0:
                    raise ValueError
        except ValueError:
            raise ConfigError(f"{usage}, got {text!r}") from None
    if not seeds:
        raise ConfigError(f"seeds: {text!r} selects no seed")
    return tuple(seeds)


def parse_grid(items: list[str]) -> dict:
    """['alpha=0.1,0.05', 'spectrum=(1,2);(3,4)'] -> {'alpha': ('0.1', '0.05'), …}.

    Values are separated by commas; use ';' to separate values that themselves contain commas.
    """
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise ConfigError(f"--grid expects key=v1,v2,…, got {item!r}")
        sep_char = ";" if ";" in values else ","
        grid[key.strip()] = tuple(v.strip() for v in values.split(sep_char) if v.strip())
        if not grid[key.strip()]:
            raise ConfigError(f"--grid {item!r} gives {key.strip()} no value")
    return grid


def load_spec(path: Path) -> SweepSpec:
    """Read a sweep file (TOML, UTF-8); unknown top-level keys and misshapen values are errors."""
    try:
        data = tomllib.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"sweep file {path} is not UTF-8 text (binary, or UTF-16?)") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read sweep file {path}: {e}") from None
    unknown = set(data) - {"experiment", "grid", "seeds", "set"}
    if unknown:
        raise ConfigError(
            f"unknown keys in {path}: {sorted(unknown)}; valid: experiment, grid, seeds, set"
        )
    if not isinstance(data.get("experiment"), str):
        raise ConfigError(f'{path} must name its experiment: experiment = "NAME"')
    for key in ("grid", "set"):
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(
                f"{path}: {key} must be a table ([{key}] with key = value lines), got {data[key]!r}"
            )
    grid = {}
    for k, v in data.get("grid", {}).items():
        grid[k] = tuple(v) if isinstance(v, list) else (v,)
        if not grid[k]:
            raise ConfigError(f"{path}: grid.{k} is an empty list")
    return SweepSpec(
        data["experiment"], grid, parse_seeds(data.get("seeds", "0")), dict(data.get("set", {}))
    )


def expand(spec: SweepSpec) -> list:
    """Every config of the sweep (grid product × seeds), validated; duplicates removed."""
    module = experiments.get(spec.experiment)
    base = config_mod.apply_overrides(module.Config(), spec.fixed, experiment=spec.experiment)
    if "seed" in spec.grid or "seed" in spec.fixed:
        raise ConfigError("give seeds with --seeds (or `seeds =` in the file), not in the grid")
    keys = list(spec.grid)
    cfgs, seen = [], set()
    for values in itertools.product(*(spec.grid[k] for k in keys)):
        for seed in spec.seeds:
            overrides = dict(zip(keys, values), seed=seed)
            cfg = config_mod.apply_overrides(base, overrides, experiment=spec.experiment)
            if cfg not in seen:
                seen.add(cfg)
                cfgs.append(cfg)
    return cfgs


TASK_SECONDS = 1.0  # a task keeps its worker busy at least this long (when there is that much work)


def batches(
    experiment: str,
    cfgs: list,
    n_workers: int,
    max_batch: int | None = None,
    *,
    seconds_per_run: float | None = None,
) -> list[list]:
    """Group configs that differ only in the experiment's ``BATCH_FIELDS``, then cut the groups into
    tasks.

    With an estimate of the time per run (``seconds_per_run``; ``run_sweep`` takes the median of the
    experiment's stored runs), a task holds enough runs to keep its worker busy for
    ``TASK_SECONDS``, but no more than an equal share per worker, so every worker gets work. Without
    one, about four tasks per worker. ``max_batch`` caps the size in every case.
    """
    module = experiments.get(experiment)
    batch_fields = set(getattr(module, "BATCH_FIELDS", ("seed",)))
    groups: dict = {}
    for cfg in cfgs:
        key = tuple((k, v) for k, v in config_mod.to_dict(cfg).items() if k not in batch_fields)
        groups.setdefault(json.dumps(key, default=str), []).append(cfg)
    n_workers = max(1, n_workers)
    if seconds_per_run and seconds_per_run > 0:
        size = min(math.ceil(TASK_SECONDS / seconds_per_run), math.ceil(len(cfgs) / n_workers))
    else:
        size = math.ceil(len(cfgs) / (4 * n_workers))
    size = max(1, min(size, max_batch) if max_batch else size)
    out = []
    for group in groups.values():
        n = math.ceil(len(group) / size)
        step = math.ceil(len(group) / n)
        out.extend(group[i : i + step] for i in range(0, len(group), step))
    return out


def seconds_per_run(root: Path, experiment: str, *, last: int = 200) -> float | None:
    """Median wall time of the experiment's most recent stored runs (None if it has none)."""
    times = []
    for path in store.runs(root, experiment, warn=False)[-last:]:
        try:
            elapsed = store.read_config(path).get("elapsed_s")
        except (OSError, ValueError):
            continue
        if elapsed:
            times.append(float(elapsed))
    return float(sorted(times)[len(times) // 2]) if times else None


def _run_task(
    experiment: str, cfg_dicts: list[dict], root: str, plot: bool, strict: bool,
    batched: bool = False,
) -> list[dict]:  # fmt: skip
    """Executed on a worker: run (or find stored) every config of one task; ``batched``: the
    task's runs are written as one compacted part (``compact.write_batch``), not a folder each."""
    from implicit_bias import runner

    module = experiments.get(experiment)
    cfgs = [config_mod.from_dict(module.Config, d, experiment=experiment) for d in cfg_dicts]
    sink = [] if batched and not plot else None
    outcomes = runner.execute_many(
        experiment, cfgs, root=Path(root), plot=plot, strict=strict, sink=sink
    )
    if sink:
        from implicit_bias import compact

        compact.write_batch(Path(root), experiment, sink)
    return [
        {"hash": o.path.name, "status": o.status, "failed_checks": o.n_failed_checks}
        for o in outcomes
    ]


def sweep_dir(root: Path, spec: SweepSpec) -> Path:
    return Path(root) / SWEEPS_DIR / spec.id


def _write_record(path: Path, record: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f".sweep.json.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(tmp, path / "sweep.json")


HEARTBEAT_S = 30.0  # a running sweep rewrites its record's "updated" time this often
STALE_AFTER_S = 600.0  # a "running" record not updated for this long reads as interrupted


class _Record:
    """The sweep's record while it runs: written at once, then every ``HEARTBEAT_S`` seconds by a
    daemon thread (``updated``), so that a reader can tell a running sweep from a killed one."""

    def __init__(self, path: Path, record: dict):
        self.path, self.record = path, record
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.update()
        self._thread = threading.Thread(target=self._beat, name="sweep-heartbeat", daemon=True)
        self._thread.start()

    def update(self, **changes) -> None:
        with self._lock:
            self.record.update(changes, updated=time.time())
            _write_record(self.path, self.record)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.update()
            except OSError:  # a full or vanished store: the next write says so
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class BrokenSweepWarning(BrokenRunWarning):
    """A ``sweep.json`` that cannot be read or is not a sweep record; it is skipped."""


_REQUIRED = {"id": str, "experiment": str, "status": str, "runs": list}
_OPTIONAL = {
    "created": (int, float), "updated": (int, float), "finished": (int, float),
    "n_runs": int, "n_done": int, "n_failed": int, "n_missing": int, "n_recomputed": int,
    "pid": int, "host": str, "grid": dict, "seeds": list, "set": dict,
    "failed_runs": list, "task_errors": list,
}  # fmt: skip
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}  # fmt: skip
EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _json_type(x) -> str:
    return _JSON_TYPES.get(type(x), type(x).__name__)


def record_problem(record) -> str | None:
    """Why ``record`` (parsed from a sweep.json) is not a sweep record, or None: an object with an
    id, an experiment's name, a status and a list of run hashes, and the other fields of the right
    types where present."""
    if not isinstance(record, dict):
        return f"not a sweep record (a JSON {_json_type(record)})"
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        if key not in record:
            if key in _REQUIRED:
                return f"not a sweep record (no {key})"
            continue
        v = record[key]
        if isinstance(v, bool) or not isinstance(v, kind):
            return f"not a sweep record ({key} is a JSON {_json_type(v)})"
    if not EXPERIMENT_NAME.fullmatch(record["experiment"]):
        return "not a sweep record (its experiment is not an experiment's name)"
    if not all(isinstance(h, str) and store.is_run_name(h) for h in record["runs"]):
        return "not a sweep record (its runs are not all config hashes)"
    return None


def _interrupted(record: dict) -> str | None:
    """Why a record that says "running" belongs to a sweep that is gone: its process (pid, host)
    is dead on this host, or it has not been updated for ``STALE_AFTER_S``; None if it may run."""
    if record.get("status") != "running":
        return None
    pid, host = record.get("pid"), record.get("host")
    if isinstance(pid, int) and host == socket.gethostname() and not store._pid_alive(pid):
        return f"its process {pid} on {host} is gone"
    updated = record.get("updated", record.get("created"))
    if isinstance(updated, (int, float)) and time.time() - updated > STALE_AFTER_S:
        return f"not updated for {time.time() - updated:.0f} s (its process was killed?)"
    return None


def read_sweeps(root: Path = store.DEFAULT_ROOT, *, warn: bool = True) -> list[dict]:
    """Every sweep record under ``root``, oldest first.

    A sweep.json that cannot be read, is not JSON, is not a sweep record (``record_problem``: ``[]``,
    ``{"x": 1}``, a field of the wrong type) or repeats another record's id (a copied folder) is
    skipped with a one-line ``BrokenSweepWarning``. A record left ``running`` by a sweep that was
    killed (``_interrupted``) reads as ``interrupted``; rerunning the sweep resumes it."""
    found, ids = [], set()
    for f in sorted((Path(root) / SWEEPS_DIR).glob("*/sweep.json")):
        try:
            record = json.loads(f.read_bytes())
        except OSError as e:
            why = f"cannot be read ({e.strerror or e})"
        except ValueError:
            why = "is not JSON (garbled or truncated)"
        else:
            why = record_problem(record)
            if why is None and record["id"] in ids:
                why = f"repeats the id of another record (a copy of sweeps/{record['id']}?)"
        if why is not None:
            if warn:
                warnings.warn(f"skipping sweep record {f}: {why}", BrokenSweepWarning, stacklevel=2)
            continue
        ids.add(record["id"])
        gone = _interrupted(record)
        if gone is not None:
            record = {**record, "status": "interrupted", "interrupted": gone}
        found.append(record)
    return sorted(found, key=lambda r: r.get("created", 0))


def _strict_refusals(root: Path, experiment: str, hashes: list[str]) -> list[str]:
    """Stored runs of ``hashes`` that were computed with a step size above a theorem's bound."""
    found = []
    for h in hashes:
        path = store.run_path(root, experiment, h)
        if store.is_done(path):
            notes = store.read_config(path).get("notes", [])
            found += [f"{h}: {n.removeprefix('warning: ')}" for n in notes if "stable bound" in n]
    return found


AUTO_COMPACT_RUNS = 100  # a sweep of this many runs or more is compacted when it ends


def run_sweep(
    spec: SweepSpec,
    *,
    root: Path = store.DEFAULT_ROOT,
    scheduler: str | None = None,
    n_workers: int | None = None,
    max_batch: int | None = None,
    plot: bool = False,
    strict: bool = False,
    on_progress=None,
    client=None,
    security=None,
    dashboard: bool = False,
    on_note=None,
    compact: bool | None = None,
) -> dict:
    """Run every config of ``spec`` that the store does not have yet; returns the sweep record.

    At the end the experiment's finished runs are compacted (``compact.compact``: Parquet parts
    instead of a folder per run) when ``compact`` is True, or when it is None and the sweep has
    ``AUTO_COMPACT_RUNS`` runs or more.

    Everything is checked before anything is submitted: every grid point's config, the store's
    folder, ``max_batch``, the scheduler (reached within ``CONNECT_TIMEOUT_S``, TLS ``security``
    for ``tls://``). A stored run that fails its manifest is recomputed (``on_note`` says so).
    ``on_progress(done, total, failed)`` is called as tasks finish. Interrupting (Ctrl-C, a killed
    client or worker) loses nothing finished: rerunning the same spec skips the stored runs.
    Workers' logs go to ``ROOT/sweeps/<id>/workers.log``.
    """
    from distributed import as_completed

    root = Path(root)
    store.check_writable(root, what="--root", run_folder=False)
    if max_batch is not None and max_batch < 1:
        raise ConfigError(f"--max-batch must be an integer >= 1, got {max_batch}")
    if n_workers is not None and not 1 <= n_workers <= MAX_WORKERS:
        raise ConfigError(f"--workers must be an integer from 1 to {MAX_WORKERS}, got {n_workers}")
    cfgs = expand(spec)
    hashes = [config_mod.config_hash(spec.experiment, c) for c in cfgs]
    if strict:
        refused = _strict_refusals(root, spec.experiment, hashes)
        if refused:
            raise ConfigError(
                f"refused under --strict: {len(refused)} stored run(s) of this sweep were computed "
                f"above a step-size bound, e.g. {refused[0]}"
            )
    own_client = None
    if client is None and scheduler:
        client = own_client = connect(scheduler, security=security)
    path = sweep_dir(root, spec)
    log_file = path / "workers.log"
    store.clean_stale(root)
    record = {
        **spec.to_dict(),
        "id": spec.id,
        "created": time.time(),
        "runs": hashes,
        "status": "running",
        "n_runs": len(cfgs),
        "log": str(log_file),
        "pid": os.getpid(),  # with host and the heartbeat's "updated": a killed sweep reads as
        "host": socket.gethostname(),  # interrupted (read_sweeps), not running forever
    }
    previous = path / "sweep.json"
    if previous.is_file():  # a rerun resumes the sweep: it keeps its creation time
        try:
            old = json.loads(previous.read_bytes())
            if record_problem(old) is None and isinstance(old.get("created"), (int, float)):
                record["created"] = old["created"]
        except (OSError, ValueError):
            pass
    todo, broken, stuck = [], [], []
    status: dict[str, str] = {}  # hash -> "ok"/"failed": runs a task of this sweep reported stored
    for c, h in zip(cfgs, hashes):
        run = store.run_path(root, spec.experiment, h)
        try:
            exists = run.exists() or run.is_symlink()
        except OSError:
            exists = True
        if exists:
            why = store.verify_stored(run)
        else:  # a run folded into the compacted tables is stored
            why = None if store.verify_run(run) is None else "not stored"
        if why is None:
            continue
        if why != "not stored":  # moved aside first, so that no worker takes it for finished
            try:
                store.quarantine(run)
            except OSError as e:
                stuck.append(f"{h}: {why}; cannot move it aside ({e.strerror or e})")
                continue
            broken.append(f"{h}: {why}")
        todo.append(c)
    if broken and on_note:
        on_note(f"recomputing {len(broken)} broken stored run(s), e.g. {broken[0]}")
    if stuck and on_note:
        on_note(f"cannot recompute {len(stuck)} broken stored run(s), e.g. {stuck[0]}")
    live = _Record(path, record)
    done, failed = len(cfgs) - len(todo) - len(stuck), len(stuck)
    if on_progress:
        on_progress(done, len(cfgs), failed)
    own_cluster, task_errors = None, []
    try:
        if todo:
            if client is None:
                own_cluster = local_cluster(n_workers, dashboard=dashboard)
                client = own_client = _client_of(own_cluster)
            try:
                client.register_plugin(_log_to_file(str(log_file.resolve())))
            except Exception:  # an old or locked-down cluster: logs stay where they were
                pass
            workers = max(1, len(client.scheduler_info().get("workers", {})) or (n_workers or 1))
            tasks = batches(
                spec.experiment, todo, workers, max_batch,
                seconds_per_run=seconds_per_run(root, spec.experiment),
            )  # fmt: skip
            futures = {
                client.submit(
                    _run_task,
                    spec.experiment,
                    [config_mod.to_dict(c) for c in task],
                    str(root.resolve()),
                    plot,
                    strict,
                    compact if compact is not None else len(cfgs) >= AUTO_COMPACT_RUNS,
                    pure=False,
                    retries=2,
                ): len(task)
                for task in tasks
            }
            for future in as_completed(futures, loop=client.loop):
                try:
                    results = future.result()
                except (
                    Exception
                ) as e:  # a task that failed beyond its retries: its runs stay missing
                    first = (str(e).strip().splitlines() or [""])[0]
                    task_errors.append(f"{type(e).__name__}: {first} (worker logs: {log_file})")
                    failed += futures[future]
                    if on_progress:
                        on_progress(done, len(cfgs), failed)
                    continue
                done += len(results)
                failed += sum(r["status"] == "failed" for r in results)
                status.update((r["hash"], r["status"]) for r in results)
                if on_progress:
                    on_progress(done, len(cfgs), failed)
    except BaseException:  # Ctrl-C, or an error that ends the sweep: its record says so
        live.close()
        try:
            live.update(status="interrupted", finished=time.time())
        except OSError:
            pass
        raise
    finally:
        live.close()
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
        store.clean_stale(root)  # folders of writers that died during the sweep (killed workers)
    # a run a task reported is stored (the task returns after its write); the others (stored
    # before this sweep, or in a task that failed) are looked up in the store
    missing = [
        h for h in hashes
        if h not in status and not store.is_done(store.run_path(root, spec.experiment, h))
    ]  # fmt: skip
    gone = set(missing)
    failed_runs = []
    for h in hashes:
        run = store.run_path(root, spec.experiment, h)
        if h in gone:
            continue
        if status.get(h) == "failed" or (
            h not in status and store.read_config(run).get("status") == "failed"
        ):
            err = store.read_error(run) or {}
            failed_runs.append(
                {"hash": h, "error": f"{err.get('type', '?')}: {err.get('message', '')}"}
            )
    live.update(
        status="complete" if not missing else "incomplete",
        n_done=len(hashes) - len(missing),
        n_failed=len(failed_runs),
        n_missing=len(missing),
        n_recomputed=len(broken),
        failed_runs=failed_runs[:50],
        task_errors=[*stuck, *task_errors][:20],
        finished=time.time(),
    )
    if compact or (compact is None and len(hashes) >= AUTO_COMPACT_RUNS):
        from implicit_bias import compact as compact_mod

        compact_mod.compact(root, spec.experiment, on_note=on_note)
    return record
