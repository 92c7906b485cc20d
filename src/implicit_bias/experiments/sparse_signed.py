"""Signed case: the flow of x̂ = u^{⊙N} − v^{⊙N} from α1 reaches Ax̂ = y with ‖x̂_∞‖₁ − Q ≤ εQ.

Seed 003, Chou, Maly & Rauhut (2022), theorem "Convergence to approximate ℓ1-minimizer: general case"
and its compressed-sensing corollary. Gaussian A, signed s-sparse x, y = Ax; gradient flow of
L(u, v) = ½‖A(u^{⊙N} − v^{⊙N}) − y‖² from u(0) = v(0) = α1 for N = 2, 3, 4 over a grid of α.
β₁ = ‖u^{⊙N}(0)‖₁ + ‖v^{⊙N}(0)‖₁ = 2nα^N and β_min = α^N (read off the actual start; the slides print
2α√N and α). Q = min_{Az=y}‖z‖₁ by linear programming. For N = 2 the invariant
arcsinh(x̂(t)/(2α²)) ∈ rowspace(A) is checked for the engine's flow (≈ solver tolerance), GD (visibly
larger) and a random vector (O(1)). The corollary ‖x̂_∞ − x‖₁ ≤ (1+ρ)/(1−ρ)(2σ_s(x)₁ + εQ) is reported
with both sides (ρ, the null-space constant of A, is not computable; the right side is shown at ρ = 0,
its smallest value, and the ρ that the observed error would need).

Expected at the defaults (n = 40, m = 20, s = 3): the gap lies below ε for every α with β₁ < Q and
shrinks as α decreases: like α^N roughly (N = 3: 1e-2 at α = 0.1, 5e-7 at 0.003; N = 2: 0.2 → 2.5e-3).
Where ε at the smallest α is below 1e-2 (N = 3, 4), the gap is < 1e-2 and x̂_∞ recovers x to 1e-2
(basis pursuit does too). For N = 2, ε = 0.5 there: over seeds 0–4 the gap at α = 0.003 is 1.5e-3 …
1.8e-2 and ‖x̂_∞ − x‖₁ is 0.015 … 0.46 — the N = 2 bias towards ℓ1 is slow, and a fixed 1% claim for
it would be luck, so it is reported in the notes, not checked. Invariant residual ~1e-10 for the flow,
~1e-2..1e-1 for GD at η = 0.2, ~0.8 for a random vector.

    implicit-bias run sparse_signed                    # ~30 s (2 shared cores)
    implicit-bias run sparse_signed --set n=100 --set m=50 --set s=5
"""

import dataclasses

import numpy as np

from implicit_bias import checks, plots
from implicit_bias.config import Count, Depth, Dim, Scale, Seed, Step, Tol
from implicit_bias.experiments import Result, series_rows
from implicit_bias.experiments._sparse import engine_flow, engine_limit, limit
from implicit_bias.models.hadamard import Hadamard, x_tilde0
from implicit_bias.optim import GD
from implicit_bias.problems.linear import make_sparse
from implicit_bias.theory import sparse as theory

SEED = "003"
ORDER = 2
TITLE = "Sparse recovery, signed case: ℓ1 ratio vs α, the arcsinh invariant, the CS corollary"

TINY = {"n": 20, "m": 12, "s": 2, "depths": (2, 3), "alphas": (0.1, 0.01), "gd_steps": 2000}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    n: Dim = 40
    m: Dim = 20
    s: Dim = 3
    depths: tuple[Depth, ...] = (2, 3, 4)
    alphas: tuple[Scale, ...] = (0.3, 0.1, 0.03, 0.01, 0.003)
    rel_tol: Tol = 1e-12
    path_alpha: Scale = 0.01
    invariant_alpha: Scale = 0.1
    eta: Step = 0.2  # GD step for the invariant contrast
    gd_steps: Count = 20_000
    seed: Seed = 0


