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
run hashes, status). Execution: an embedded ``LocalCluster`` with one single-threaded worker process
per core, or an existing cluster (``scheduler="tcp://host:port"``). Configs that differ only in an
experiment's ``BATCH_FIELDS`` (seed, step size, initial scale, …) share one task and, where the
experiment defines ``run_batch``, one vmapped computation.
"""

import dataclasses
import hashlib
import itertools
import json
import math
import os
import time
import tomllib
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
from implicit_bias.errors import ConfigError

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
    experiment: str, cfg_dicts: list[dict], root: str, plot: bool, strict: bool
) -> list[dict]:
    """Executed on a worker: run (or find stored) every config of one task."""
    from implicit_bias import runner

    module = experiments.get(experiment)
    cfgs = [config_mod.from_dict(module.Config, d, experiment=experiment) for d in cfg_dicts]
    outcomes = runner.execute_many(experiment, cfgs, root=Path(root), plot=plot, strict=strict)
    return [
        {"hash": o.path.name, "status": o.status, "failed_checks": o.n_failed_checks}
        for o in outcomes
    ]


def sweep_dir(root: Path, spec: SweepSpec) -> Path:
    return Path(root) / SWEEPS_DIR / spec.id


def _write_record(path: Path, record: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f".sweep.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(tmp, path / "sweep.json")


def read_sweeps(root: Path = store.DEFAULT_ROOT) -> list[dict]:
    """Every sweep record under ``root``, oldest first."""
    found = []
    for f in sorted((Path(root) / SWEEPS_DIR).glob("*/sweep.json")):
        try:
            found.append(json.loads(f.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
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
) -> dict:
    """Run every config of ``spec`` that the store does not have yet; returns the sweep record.

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
    }
    previous = path / "sweep.json"
    if previous.is_file():
        try:
            record["created"] = json.loads(previous.read_text()).get("created", record["created"])
        except (OSError, ValueError):
            pass
    _write_record(path, record)

    todo, broken = [], []
    for c, h in zip(cfgs, hashes):
        run = store.run_path(root, spec.experiment, h)
        why = store.verify_run(run) if run.exists() else "not stored"
        if why is not None:
            todo.append(c)
            if why != "not stored":
                broken.append(f"{h}: {why}")
    if broken and on_note:
        on_note(f"recomputing {len(broken)} broken stored run(s), e.g. {broken[0]}")
    done, failed = len(cfgs) - len(todo), 0
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
                if on_progress:
                    on_progress(done, len(cfgs), failed)
    except KeyboardInterrupt:
        record.update(status="interrupted", finished=time.time())
        _write_record(path, record)
        raise
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
        store.clean_stale(root)  # folders of writers that died during the sweep (killed workers)
    missing = [h for h in hashes if not store.is_done(store.run_path(root, spec.experiment, h))]
    failed_runs = []
    for h in hashes:
        run = store.run_path(root, spec.experiment, h)
        if h not in missing and store.read_config(run).get("status") == "failed":
            err = store.read_error(run) or {}
            failed_runs.append(
                {"hash": h, "error": f"{err.get('type', '?')}: {err.get('message', '')}"}
            )
    record.update(
        status="complete" if not missing else "incomplete",
        n_done=len(hashes) - len(missing),
        n_failed=len(failed_runs),
        n_missing=len(missing),
        n_recomputed=len(broken),
        failed_runs=failed_runs[:50],
        task_errors=task_errors[:20],
        finished=time.time(),
    )
    _write_record(path, record)
    return record
