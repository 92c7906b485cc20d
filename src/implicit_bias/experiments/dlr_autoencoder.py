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
from annotated_types import Ge, Le

from implicit_bias import checks, plots
from implicit_bias.baselines.regression import reduced_rank_path
from implicit_bias.config import Dim, LogScale, Positive, Seed, Step, Tol
from implicit_bias.experiments import Result, series_rows
from implicit_bias.experiments._constraints import require, step_below_bound
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
    # n_steps = steps_factor · δ/(η λ_min); ≥ 1.5: the last plateau is checked at 1.5 δ/(η λ_min)
    steps_factor: Annotated[float, Ge(1.5), Le(1e3)] = 1.5
    tol: Tol = 0.05  # |trace norm − k| on the plateaus
    seed: Seed = 0

    def check(self) -> None:
        """Cross-field constraints (``config.validate`` calls this)."""
        require(
            self.n >= len(self.lam),
            f"n = {self.n} must be >= len(lam) = {len(self.lam)} (n samples of p = len(lam) features)",
        )
        step_below_bound(self.eta, self.lam, "lam")


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
    src = "seed 004, linear auto-encoder: the trace norm witnesses the increasing rank"
    nuc_k = [np.linalg.norm(W, "nuc") for W in W_stack]
    found.append(checks.sanity("baseline: ‖W^{k,*}‖_* = k for every k (SVD)",
                               max(abs(v - k) for k, v in enumerate(nuc_k)) <= 10 * p * p * 2.0**-53 * p,
                               predicted="|‖W^{k,*}‖_* − k| ≤ 10p³u", observed=max(abs(v - k) for k, v in enumerate(nuc_k))))  # fmt: skip
    # the seed's staircase is a δ → ∞ statement; the exact scalar recursion (X = Y: σ_i = λ_i) gives its
    # remainder at this δ: at the plateau steps Σ_i w_i must be within tol of k
    t_plateau = np.round(plateau_times(T)).astype(int)
    w_rec = theory.w_discrete(np.exp(-2 * cfg.delta), lam, lam, cfg.eta, n_steps)
    rem = max(abs(w_rec[s].sum() - k) for k, s in enumerate(t_plateau))
    # reconstruction error ½Σλ_i(1 − w_i)²: a deviation Δw in the component in transition (weight λ_{k+1},
    # or λ_p on the last plateau) moves it by ≤ λ·|Δw|; tolerance λ_{min(k+1, p)}·tol
    rec_tol = [cfg.tol * lam[min(k, p - 1)] for k in range(p + 1)]
    rec_rem = max(abs(0.5 * np.sum(lam * (1 - w_rec[s]) ** 2) - 0.5 * lam[k:].sum()) / rec_tol[k]
                  for k, s in enumerate(t_plateau)) * cfg.tol  # fmt: skip
    rem = max(rem, rec_rem)
    h_step, h_delta = (
        "step size below 1/(2 max λ_i)",
        "δ large enough: the exact recursion is within the tolerances on every plateau",
    )
    found.append(checks.hypothesis(h_step, cfg.eta < theory.discrete_step_bound(lam),
                                   predicted=f"< {theory.discrete_step_bound(lam):.6g}", observed=cfg.eta,
                                   source="seed 004, discrete dynamics"))  # fmt: skip
    found.append(checks.hypothesis(h_delta, rem <= cfg.tol, predicted=f"≤ {cfg.tol:g}", observed=rem, source=src,
                                   basis="the plateau claims' own tolerance: the limit δ → ∞ is within it at this δ",
                                   detail="Σ_i w_i at the plateau steps from theory.w_discrete (NumPy recursion)"))  # fmt: skip
    req = (h_step, h_delta)
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

    for k, st in enumerate(t_plateau):
        found.append(checks.close(
            f"L = 2: trace norm = {k} on plateau {k}", k, traces[2][st], cfg.tol, source=src, requires=req,
            basis="tol (config), once the exact recursion is within it (hypothesis)", detail=f"step {st}",
        ))  # fmt: skip
        floor = 0.5 * lam[k:].sum()
        found.append(checks.close(
            f"L = 2: reconstruction error = ½Σ_(i>{k}) λ_i on plateau {k}", floor, recons[2][st],
            rec_tol[k], source=src + " (reconstruction error of W^{k,*})", requires=req,
            basis="λ_{k+1}·tol: a deviation tol in the component in transition moves ½Σλ_i(1 − w_i)² by ≤ λ_{k+1}·tol",
            detail=f"step {st}",
        ))  # fmt: skip
    drop = max(0.0, -np.diff(traces[2]).min())
    found.append(checks.at_most(
        "L = 2: trace norm never decreases (largest drop)", 10 * p * p * 2.0**-53 * p, drop, source=src,
        basis="SVD round-off 10p³u (each σ_i to p·u·σ_1, p of them)", requires=(h_step,),
    ))  # fmt: skip
    s1 = t_plateau[1]
    found.append(checks.at_least(
        "L = 1: trace norm away from 1 where L = 2 sits at rank 1 (no staircase)", cfg.tol,
        abs(traces[1][s1] - 1.0), source="seed 004: not the case for a one-layer linear model",
        basis="tol: the distance under which L = 2 counts as sitting on the plateau",
        detail=f"step {s1}; the one-layer model learns all components at once, on the time scale 1/(ηλ_i)",
        requires=req,
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