def run(cfg: Config) -> Result:
    data = make_sparse(m=cfg.m, n=cfg.n, s=cfg.s, signed=True, seed=cfg.seed)
    Q = theory.Q_value(data.A, data.y, nonneg=False)
    path_alpha = min(cfg.alphas, key=lambda a: abs(np.log(a / cfg.path_alpha)))
    rows, found, notes = [], [], []
    y_norm = np.linalg.norm(data.y)
    for N in cfg.depths:
        gaps = []
        for alpha in cfg.alphas:
            model = Hadamard(depth=N, n=cfg.n, alpha=alpha, signed=True)
            traj, x_inf = limit(model, data.problem, rel_tol=cfg.rel_tol)
            b1, bmin = theory.betas(x_tilde0(model, model.init_params()))
            eps = theory.epsilon(b1, bmin, Q, N)
            gap = theory.l1_gap(x_inf, Q)
            res = float(np.linalg.norm(data.A @ x_inf - data.y) / y_norm)
            err = float(np.abs(x_inf - data.x).sum())
            cs_rhs = 2 * theory.sigma_s(data.x, cfg.s) + max(eps, 0) * Q
            gaps.append(gap)
            rows.append({"t": float(alpha), "series": "ratio", "value": 1 + gap, "depth": N,
                         "bound": 1 + eps, "residual": res, "l1_error": err, "cs_rhs_rho0": cs_rhs,
                         "n_evals": int(traj.n_evals)})  # fmt: skip
            found.append(
                checks.at_most(f"N={N}, α={alpha:g}: Ax̂_∞ = y (relative residual)", 1e-5, res)
            )
            if np.isfinite(eps):
                found.append(checks.at_most(f"N={N}, α={alpha:g}: (‖x̂_∞‖₁ − Q)/Q ≤ ε", eps, gap))
                rho_needed = max(0.0, (err - cs_rhs) / (err + cs_rhs))
                notes.append(f"N={N} α={alpha:g}: CS corollary ‖x̂−x‖₁ = {err:.3g} vs "
                             f"2σ_s + εQ = {cs_rhs:.3g} (holds for ρ ≥ {rho_needed:.3g})")  # fmt: skip
            if alpha == path_alpha:
                rows += series_rows(np.asarray(traj.t), np.asarray(traj.observed),
                                    series=f"path_N{N}", depth=N, per_index={"true": data.x})  # fmt: skip
        order = np.argsort(cfg.alphas)[::-1]  # α decreasing
        g = np.asarray(gaps)[order]
        found.append(checks.holds(
            f"N={N}: the gap shrinks as α decreases", bool(np.all(np.diff(g) <= 1e-8)),
            predicted="non-increasing", observed=", ".join(f"{x:.3g}" for x in g)))  # fmt: skip
        rel_err = rows_err(rows, N, cfg.alphas[order[-1]]) / np.abs(data.x).sum()
        if eps < 1e-2:  # ε at the smallest α: the theorem itself puts the limit within 1% of Q
            found.append(checks.at_most(f"N={N}: gap at the smallest α", 1e-2, gaps[order[-1]]))
            found.append(checks.at_most(
                f"N={N}: ‖x̂_∞ − x‖₁/‖x‖₁ at the smallest α (recovery)", 1e-2, rel_err))  # fmt: skip
        else:
            notes.append(f"N={N}: at the smallest α, ε = {eps:.3g} (the theorem allows that gap), "
                         f"observed gap {gaps[order[-1]]:.3g}, ‖x̂_∞ − x‖₁/‖x‖₁ = {rel_err:.3g}")  # fmt: skip
    found += _invariant(cfg, data, rows, notes)
    notes.append(f"Q = {Q:.6g}, ‖x‖₁ = {np.abs(data.x).sum():.6g}")
    return Result(rows=rows, checks=found, notes=notes)


