"""One question run, measured, checked, plotted and stored like an experiment run (the experiment
interface ``run``/``plot``: this module is what ``runner.run_and_store`` gets)."""

import sys
from pathlib import Path

import numpy as np

from implicit_bias import checks, config as config_mod, store
from implicit_bias.explore.build import baselines, setup
from implicit_bias.explore.question import NAME, NO_THEORY, Question
from implicit_bias.explore.theory import theory_checks


def _rows(t, series, values, i=None) -> list[dict]:
    values = np.asarray(values)
    if values.ndim == 1:
        return [{"t": float(a), "series": series, "i": -1 if i is None else i, "value": float(v)}
                for a, v in zip(t, values)]  # fmt: skip
    rows = []
    for j in range(values.shape[1]):
        rows += _rows(t, series, values[:, j], j)
    return rows


def run(q: Question):
    """Build, fit, measure and check one question: an ``experiments.Result``."""
    from implicit_bias.experiments import Result
    from implicit_bias.metrics import effective_rank
    from implicit_bias.optim import fit

    s = setup(q)
    base = baselines(q, s, q.baselines)
    traj = fit(
        s.model,
        s.problem,
        s.method,
        params0=s.params0,
        observe=s.model,
        label=f"explore {q.problem}",
    )
    t = np.asarray(traj.t)
    X = np.asarray(traj.observed)
    X_end = X[-1]
    rows = _rows(t, "loss", traj.loss)
    if X.ndim == 3:
        sv = np.linalg.svd(X, compute_uv=False)
        rows += _rows(t, "singular_value", sv[:, : min(sv.shape[1], 10)])
        rows += _rows(t, "effective_rank", [float(effective_rank(x)) for x in X])
    else:
        top = np.argsort(-np.abs(X_end))[: min(X.shape[1], 10)]
        rows += _rows(t, "entry", X[:, top])
    ref = {"truth": s.truth} if s.truth is not None else {}
    for name, B in {**ref, **base}.items():
        scale = max(float(np.linalg.norm(B)), 1e-300)
        dist = np.linalg.norm((X - B[None]).reshape(len(X), -1), axis=1) / scale
        rows += _rows(t, f"distance_to_{name}", dist)
    found = [
        checks.sanity("the loss decreased", bool(traj.loss[-1] < traj.loss[0]),
                      predicted="L(end) < L(0)", observed=f"{float(traj.loss[0]):.3g} → {float(traj.loss[-1]):.3g}"),
    ]  # fmt: skip
    theory, applied = theory_checks(q, s, traj, X_end, base)
    found += theory
    notes = [f"path: {traj.path}", "theory: " + ("; ".join(applied) if applied else NO_THEORY)]
    if s.truth is None:
        notes.append("the truth is unknown (user data): no distance to X*")
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Question) -> dict:
    """One figure: loss; spectrum (or entries); effective rank; distances to X* and the baselines."""
    import matplotlib.pyplot as plt

    df = rows
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    xlabel = "time t" if cfg.method == "flow" else "step"
    loss = df[df.series == "loss"]
    pos = loss.value > 0
    axes[0].loglog(loss.t[pos & (loss.t > 0)], loss.value[pos & (loss.t > 0)])
    axes[0].set(
        xlabel=xlabel,
        ylabel="loss",
        title=f"{cfg.problem}: {cfg.model} N={cfg.depth}, {cfg.method}",
    )
    spec = df[df.series.isin(["singular_value", "entry"])]
    for i, g in spec.groupby("i"):
        axes[1].semilogx(g.t[g.t > 0], g.value[g.t > 0], lw=1)
    axes[1].set(
        xlabel=xlabel,
        ylabel="singular values" if (df.series == "singular_value").any() else "largest entries",
    )
    for series, g in df[df.series.str.startswith("distance_to_")].groupby("series"):
        axes[2].loglog(g.t[g.t > 0], g.value[g.t > 0], label=series.removeprefix("distance_to_"))
    er = df[df.series == "effective_rank"]
    if len(er):
        ax = axes[2].twinx()
        ax.semilogx(er.t[er.t > 0], er.value[er.t > 0], "k:", label="effective rank")
        ax.set_ylabel("effective rank (dotted)")
    axes[2].set(xlabel=xlabel, ylabel="relative distance")
    if axes[2].get_legend_handles_labels()[0]:
        axes[2].legend(fontsize=8)
    fig.tight_layout()
    return {"explore": fig}


def execute(
    q: Question, *, root=store.DEFAULT_ROOT, force: bool = False, plot_figures: bool = True
):
    """Run ``q`` unless stored; store it under ``root/explore/<hash>`` like an experiment run."""
    from implicit_bias import runner

    path = store.run_path(Path(root), NAME, config_mod.config_hash(NAME, q))
    # this module is what the runner needs of an experiment module: run(cfg) and plot(rows, cfg)
    module = sys.modules[__name__]
    return runner.run_and_store(NAME, module, q, path, force=force, plot=plot_figures)
