"""Run one experiment config into the store: cache, time, record warnings and failures, plot, save.

The single code path behind ``implicit-bias run``, ``reproduce`` and every sweep task.

Sharpness rows: while ``run(cfg)`` runs, every ``fit``/``fit_batch`` is recorded
(``optim.recorder.recording``); afterwards the runner adds rows ``sharpness`` (λ_max(∇²L) at ≤ 10
snapshots of each of the first 16 runs of ≤ 500 parameters) and, for GD, ``two_over_eta``
(``optim.sharpness_rows.recorded_rows``), within a time budget of 10% of the experiment's own time (the
first run always). An experiment that writes its own ``sharpness`` rows (``regime_*``, ``explore``)
keeps them and gets none added; a failure to compute is a note, never a failed run. Rows are added
after the figures are drawn, so the experiments' plots see only their own rows. A batch of
configs run together (``run_batch``: a sweep task) gets the same rows per config: member b of each
recorded batch of all the configs is config b's run (``optim.sharpness_rows.recorded_rows_batch``, the
Hessians of the whole batch in one vmapped computation); the budget is 10% of the batch's time.
"""

import dataclasses
import os
import time
import warnings
from pathlib import Path

import pandas as pd

from implicit_bias import (
    __version__,
    checks as checks_mod,
    config as config_mod,
    experiments,
    progress,
    store,
)
from implicit_bias.errors import ConfigError, DivergenceError, SolverError, StepSizeWarning


@dataclasses.dataclass
class Outcome:
    experiment: str
    path: Path
    status: str  # "ok" | "failed" | "cached"
    checks: list[dict]
    notes: list[str]
    error: dict | None
    elapsed: float
    cached: bool = False  # found in the store (an ok or a failed run), not computed now

    @property
    def n_failed_checks(self) -> int:
        return checks_mod.failures(self.checks)

    @property
    def summary(self) -> str:
        """The counts by kind: claims P/T · hypotheses met H/HT · sanity S/ST (+ outside, unconverged)."""
        return checks_mod.summary_line(self.checks)


def _rows_frame(rows) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))


def _from_disk(name: str, path: Path) -> Outcome:
    cfg = store.read_config(path)
    return Outcome(
        experiment=name,
        path=path,
        status="cached" if cfg.get("status") == "ok" else "failed",
        checks=[checks_mod.normalize(c) for c in store.read_checks(path)],
        notes=cfg.get("notes", []),
        error=store.read_error(path),
        elapsed=float(cfg.get("elapsed_s", 0.0)),
        cached=True,
    )


def _refuse_cached_under_strict(outcome: Outcome) -> None:
    """--strict applies to a cached run too: one stored with a step size above a theorem's bound."""
    above = [n for n in outcome.notes if "stable bound" in n]
    if above:
        raise ConfigError(
            f"refused under --strict: the stored run {outcome.path} was computed with "
            f"{above[0].removeprefix('warning: ')}"
        )


def _failure_rows(err: Exception) -> pd.DataFrame:
    traj = getattr(err, "trajectory", None)
    if traj is None:
        return pd.DataFrame({"t": [], "series": [], "i": [], "value": []})
    t = [float(x) for x in traj.t]
    return pd.DataFrame({"t": t, "series": "loss", "i": 0, "value": [float(x) for x in traj.loss]})


def _error_record(e: Exception) -> dict:
    error = {"type": type(e).__name__, "message": str(e)}
    for attr in ("step", "last_loss"):
        if getattr(e, attr, None) is not None:
            error[attr] = getattr(e, attr)
    return error


RUN_FAILURES = (DivergenceError, SolverError)


def _has_series(rows, names) -> bool:
    """Whether the experiment's rows hold any of the series ``names``."""
    if isinstance(rows, pd.DataFrame):
        return "series" in rows and bool(rows["series"].isin(names).any())
    return any(isinstance(r, dict) and r.get("series") in names for r in rows)