def rows_err(rows, N, alpha) -> float:
    return next(r["l1_error"] for r in rows if r.get("depth") == N and r["t"] == alpha
                and r["series"] == "ratio")  # fmt: skip


def _invariant(cfg, data, rows, notes):
    """arcsinh(x̂/(2α²)) ∈ rowspace(A) for N = 2: engine flow vs GD vs a random vector."""
    a = cfg.invariant_alpha
    model = Hadamard(depth=2, n=cfg.n, alpha=a, signed=True)
    method = engine_flow(data.problem, rel_tol=1e-14, rtol=1e-10, atol=1e-14)
    traj, x_flow = engine_limit(model, data.problem, method)
    gd = GD(eta=cfg.eta, n_steps=cfg.gd_steps, n_saves=20)
    traj_gd, x_gd = engine_limit(model, data.problem, gd)
    inv_flow = theory.invariant_residual(data.A, x_flow, a)
    inv_gd = theory.invariant_residual(data.A, x_gd, a)
    inv_rand = theory.invariant_residual(
        data.A, np.random.default_rng(cfg.seed).standard_normal(cfg.n), a
    )
    for name, v in [("flow", inv_flow), ("GD", inv_gd), ("random", inv_rand)]:
        rows.append({"t": 0.0, "series": "invariant", "value": v, "method": name})
    notes.append(f"invariant residuals: flow {inv_flow:.3g} ({int(traj.n_evals)} evals), GD(η={cfg.eta:g}) "
                 f"{inv_gd:.3g} (final loss {float(traj_gd.loss[-1]):.2g}), random {inv_rand:.3g}")  # fmt: skip
    return [
        checks.at_most("N=2 flow: arcsinh(x̂/(2α²)) ∈ rowspace(A), relative residual", 1e-7, inv_flow),
        checks.at_least("GD breaks the invariant visibly (residual ≥ 100× the flow's)", 100 * inv_flow, inv_gd),
        checks.at_least("a random vector is O(1) away (≥ 0.1; √((n−m)/n) expected)", 0.1, inv_rand),
    ]  # fmt: skip


def plot(rows, cfg: Config):
    fig, axes = plots.figure(len(cfg.depths) + 2, 1, width=3.6, height=3.2)
    for j, N in enumerate(cfg.depths):
        ax = axes[0, j]
        paths = rows[(rows.series == f"path_N{N}") & (rows.t > 0)]
        for i, g in paths.groupby("i"):
            on = g["true"].iloc[0] != 0
            ax.plot(g.t, g.value, color=plots.color(int(i)) if on else "0.7", lw=1.5 if on else 0.6)
        ax.set(xscale="log", yscale="symlog", xlabel="t", ylabel="$\\hat x_i(t)$",
               title=f"N={N}: coordinates (α={cfg.path_alpha:g})")  # fmt: skip
        ax.set_yscale("symlog", linthresh=1e-4)
    ax = axes[0, -2]
    r = rows[rows.series == "ratio"]
    for j, N in enumerate(cfg.depths):
        g = r[r.depth == N].sort_values("t")
        ax.plot(g.t, (g.value - 1).clip(lower=1e-10), "o-", color=plots.color(j), label=f"N={N}")
        ax.plot(g.t, g["bound"] - 1, "--", color=plots.color(j), lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="α", ylabel="$\\|\\hat x_\\infty\\|_1/Q - 1$",
           title="ℓ1 ratio − 1 (dashed: ε)")  # fmt: skip
    ax.legend(fontsize=7)
    ax = axes[0, -1]
    inv = rows[rows.series == "invariant"]
    ax.bar(
        inv["method"],
        inv["value"].clip(lower=1e-16),
        color=[plots.color(k) for k in range(len(inv))],
    )
    ax.set(yscale="log", ylabel="relative distance from rowspace(A)",
           title=f"arcsinh(x̂/2α²), N=2, α={cfg.invariant_alpha:g}")  # fmt: skip
    return {"signed": fig}
