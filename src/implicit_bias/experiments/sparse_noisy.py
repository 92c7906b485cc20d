"""Noisy measurements: the flow stopped early (discrepancy principle) is as accurate as basis pursuit
denoising, and its error grows linearly with the noise; run to interpolation it is worse.

Seed 003 ("Extension to noisy measurements possible (via the ℓ1-quotient property)"). Signed N = 2
model x̂ = u^{⊙2} − v^{⊙2} from α1, Gaussian A, s-sparse signed x, y = Ax + e with ‖e‖₂ = δ. The
engine's gradient flow stops as soon as ‖Ax̂ − y‖₂ ≤ δ (``loss_tol`` = δ²/2: early stopping by the
discrepancy principle); BPDN solves min ‖z‖₁ s.t. ‖Az − y‖₂ ≤ δ (cvxpy). The flow run to interpolation
(Ax̂ = y) is shown for contrast. Errors ‖x̂ − x‖₂/‖x‖₂, averaged over ``n_seeds`` problems.

The seed gives no constant for the noisy case, so the factor 2 and the slope band ±0.35 of the
claims are the experiment's choices, said so in each check's basis; interpolation being worse than
early stopping is a sanity check.

Expected at the defaults (n = 60, m = 30, s = 3, α = 1e-5, δ = 0.01 … 0.3): both errors grow about
linearly in δ (log-log slopes ≈ 0.96 for the flow, 1.00 for BPDN); the early-stopped flow is about
twice as accurate as BPDN (0.0021 vs 0.0034 at δ = 0.01, 0.055 vs 0.10 at δ = 0.3); the interpolating
flow is ~3× worse than the early-stopped one (0.16 at δ = 0.3). With α = 1e-3 the α-bias dominates
at δ = 0.003 (early-stopped error 0.0028 vs BPDN 0.0008): small noise needs small α.

    implicit-bias run sparse_noisy                     # ~40 s (2 shared cores)
    implicit-bias run sparse_noisy --set n_seeds=20
"""

import dataclasses
from typing import Annotated

import numpy as np
from annotated_types import Ge, Le

from implicit_bias import checks, plots
from implicit_bias.baselines import l1
from implicit_bias.config import Count, Dim, NonNegative, Scale, Seed
from implicit_bias.experiments import Result
from implicit_bias.experiments._constraints import s_le_n
from implicit_bias.experiments._sparse import engine_flow, engine_limit, limit
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim import GradientFlow
from implicit_bias.problems.linear import make_sparse

SEED = "003"
ORDER = 7
TITLE = "Noisy measurements: early-stopped flow vs basis pursuit denoising"

TINY = {"n": 30, "m": 16, "s": 2, "n_seeds": 1, "noises": (0.01, 0.1)}
NOISY = "seed 003, 'Extension to noisy measurements possible (via the ℓ1-quotient property)'"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    n: Dim = 60
    m: Dim = 30
    s: Dim = 3
    alpha: Scale = 1e-5
    noises: tuple[NonNegative, ...] = (0.01, 0.03, 0.1, 0.3)  # ‖e‖₂
    n_seeds: Count = 2
    factor: Annotated[float, Ge(1), Le(1e6)] = (
        2.0  # early-stopped flow error ≤ factor · BPDN error (+ 1e-3)
    )
    seed: Seed = 0

    def check(self) -> None:
        """Cross-field constraints (``config.validate`` calls this)."""
        s_le_n(self)


def run(cfg: Config) -> Result:
    model = Hadamard(depth=2, n=cfg.n, alpha=cfg.alpha, signed=True)
    rows, found, notes = [], [], []
    table = {k: np.zeros((len(cfg.noises), cfg.n_seeds)) for k in ("early", "bpdn", "interp")}
    for j, delta in enumerate(cfg.noises):
        for k in range(cfg.n_seeds):
            data = make_sparse(
                m=cfg.m, n=cfg.n, s=cfg.s, signed=True, noise=delta, seed=cfg.seed + k
            )
            xn = np.linalg.norm(data.x)
            method = engine_flow(data.problem, rtol=1e-8)
            method = GradientFlow(**{**_fields(method), "loss_tol": 0.5 * delta**2})
            traj, x_early = engine_limit(model, data.problem, method)
            z = l1.bpdn(data.A, data.y, delta)
            _, x_interp = limit(model, data.problem, rel_tol=1e-10)
            table["early"][j, k] = np.linalg.norm(x_early - data.x) / xn
            table["bpdn"][j, k] = np.linalg.norm(z - data.x) / xn
            table["interp"][j, k] = np.linalg.norm(x_interp - data.x) / xn
    for name, vals in table.items():
        for j, delta in enumerate(cfg.noises):
            rows.append({"t": float(delta), "series": name, "value": float(vals[j].mean()),
                         "std": float(vals[j].std())})  # fmt: skip
    early, bpdn, interp = (table[k].mean(axis=1) for k in ("early", "bpdn", "interp"))
    for j, delta in enumerate(cfg.noises):
        notes.append(f"δ = {delta:g}: error early-stopped flow {early[j]:.3g}, BPDN {bpdn[j]:.3g}, "
                     f"interpolating flow {interp[j]:.3g}")  # fmt: skip
        found.append(checks.at_most(
            f"δ = {delta:g}: early-stopped flow ≤ {cfg.factor:g} × BPDN error (+1e-3)",
            cfg.factor * bpdn[j] + 1e-3, early[j], source=NOISY,
            basis="not derived: the seed gives no constant; BPDN and the discrepancy-stopped flow "
            "obey robust bounds ‖z − x‖₂ ≤ Dδ of the same form (Foucart & Rauhut Thm 4.22); factor "
            f"{cfg.factor:g} and the 1e-3 floor (the α-bias at α = 1e-5) are the experiment's choice"))  # fmt: skip
    if len(cfg.noises) >= 2:
        lx = np.log(np.asarray(cfg.noises))
        for name, e in [("early-stopped flow", early), ("BPDN", bpdn)]:
            slope = float(np.polyfit(lx, np.log(e), 1)[0])
            found.append(checks.close(
                f"{name}: error ∝ δ (log-log slope)", 1.0, slope, 0.35, source=NOISY,
                basis="robust recovery bounds are linear in δ; the ±0.35 band is not derived (it "
                "allows the α-bias floor at the smallest δ and the spread of n_seeds problems)"))  # fmt: skip
    found.append(checks.sanity(
        "the comparison discriminates: at the largest δ, interpolation is worse than early stopping",
        interp[-1] >= early[-1], predicted=f"≥ {early[-1]:.3g}", observed=interp[-1],
        basis="an interpolating limit fits the noise; an ordering, no tolerance"))  # fmt: skip
    return Result(rows=rows, checks=found, notes=notes)


def _fields(method) -> dict:
    return {f.name: getattr(method, f.name) for f in dataclasses.fields(method)}


def plot(rows, cfg: Config):
    fig, axes = plots.figure(1, 1, width=4.6, height=3.4)
    ax = axes[0, 0]
    for k, name in enumerate(("early", "bpdn", "interp")):
        g = rows[rows.series == name].sort_values("t")
        ax.errorbar(g.t, g.value, yerr=g["std"], fmt="o-", color=plots.color(k),
                    label={"early": "flow, early stopped", "bpdn": "BPDN",
                           "interp": "flow to interpolation"}[name])  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="noise ‖e‖₂", ylabel="‖x̂ − x‖₂/‖x‖₂",
           title=f"N=2 signed, n={cfg.n}, m={cfg.m}, s={cfg.s}")  # fmt: skip
    ax.legend(fontsize=7)
    return {"noisy": fig}
