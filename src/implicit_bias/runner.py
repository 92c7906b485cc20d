"""Run one experiment config into the store: cache, time, record warnings and failures, plot, save.

The single code path behind ``implicit-bias run``, ``reproduce`` and every sweep task.
"""

import dataclasses
import time
import warnings
from pathlib import Path

import pandas as pd

from implicit_bias import __version__, config as config_mod, experiments, progress, store
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

    @property
    def n_failed_checks(self) -> int:
        return sum(not c["passed"] for c in self.checks)


def _rows_frame(rows) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))


def _from_disk(name: str, path: Path) -> Outcome:
    cfg = store.read_config(path)
    return Outcome(
        experiment=name,
        path=path,
        status="cached" if cfg.get("status") == "ok" else "failed",
        checks=store.read_checks(path),
        notes=cfg.get("notes", []),
        error=store.read_error(path),
        elapsed=float(cfg.get("elapsed_s", 0.0)),
    )


def _failure_rows(err: Exception) -> pd.DataFrame:
    traj = getattr(err, "trajectory", None)
    if traj is None:
        return pd.DataFrame({"t": [], "series": [], "i": [], "value": []})
    t = [float(x) for x in traj.t]
    return pd.DataFrame({"t": t, "series": "loss", "i": 0, "value": [float(x) for x in traj.loss]})


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
    config_hash = config_mod.config_hash(name, cfg)
    path = Path(out) if out is not None else store.run_path(root, name, config_hash)
    if store.is_done(path) and not force:
        return _from_disk(name, path)

    start = time.perf_counter()
    error, notes, result = None, [], None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error" if strict else "always", StepSizeWarning)
        try:
            result = module.run(cfg)
        except StepSizeWarning as w:
            raise ConfigError(f"refused under --strict: {w}") from None
        except (DivergenceError, SolverError) as e:
            error = {"type": type(e).__name__, "message": str(e)}
            for attr in ("step", "last_loss"):
                if getattr(e, attr, None) is not None:
                    error[attr] = getattr(e, attr)
            rows = _failure_rows(e)
    for w in caught:
        notes.append(f"warning: {w.message}")
        progress.note(f"[yellow]warning[/yellow]: {w.message}")
    elapsed = time.perf_counter() - start

    figures, checks = {}, []
    if result is not None:
        rows = _rows_frame(result.rows)
        checks = [c.to_dict() for c in result.checks]
        notes += list(result.notes)
        if plot:
            import matplotlib.pyplot as plt

            figures = module.plot(rows, cfg)
            for fig in figures.values():
                fig.canvas.draw()
    record = {
        "experiment": name,
        "hash": config_hash,
        "config": config_mod.to_dict(cfg),
        "version": __version__,
        "created": time.time(),
        "elapsed_s": elapsed,
        "status": "ok" if error is None else "failed",
        "checks_passed": sum(c["passed"] for c in checks),
        "checks_failed": sum(not c["passed"] for c in checks),
        "notes": notes,
    }
    store.write_run(
        path, config=record, rows=rows, checks=checks, figures=figures, error=error, force=force
    )
    if figures:
        for fig in figures.values():
            plt.close(fig)
    return Outcome(name, path, record["status"], checks, notes, error, elapsed)
