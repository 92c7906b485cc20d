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
from implicit_bias.cluster import local_cluster as local_cluster
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
    def id(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return f"{self.experiment}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def parse_seeds(text) -> tuple[int, ...]:
    """'0-9' -> 0…9; '1,4,7' -> (1, 4, 7); '3' -> (3,); a list is taken as it is."""
    if isinstance(text, (list, tuple)):
        return tuple(int(s) for s in text)
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ConfigError(f"--seeds expects e.g. '0-9' or '1,4,7', got {text!r}") from None
    if not seeds:
        raise ConfigError(f"--seeds selects no seed: {text!r}")
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
    return grid


def load_spec(path: Path) -> SweepSpec:
    """Read a sweep file (TOML); unknown top-level keys are errors."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read sweep file {path}: {e}") from None
    unknown = set(data) - {"experiment", "grid", "seeds", "set"}
    if unknown:
        raise ConfigError(
            f"unknown keys in {path}: {sorted(unknown)}; valid: experiment, grid, seeds, set"
        )
    if "experiment" not in data:
        raise ConfigError(f"{path} must name its experiment")
    grid = {k: tuple(v) if isinstance(v, list) else (v,) for k, v in data.get("grid", {}).items()}
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
    for path in store.runs(root, experiment)[-last:]:
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
    cfgs = [config_mod.from_dict(module.Config, d) for d in cfg_dicts]
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
) -> dict:
    """Run every config of ``spec`` that the store does not have yet; returns the sweep record.

    ``on_progress(done, total, failed)`` is called as tasks finish. Interrupting (Ctrl-C, a killed
    client or worker) loses nothing finished: rerunning the same spec skips the stored runs.
    """
    from distributed import Client, as_completed

    root = Path(root)
    cfgs = expand(spec)
    hashes = [config_mod.config_hash(spec.experiment, c) for c in cfgs]
    path = sweep_dir(root, spec)
    store.clean_stale(root)
    record = {
        **spec.to_dict(),
        "id": spec.id,
        "created": time.time(),
        "runs": hashes,
        "status": "running",
        "n_runs": len(cfgs),
    }
    previous = path / "sweep.json"
    if previous.is_file():
        record["created"] = json.loads(previous.read_text()).get("created", record["created"])
    _write_record(path, record)

    todo = [
        c
        for c, h in zip(cfgs, hashes)
        if not store.is_done(store.run_path(root, spec.experiment, h))
    ]
    done, failed = len(cfgs) - len(todo), 0
    if on_progress:
        on_progress(done, len(cfgs), failed)
    own_cluster, task_errors = None, []
    try:
        if todo:
            if client is None:
                if scheduler:
                    client = Client(scheduler)
                else:
                    own_cluster = local_cluster(n_workers)
                    client = Client(own_cluster)
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
            for future in as_completed(futures):
                try:
                    results = future.result()
                except (
                    Exception
                ) as e:  # a task that failed beyond its retries: its runs stay missing
                    task_errors.append(f"{type(e).__name__}: {e}")
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
        if own_cluster is not None:
            client.close()
            own_cluster.close()
        store.clean_stale(root)  # folders of writers that died during the sweep (killed workers)
    missing = [h for h in hashes if not store.is_done(store.run_path(root, spec.experiment, h))]
    statuses = [
        store.read_config(store.run_path(root, spec.experiment, h)).get("status")
        for h in hashes
        if h not in missing
    ]
    record.update(
        status="complete" if not missing else "incomplete",
        n_done=len(hashes) - len(missing),
        n_failed=sum(s == "failed" for s in statuses),
        n_missing=len(missing),
        task_errors=task_errors[:20],
        finished=time.time(),
    )
    _write_record(path, record)
    return record