def _sharpness_rows(recorder, result, elapsed: float) -> tuple[list[dict], list[str]]:
    """The runner's ``sharpness`` rows and notes for the runs in ``recorder`` (see the module
    docstring); never raises."""
    from implicit_bias.optim import sharpness_rows

    if result is None or (not recorder.runs and not recorder.n_too_large + recorder.n_over_limit):
        return [], []
    try:
        if _has_series(result.rows, sharpness_rows.SERIES):
            return [], ["sharpness: the experiment records its own 'sharpness' rows; none added"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows, notes = sharpness_rows.recorded_rows(
                recorder, budget_s=sharpness_rows.AUTO_BUDGET * elapsed
            )
        clash = _type_clash(result.rows, rows)
        if clash:  # one Parquet column cannot hold both: the experiment's rows win
            return [], [f"sharpness: not stored (column {clash!r} of the experiment's rows has "
                        "another type than the sharpness rows)"]  # fmt: skip
        return rows, notes
    except Exception as e:  # noqa: BLE001 - the run itself succeeded: a note, never a failure
        first = (str(e).splitlines() or [""])[0][:200]
        return [], [f"sharpness: not computed ({type(e).__name__}: {first})"]


def _batch_sharpness_rows(recorder, results: list, elapsed: float):
    """``_sharpness_rows`` for the configs of one ``run_batch`` (``results``: a Result or an
    exception each): (rows per config, notes for all); never raises."""
    from implicit_bias.optim import sharpness_rows

    n = len(results)
    none = [[] for _ in range(n)]
    ok = [r for r in results if not isinstance(r, Exception)]
    if not ok or (not recorder.runs and not recorder.n_too_large + recorder.n_over_limit):
        return none, []
    try:
        if any(_has_series(r.rows, sharpness_rows.SERIES) for r in ok):
            return none, ["sharpness: the experiment records its own 'sharpness' rows; none added"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows, notes = sharpness_rows.recorded_rows_batch(
                recorder, n, budget_s=sharpness_rows.AUTO_BUDGET * elapsed
            )
        for res, extra in zip(results, rows):
            if isinstance(res, Exception):
                continue
            clash = _type_clash(res.rows, extra)
            if clash:
                return none, [f"sharpness: not stored (column {clash!r} of the experiment's rows "
                              "has another type than the sharpness rows)"]  # fmt: skip
        # a failed config (diverged: stored with partial rows) keeps none
        return [[] if isinstance(r, Exception) else x for r, x in zip(results, rows)], notes
    except Exception as e:  # noqa: BLE001 - the runs themselves succeeded: a note, never a failure
        first = (str(e).splitlines() or [""])[0][:200]
        return none, [f"sharpness: not computed ({type(e).__name__}: {first})"]


def _type_clash(rows, extra: list[dict]) -> str | None:
    """A column of ``extra`` that the experiment's ``rows`` also have with values of another kind
    (text vs number), or None: e.g. ``sgd_one_way``'s integer ``run`` beside a text label."""
    if not extra:
        return None
    kind = lambda v: "text" if isinstance(v, str) else "number"  # noqa: E731
    mine = {k: kind(v) for k, v in extra[0].items() if v is not None}
    if isinstance(rows, pd.DataFrame):
        theirs = {c: ("text" if rows[c].dtype == object and rows[c].map(type).eq(str).any()
                      else "number") for c in rows.columns if c in mine}  # fmt: skip
    else:
        theirs = {}
        for r in rows:
            for k, v in r.items():
                if k in mine and k not in theirs and v is not None:
                    theirs[k] = kind(v)
    return next((k for k, v in theirs.items() if v != mine[k]), None)


def _with_rows(rows, extra: list[dict]):
    """The experiment's rows (a list of dicts or a DataFrame) with ``extra`` appended."""
    if not extra:
        return rows
    if isinstance(rows, pd.DataFrame):
        return pd.concat([rows, pd.DataFrame(extra)], ignore_index=True)
    return list(rows) + extra


def _save(
    name, module, cfg, path, result, error, notes, elapsed, *, plot, force, sink=None,
    extra_rows=(),
) -> Outcome:  # fmt: skip
    """Write one run folder (atomically) from a Result or a recorded failure; or, given a ``sink``
    (a list) and no figures, append the run to it for one batched write (``compact.write_batch``).
    ``extra_rows`` (the runner's sharpness rows) join the rows after the figures are drawn."""
    figures, checks, arrays = {}, [], {}
    if result is not None:
        rows, arrays = result.rows, result.arrays
        checks = [c.to_dict() for c in checks_mod.resolve(result.checks)]
        notes = notes + list(result.notes)
        if plot:
            figures = module.plot(_rows_frame(rows), cfg)
            for fig in figures.values():
                fig.canvas.draw()
        rows = _with_rows(rows, list(extra_rows))
    else:
        rows = _failure_rows(error["exception"])
        error = {k: v for k, v in error.items() if k != "exception"}
    config_hash = config_mod.config_hash(name, cfg)
    n = checks_mod.counts(checks)
    n_failed = checks_mod.failures_in(n)  # = the checks for which ``is_failure`` holds
    record = {
        "experiment": name,
        "hash": config_hash,
        "config": config_mod.to_dict(cfg),
        "version": __version__,
        "created": time.time(),
        "elapsed_s": elapsed,
        "status": "ok" if error is None else "failed",
        "checks_passed": len(checks) - n_failed,
        "checks_failed": n_failed,
        **n,
        "notes": notes,
    }
    try:
        if sink is not None and not figures and not force:  # (a part never replaces a run)
            from implicit_bias import compact

            sink.append(compact.run_data(record, rows, checks, error, arrays))
        else:
            store.write_run(
                path, config=record, rows=rows, checks=checks, figures=figures, error=error,
                force=force, arrays=arrays,
            )  # fmt: skip
    finally:
        if figures:
            import matplotlib.pyplot as plt

            for fig in figures.values():
                plt.close(fig)
    return Outcome(name, path, record["status"], checks, notes, error, elapsed)


def _warning_notes(caught) -> list[str]:
    notes = []
    for w in caught:
        notes.append(f"warning: {w.message}")
        progress.note(f"[yellow]warning[/yellow]: {w.message}")
    return notes


def execute(
    name: str,
    cfg=None,
    *,
    root: Path = store.DEFAULT_ROOT,
    out: Path | None = None,
    force: bool = False,
    strict: bool = False,
    plot: bool = True,
) -> Outcome:
    """Run experiment ``name`` at ``cfg`` (default config if None) unless the store already has it.

    Divergence and solver failures are recorded as failed runs (error.json, partial rows) and
    returned, never lost; bad input (ConfigError) is raised. Under ``strict`` a step size above a
    theorem's bound is refused.
    """
    module = experiments.get(name)
    cfg = module.Config() if cfg is None else cfg
    if not isinstance(cfg, module.Config):
        raise ConfigError(f"{name} expects a {name}.Config, got {type(cfg).__name__}")
    config_mod.validate(cfg, experiment=name)
    path = (
        Path(out)
        if out is not None
        else store.run_path(root, name, config_mod.config_hash(name, cfg))
    )
    store.check_writable(path, what="--out" if out is not None else "--root")
    return run_and_store(name, module, cfg, path, force=force, strict=strict, plot=plot)


def run_and_store(
    name: str, module, cfg, path: Path, *, force: bool = False, strict: bool = False,
    plot: bool = True,
) -> Outcome:  # fmt: skip
    """The store's side of ``execute`` for any module-like object with ``run(cfg) -> Result`` and
    ``plot(rows, cfg) -> {name: figure}`` (an experiment module, or ``explore``'s questions): the
    stored run at ``path`` unless ``force``; else run, record a divergence or solver failure as a
    failed run, and write the run folder atomically."""
    if store.is_done(path) and not force:
        outcome = _from_disk(name, path)
        if strict:
            _refuse_cached_under_strict(outcome)
        return outcome
    broken = store.verify_run(path) if store.looks_like_run(path) else None
    from implicit_bias.optim import api, sharpness_rows

    start = time.perf_counter()
    result, error = None, None
    recorder = api.FitRecorder(
        max_params=sharpness_rows.AUTO_MAX_PARAMS, limit=sharpness_rows.AUTO_LIMIT
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error" if strict else "always", StepSizeWarning)
        try:
            with api.recording(recorder):
                result = module.run(cfg)
        except StepSizeWarning as w:
            raise ConfigError(f"refused under --strict: {w}") from None
        except RUN_FAILURES as e:
            error = {**_error_record(e), "exception": e}
    notes = _warning_notes(caught)
    if broken is not None:
        notes.insert(0, f"recomputed: the stored run was broken ({broken})")
        progress.note(f"[yellow]recomputing[/yellow] {path}: the stored run was broken ({broken})")
    extra, more = _sharpness_rows(recorder, result, time.perf_counter() - start)
    notes += more
    elapsed = time.perf_counter() - start  # the sharpness rows' time included
    outcome = _save(name, module, cfg, path, result, error, notes, elapsed, plot=plot, force=force,
                    extra_rows=extra)  # fmt: skip
    for w in caught:  # the Python API sees the warnings too (the CLI shows them as notes)
        if issubclass(w.category, StepSizeWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return outcome


def execute_many(
    name: str,
    cfgs: list,
    *,
    root: Path = store.DEFAULT_ROOT,
    force: bool = False,
    strict: bool = False,
    plot: bool = False,
    sink: list | None = None,
) -> list[Outcome]:
    """Run many configs of one experiment; the ones not yet stored go through ``run_batch`` if the
    experiment has one (one vmapped computation), else one by one. Each run is stored on its own,
    or, given a ``sink`` (a list), the ``run_batch`` runs are appended to it for the caller to
    write at once (``compact.write_batch``: a sweep task's runs as one part).

    A failure of one config (divergence, solver failure, bad input) is recorded for that config and
    does not stop the others.
    """
    module = experiments.get(name)
    paths = [store.run_path(root, name, config_mod.config_hash(name, c)) for c in cfgs]
    outcomes: dict[int, Outcome] = {}
    todo = []
    for i, (cfg, path) in enumerate(zip(cfgs, paths)):
        if store.is_done(path) and not force:
            outcomes[i] = _from_disk(name, path)
        else:
            todo.append(i)
    run_batch = getattr(module, "run_batch", None)
    if run_batch is not None and len(todo) > 1:
        from implicit_bias.optim import api, sharpness_rows

        start = time.perf_counter()
        # each config's sharpness rows as its own run would record them (a member counts as one run)
        recorder = api.FitRecorder(
            max_params=sharpness_rows.AUTO_MAX_PARAMS, limit=sharpness_rows.AUTO_LIMIT * len(todo)
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("error" if strict else "always", StepSizeWarning)
            try:
                with api.recording(recorder):
                    results = run_batch([cfgs[i] for i in todo])
            except StepSizeWarning as w:
                results = [ConfigError(f"refused under --strict: {w}")] * len(todo)
        notes = _warning_notes(caught)
        extra, more = _batch_sharpness_rows(recorder, results, time.perf_counter() - start)
        elapsed = (time.perf_counter() - start) / len(todo)  # the sharpness rows' time included
        for i, res, rows in zip(todo, results, extra):
            outcomes[i] = _save_or_fail(
                name, module, cfgs[i], paths[i], res, notes + more, elapsed, plot, force, sink,
                extra_rows=rows,
            )  # fmt: skip
    else:
        for i in todo:
            try:
                outcomes[i] = execute(
                    name, cfgs[i], root=root, force=force, strict=strict, plot=plot
                )
            except ConfigError as e:
                outcomes[i] = _save_or_fail(
                    name, module, cfgs[i], paths[i], e, [], 0.0, plot, force
                )
    return [outcomes[i] for i in range(len(cfgs))]


def _save_or_fail(
    name, module, cfg, path, res, notes, elapsed, plot, force, sink=None, extra_rows=()
) -> Outcome:  # fmt: skip
    if isinstance(res, Exception):
        error = {**_error_record(res), "exception": res}
        return _save(
            name, module, cfg, path, None, error, notes, elapsed, plot=False, force=force, sink=sink
        )
    return _save(name, module, cfg, path, res, None, notes, elapsed, plot=plot, force=force,
                 sink=sink, extra_rows=extra_rows)  # fmt: skip


def n_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0))


def execute_parallel(
    cfgs: dict,
    *,
    root: Path = store.DEFAULT_ROOT,
    force: bool = False,
    n_workers: int | None = None,
    plot: bool = True,
):
    """Run several experiments side by side on a local Dask cluster (one single-threaded process
    per core); yields ``(name, Outcome)`` as each finishes. ``cfgs`` maps a name to its config, or
    is a list of ``(name, config)`` pairs (one experiment at several seeds).

    The experiments whose docstrings state the longest run times start first. Each run is stored
    atomically by the worker that computed it, so an interrupted call loses nothing finished.
    Bad input (ConfigError) in any experiment is raised here.
    """
    from distributed import Client, as_completed

    from implicit_bias.cluster import local_cluster

    jobs = list(cfgs.items()) if isinstance(cfgs, dict) else list(cfgs)
    order = sorted(jobs, key=lambda j: -(experiments.run_time(experiments.get(j[0])) or 10.0))
    cluster = local_cluster(n_workers)
    client = Client(cluster)
    try:
        futures = {
            client.submit(
                execute, name, cfg, root=Path(root).resolve(), force=force, plot=plot,
                priority=len(order) - i, pure=False,
            ): name
            for i, (name, cfg) in enumerate(order)
        }  # fmt: skip
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        client.close()
        cluster.close()
