"""Linear autoencoder (Y = X): the trace norm of W^{(t)} climbs 0, 1, 2, … in steps for L = 2, not for L = 1.

Seed 004 (Gidel, Bach & Lacoste-Julien 2019), "Linear auto-encoder": with X = Y the reduced-rank
solutions are the projections W^{k,*} = U_k U_kᵀ on the top-k principal directions (‖W^{k,*}‖_* = k),
σ_i = λ_i, and the two-layer GD learns them at the steps T_k = δ/(ηλ_k). Expected at the defaults
(λ = (8, 4, 2, 1), δ = 8, η = 0.02): for L = 2 the trace norm sits within 0.05 of k between T_k and
T_{k+1} and the reconstruction error ½n⁻¹‖X − XW‖² at ½Σ_{i>k}λ_i; for L = 1 from the same initial
W(0) = e^{−2δ}UUᵀ every component rises at once on the time scale 1/(ηλ_i), so by the time L = 2 has
learned one component L = 1 has a trace norm above 2 and no plateaus.

    implicit-bias run dlr_autoencoder                      # ~3 s (2 shared cores)
    implicit-bias run dlr_autoencoder --set delta=15
"""

import dataclasses
from typing import Annotated

import numpy as np
from annotated_types import Gt, Le

from implicit_bias import checks, plots
from implicit_bias.baselines.regression import reduced_rank_path
from implicit_bias.config import Dim, LogScale, Positive, Seed, Step, Tol
from implicit_bias.experiments import Result, series_rows
from implicit_bias.experiments.dlr_sequential import plateau_times
from implicit_bias.models.spectral import deep_linear, spectral_init
from implicit_bias.optim import GD, fit
from implicit_bias.problems.regression import autoencoder
from implicit_bias.theory import regression as theory

SEED = "004"
ORDER = 3
TITLE = "Deep linear regression: linear autoencoder, trace norm as the rank witness"

TINY = {"delta": 6.0}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    lam: tuple[Positive, ...] = (8.0, 4.0, 2.0, 1.0)  # eigenvalues of Σ_x = XᵀX/n
    n: Dim = 8
    delta: LogScale = 8.0
    eta: Step = 0.02
    steps_factor: Annotated[float, Gt(0), Le(1e3)] = 1.5  # n_steps = steps_factor · δ/(η λ_min)
    tol: Tol = 0.05  # |trace norm − k| on the plateaus
    seed: Seed = 0


def run(cfg: Config) -> Result:
    lam = np.asarray(cfg.lam, dtype=float)
    theory.check_discrete_step(cfg.eta, lam)
    data = autoencoder(lam=lam, n=cfg.n, seed=cfg.seed)
    P = data.problem
    p = lam.size
    T = theory.transition_times(lam, delta=cfg.delta, eta=cfg.eta)  # in steps
    n_steps = int(round(cfg.steps_factor * T.max()))
    W_stack, _ = reduced_rank_path(P)
    X = np.asarray(P.X)

    rows, found, traces, recons = [], [], {}, {}
    nuc_k = [np.linalg.norm(W, "nuc") for W in W_stack]
    found.append(checks.close("‖W^{k,*}‖_* = k for every k (baseline, SVD)", 0.0,
                              max(abs(v - k) for k, v in enumerate(nuc_k)), 1e-10))  # fmt: skip
    for L in (1, 2):
        widths = (p,) * (L + 1)
        model = deep_linear(widths)
        params0 = spectral_init(data.U, data.V, cfg.delta, widths)
        traj = fit(
            model, P, GD(eta=cfg.eta, n_steps=n_steps, save_every=1), params0=params0, observe=model
        )
        steps = np.asarray(traj.t)
        Ws = np.asarray(traj.observed)
        trace = np.linalg.svd(Ws, compute_uv=False).sum(axis=1)
        recon = 0.5 * np.sum((X[None] - X[None] @ Ws) ** 2, axis=(1, 2)) / X.shape[0]
        traces[L], recons[L] = trace, recon
        rows += series_rows(steps, trace, series="trace_norm", depth=L)
        rows += series_rows(steps, recon, series="reconstruction_error", depth=L)

    t_plateau = np.round(plateau_times(T)).astype(int)
    for k, s in enumerate(t_plateau):
        found.append(checks.close(f"L = 2: trace norm = {k} at step {s}", k, traces[2][s], cfg.tol))
        floor = 0.5 * lam[k:].sum()
        found.append(checks.close(f"L = 2: reconstruction error = ½Σ_(i>{k}) λ_i at step {s}", floor, recons[2][s],
                                  0.05 * max(floor, lam.min()) if k < p else 1e-3))  # fmt: skip
    found.append(checks.at_most("L = 2: trace norm never decreases (largest drop)", 1e-12,
                                max(0.0, -np.diff(traces[2]).min())))  # fmt: skip
    s1 = t_plateau[1]
    found.append(checks.at_least(
        f"L = 1: trace norm at step {s1} (where L = 2 sits at rank 1) — no staircase", 2.0, traces[1][s1],
        detail="the one-layer model learns all components at once, on the time scale 1/(ηλ_i)",
    ))  # fmt: skip
    rows += [
        {"t": float(Tk), "series": "transition", "i": i, "value": float(Tk), "depth": 2}
        for i, Tk in enumerate(T)
    ]
    return Result(
        rows=rows, checks=found, notes=[f"T_k = δ/(ηλ_k) = {np.array2string(T, precision=4)} steps"]
    )


def plot(rows, cfg: Config):
    fig, axes = plots.figure(2, 1, width=4.4, height=3.4)
    T = rows[rows.series == "transition"].t.to_numpy()
    for ax, series, label in [(axes[0, 0], "trace_norm", "trace norm $\\|W^{(t)}\\|_*$"),
                              (axes[0, 1], "reconstruction_error", "reconstruction error")]:  # fmt: skip
        for L, g in rows[rows.series == series].groupby("depth"):
            ax.plot(g.t, g.value, color=plots.color(L - 1), label=f"L = {L}")
        for Tk in T:
            ax.axvline(Tk, color="0.6", ls=":", lw=0.8)
        ax.set(xlabel="step t", ylabel=label)
        ax.legend(fontsize=8)
    axes[0, 0].set_title(f"linear autoencoder, η={cfg.eta:g}, δ={cfg.delta:g}")
    axes[0, 1].set_yscale("log")
    return {"autoencoder": fig}
