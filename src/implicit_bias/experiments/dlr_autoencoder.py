"""Linear autoencoder (Y = X): the trace norm of W^{(t)} climbs 0, 1, 2, … in steps for L = 2, not for L = 1.

Seed 004 (Gidel, Bach & Lacoste-Julien 2019), "Linear auto-encoder": with X = Y the reduced-rank
solutions are the projections W^{k,*} = U_k U_kᵀ on the top-k principal directions (‖W^{k,*}‖_* = k),
σ_i = λ_i, and the two-layer GD learns them at the steps T_k = δ/(ηλ_k). The staircase is a δ → ∞
statement, so it is claimed as such: the run is made at δ and δ/2, and at each plateau step s_k·δ (s_k
between the rescaled transitions) each component's distance to W^{k,*} must shrink at the rate of
``theory.plateau_rates`` (growth (1 + ηλ)² per step before its transition at δ/ln(1 + ηλ), contraction
1 − 2ηλ after), to within the expansion's remainder. Expected at the defaults (λ = (8, 4, 2, 1), δ = 8,
η = 0.02): the trace norm reads 0.0002, 1.005, 2.006, 3.007, 4 at the plateau steps; for L = 1 from the same
initial W(0) = e^{−2δ}UUᵀ every component approaches 1 at once, at the rate −ln(1 − ηλ_i)/2 per unit of
rescaled time, with no plateau.

    implicit-bias run dlr_autoencoder                      # ~3 s (2 shared cores)
    implicit-bias run dlr_autoencoder --set delta=15
"""

import dataclasses
from typing import Annotated

import numpy as np
from annotated_types import Ge, Le

from implicit_bias import checks, plots
from implicit_bias.baselines.regression import reduced_rank_path
from implicit_bias.config import Dim, LogScale, Positive, Seed, Step
from implicit_bias.experiments import Result, series_rows
from implicit_bias.experiments._constraints import require, step_below_bound
from implicit_bias.experiments.dlr_closed_form import components
from implicit_bias.experiments.dlr_sequential import (
    U_ROUND,
    one_layer_rate_check,
    plateau_times,
    staircase_rate_check,
)
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
    W_stack, _ = reduced_rank_path(P)
    X = np.asarray(P.X)

    rows, found, runs = [], [], {}
    src = "seed 004, linear auto-encoder: the trace norm witnesses the increasing rank"
    nuc_k = [np.linalg.norm(W, "nuc") for W in W_stack]
    found.append(checks.sanity("baseline: ‖W^{k,*}‖_* = k for every k (SVD)",
                               max(abs(v - k) for k, v in enumerate(nuc_k)) <= 10 * p * p * 2.0**-53 * p,
                               predicted="|‖W^{k,*}‖_* − k| ≤ 10p³u", observed=max(abs(v - k) for k, v in enumerate(nuc_k))))  # fmt: skip
    h_step = "step size below 1/(2 max λ_i)"
    found.append(checks.hypothesis(h_step, cfg.eta < theory.discrete_step_bound(lam),
                                   predicted=f"< {theory.discrete_step_bound(lam):.6g}", observed=cfg.eta,
                                   source="seed 004, discrete dynamics"))  # fmt: skip
    # every run at δ (the figure) and at δ/2: the staircase is a δ → ∞ statement, claimed as its δ-scaling
    deltas = (cfg.delta / 2, cfg.delta)
    traces = {}
    for delta in deltas:
        steps_d = int(np.ceil(cfg.steps_factor * T.max() * delta / cfg.delta - 1e-9))
        for L in (1, 2):
            widths = (p,) * (L + 1)
            model = deep_linear(widths)
            params0 = spectral_init(data.U, data.V, delta, widths)
            traj = fit(model, P, GD(eta=cfg.eta, n_steps=steps_d, save_every=1), params0=params0,
                       observe=model)  # fmt: skip
            steps = np.asarray(traj.t)
            Ws = np.asarray(traj.observed)
            err = (steps_d + 1) * (p * p + 4) * U_ROUND * np.sqrt(p)  # round-off, ‖W^{p,*}‖_F = √p
            runs[(L, delta)] = (steps, components(data.U, data.V, Ws, p), err)
            if delta == cfg.delta:
                trace = np.linalg.svd(Ws, compute_uv=False).sum(axis=1)
                recon = 0.5 * np.sum((X[None] - X[None] @ Ws) ** 2, axis=(1, 2)) / X.shape[0]
                traces[L] = trace
                rows += series_rows(steps, trace, series="trace_norm", depth=L)
                rows += series_rows(steps, recon, series="reconstruction_error", depth=L)

    # W → W^{k,*} = U_k U_kᵀ between the transitions (so the trace norm → k), measured as δ doubles
    s_plateau = plateau_times(
        1.0 / (cfg.eta * lam)
    )  # steps per unit of δ (the seed's T_k = δ/(ηλ_k))
    notes = [f"T_k = δ/(ηλ_k) = {np.array2string(T, precision=4)} steps (exact discrete: δ/ln(1+ηλ_k) = "
             f"{np.array2string(cfg.delta / np.log1p(cfg.eta * lam), precision=4)})"]  # fmt: skip
    for k, s_k in enumerate(s_plateau):
        pair = [(d, *runs[(2, d)]) for d in deltas]
        check, why = staircase_rate_check(
            f"L = 2: W → W^{{{k},*}} = U_{k}U_{k}ᵀ at plateau {k} (distance at δ/2 vs δ, each component at its "
            "rate; trace norm → k)", s_k, pair, lam, lam, eta=cfg.eta, requires=(h_step,), source=src,
            detail=f"s = {s_k:.4g} steps per unit of δ",
        )  # fmt: skip
        if check is None:
            notes.append(f"plateau {k}: not claimed, {why}")
        else:
            found.append(check)
    st = [int(x) for x in np.round(s_plateau * cfg.delta)]
    values = ", ".join(f"{traces[2][s]:.4g}" for s in st)
    notes.append(
        f"L = 2, δ = {cfg.delta:g}: trace norm at the plateau steps {st} = {values} (k = 0 … {p})"
    )
    drop = max(0.0, -np.diff(traces[2]).min())
    found.append(checks.at_most(
        "L = 2: trace norm never decreases (largest drop)", 10 * p * p * 2.0**-53 * p, drop, source=src,
        basis="SVD round-off 10p³u (each σ_i to p·u·σ_1, p of them)", requires=(h_step,),
    ))  # fmt: skip
    pair = [(d, *runs[(1, d)]) for d in deltas]
    check, why = one_layer_rate_check(
        "L = 1 goes straight to W^{p,*} = I, not to U_1U_1ᵀ: at plateau 1 each component approaches 1 at rate "
        "−ln(1 − ηλ_i)s/2 as δ doubles (no staircase)", s_plateau[1], pair, lam, lam, eta=cfg.eta,
        source="seed 004: not the case for a one-layer linear model", requires=(h_step,),
        detail=f"s = {s_plateau[1]:.4g} steps per unit of δ; trace norm there (δ = {cfg.delta:g}): "
               f"L = 1 {traces[1][st[1]]:.4g}, L = 2 {traces[2][st[1]]:.4g}",
    )  # fmt: skip
    if check is None:
        notes.append(f"L = 1: not claimed, {why}")
    else:
        found.append(check)
    rows += [
        {"t": float(Tk), "series": "transition", "i": i, "value": float(Tk), "depth": 2}
        for i, Tk in enumerate(T)
    ]
    return Result(rows=rows, checks=found, notes=notes)


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
