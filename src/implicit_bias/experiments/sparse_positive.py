"""Positive case: the flow of x̃ = w^{⊙N} from α1 converges to S₊ with ‖x̃_∞‖₁ − Q ≤ εQ, ε → 0 as α → 0.

Seed 003, Chou, Maly & Rauhut (2022), theorem "Convergence to approximate ℓ1-minimizer: positive
case". Gaussian A (m×n, entries N(0, 1/m)), non-negative s-sparse x, y = Ax; gradient flow of
L(w) = ½‖Aw^{⊙N} − y‖² from w(0) = α1 for N = 2, 3, 4 and a grid of α, stopped once the loss is below
``rel_tol`` · ½‖y‖². β₁ = nα^N and β_min = α^N are read off the actual x̃(0) = α^N 1 (not the slides'
α√N, α). Q = min_{S₊}‖z‖₁ by linear programming.

Checks per (N, α): the flow reaches S₊ (loss below the stop); Q ≤ ‖x̃_∞‖₁ ≤ (1+ε)Q with ε the
theorem's (requires β₁ < Q and the uniform start; slack |λᵀr|/Q from the LP dual λ and the residual
r left at the stop); for N > 2 the seed's simplified bound (‖x̃_∞‖₁ − Q)/Q ≤ N(β₁/Q)^{1−2/N} where its
condition β₁^{1−2/N} ≤ Q^{1−2/N}/2 holds.

Expected at the defaults (n = 40, m = 16, s = 3): every run converges (Ax̃_∞ = y to ~1e-6 relative),
the observed gap (‖x̃_∞‖₁ − Q)/Q lies below ε wherever β₁ < Q (the bound is loose by one to three
orders of magnitude), the deeper models far closer to Q at equal α (the gap is the ℓ1-excess of the
Bregman minimizer, see ``sparse_bregman``). The coordinate paths show the saddle plateau and the
support coordinates rising one after another.

    implicit-bias run sparse_positive                    # ~30 s (2 shared cores)
    implicit-bias run sparse_positive --set n=100 --set m=40 --set s=5
"""

import dataclasses

import numpy as np

from implicit_bias import plots
from implicit_bias.config import Depth, Dim, Scale, Seed, Tol
from implicit_bias.experiments import Result, series_rows
from implicit_bias.experiments._constraints import s_le_n
from implicit_bias.experiments._sparse import epsilon_checks, limit, uniform_start
from implicit_bias.models.hadamard import Hadamard, x_tilde0
from implicit_bias.problems.linear import make_sparse
from implicit_bias.theory import sparse as theory
from implicit_bias.theory.certificates import lp_certificate, lp_line

SEED = "003"
ORDER = 1
TITLE = "Sparse recovery, positive case: ‖x̃_∞‖₁/Q vs α with the ε bound"

TINY = {"n": 20, "m": 10, "s": 2, "depths": (3,), "alphas": (0.1, 0.03)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    n: Dim = 40
    m: Dim = 16
    s: Dim = 3
    depths: tuple[Depth, ...] = (2, 3, 4)
    alphas: tuple[Scale, ...] = (0.3, 0.1, 0.03, 0.01, 0.003)
    rel_tol: Tol = 1e-12  # stop when L < rel_tol · ½‖y‖²
    path_alpha: Scale = 0.01  # α of the recorded coordinate paths (nearest grid value)
    seed: Seed = 0

    def check(self) -> None:
        """Cross-field constraints (``config.validate`` calls this)."""
        s_le_n(self)


def run(cfg: Config) -> Result:
    data = make_sparse(m=cfg.m, n=cfg.n, s=cfg.s, seed=cfg.seed)
    Q, lam = theory.Q_dual(data.A, data.y, nonneg=True)
    path_alpha = min(cfg.alphas, key=lambda a: abs(np.log(a / cfg.path_alpha)))
    rows, found, notes, x0s = [], [], [], []
    y_norm = np.linalg.norm(data.y)
    for N in cfg.depths:
        for alpha in cfg.alphas:
            model = Hadamard(depth=N, n=cfg.n, alpha=alpha)
            traj, x_inf = limit(model, data.problem, rel_tol=cfg.rel_tol)
            x0 = np.asarray(x_tilde0(model, model.init_params()))
            x0s.append(x0)
            b1, bmin = theory.betas(x0)
            eps = theory.epsilon(b1, bmin, Q, N)
            gap = theory.l1_gap(x_inf, Q)
            res = float(np.linalg.norm(data.A @ x_inf - data.y) / y_norm)
            rows.append({"t": float(alpha), "series": "ratio", "value": 1 + gap, "depth": N,
                         "bound": 1 + eps, "residual": res, "n_evals": int(traj.n_evals)})  # fmt: skip
            found += epsilon_checks(f"N={N}, α={alpha:g}", N=N, b1=b1, bmin=bmin, Q=Q, lam=lam,
                                    A=data.A, y=data.y, x_inf=x_inf, rel_tol=cfg.rel_tol,
                                    signed=False)  # fmt: skip
            if alpha == path_alpha:
                t = np.asarray(traj.t)
                rows += series_rows(t, np.asarray(traj.observed), series=f"path_N{N}", depth=N,
                                    per_index={"true": data.x})  # fmt: skip
            notes.append(f"N={N} α={alpha:g}: gap {gap:.3g}, ε {eps:.3g}, "
                         f"N(β₁/Q)^(1−2/N) {N * (b1 / Q) ** (1 - 2 / N):.3g}, "
                         f"residual {res:.2g}, {int(traj.n_evals)} steps")  # fmt: skip
    found.append(uniform_start(x0s))
    notes.append(f"Q = {Q:.6g}, ‖x‖₁ = {np.abs(data.x).sum():.6g}; "
                 + lp_line(lp_certificate(data.A, data.y, Q, lam, nonneg=True)))  # fmt: skip
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Config):
    fig, axes = plots.figure(len(cfg.depths) + 1, 1, width=3.8, height=3.2)
    for j, N in enumerate(cfg.depths):
        ax = axes[0, j]
        paths = rows[(rows.series == f"path_N{N}") & (rows.t > 0)]
        for i, g in paths.groupby("i"):
            on = g["true"].iloc[0] > 0
            ax.plot(g.t, g.value, color=plots.color(int(i)) if on else "0.7", lw=1.5 if on else 0.6)
        ax.set(xscale="log", yscale="log", xlabel="t", ylabel="$\\tilde x_i(t)$",
               title=f"N={N}: coordinates (α={cfg.path_alpha:g})")  # fmt: skip
    ax = axes[0, -1]
    r = rows[rows.series == "ratio"]
    for j, N in enumerate(cfg.depths):
        g = r[r.depth == N].sort_values("t")
        gap = (g.value - 1).clip(lower=1e-10)
        ax.plot(g.t, gap, "o-", color=plots.color(j), label=f"N={N}")
        ax.plot(g.t, g["bound"] - 1, "--", color=plots.color(j), lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="α", ylabel="$\\|\\tilde x_\\infty\\|_1 / Q - 1$",
           title="ℓ1 ratio − 1 (dashed: the bound ε)")  # fmt: skip
    ax.legend(fontsize=7)
    return {"positive": fig}
