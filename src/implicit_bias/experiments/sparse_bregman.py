"""The flow's limit is the Bregman minimizer argmin_{z ∈ S₊} D_F(z, x̃(0)), computed by cvxpy (N = 2, 3).

Seed 003, Chou, Maly & Rauhut (2022), theorem "Convergence to minimizer of Bregman divergence"
(Gunasekar, Lee, Soudry & Srebro 2018's framework: x̃ = w^{⊙N} follows ẋ = −N² x^{2−2/N} ⊙ ∇L, a mirror
flow of F(x) = x log x − x (N = 2) or −x^{2/N} (N > 2)). Positive case, Gaussian A, uniform start
w(0) = α1 and a general positive start w(0) = α·c (c log-uniform in [1/c_range, c_range]). The
minimizer is computed by cvxpy/Clarabel for
  g(z) = Σ z_k(log z_k − 1 − log x̃_k(0))                          (N = 2, any start)
  D_F(z, x̃(0)) ∝ Σ (2 z_k x̃_k(0)^{2/N−1} − N z_k^{2/N})           (N > 2, "divergence")
  g(z) = 2‖z‖₁ − N Σ z_k^{2/N} x̃_k(0)^{1−2/N}                       (N > 2, the seed's "g")
The seed's g equals D_F (up to constants and a factor) only for a uniform start: for a general start
the flow converges to the divergence minimizer, not to the seed's g minimizer.

Claims: the flow limit equals the cvxpy minimizer of D_F (every depth and start) and of the seed's g
(uniform start), within ``tol`` = 1e-4 (Clarabel's objective accuracy ~1e-8 fixes a minimizer to
~√1e-8), at a converged flow. How far the seed's g misses the general-start limit is reported in the
notes, not checked: it depends on the problem (0.55 at seed 0, 1.4e-6 at seed 3, where both programs
have the same minimizer), and it is a finding about the seed's formula, not a claim of it.

Expected at the defaults (n = 30, m = 12, s = 3, α = 0.2): flow vs cvxpy max relative difference
~1e-5 (N = 2) and ~1e-6 (N = 3) from the uniform and the general start with "divergence"; the seed's
g misses the general-start limit by ~0.5 (N = 3, c_range = 3).

    implicit-bias run sparse_bregman                   # ~15 s (2 shared cores)
    implicit-bias run sparse_bregman --set alpha=0.05 --set c_range=10
"""

import dataclasses
from typing import Annotated

import numpy as np
from annotated_types import Ge, Le

from implicit_bias import checks, plots
from implicit_bias.baselines import l1
from implicit_bias.config import Depth, Dim, Scale, Seed, Tol
from implicit_bias.errors import ConfigError
from implicit_bias.experiments import Result
from implicit_bias.experiments._constraints import s_le_n
from implicit_bias.experiments._sparse import final_loss, limit
from implicit_bias.models.hadamard import Hadamard, x_tilde0
from implicit_bias.problems.linear import make_sparse

SEED = "003"
ORDER = 3
TITLE = "Bregman limit: flow vs cvxpy minimizer (N = 2, 3; uniform and general starts)"

TINY = {"n": 20, "m": 10, "s": 3, "depths": (3,)}
SOURCE = "seed 003, Thm 'Convergence to minimizer of Bregman divergence' (Chou, Maly & Rauhut 2022)"
BASIS = (
    "cvxpy/Clarabel solves to objective accuracy δ ~ 1e-8; the minimizer of an objective with "
    "curvature μ ~ 1 near it is then fixed to √(2δ/μ) ~ 1e-4 (relative, z scaled to O(1))"
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    n: Dim = 30
    m: Dim = 12
    s: Dim = 3
    depths: tuple[Depth, ...] = (2, 3)
    alpha: Scale = 0.2
    c_range: Annotated[float, Ge(1), Le(1e6)] = (
        3.0  # general start: w(0) = α c, log10 c uniform in ±log10(c_range)
    )
    tol: Tol = 1e-4  # flow vs cvxpy, max |Δ| / max |z| (see BASIS)
    rel_tol: Tol = 1e-14
    seed: Seed = 0

    def check(self) -> None:
        """Cross-field constraints (``config.validate`` calls this)."""
        s_le_n(self)


def _rel(a, b) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def run(cfg: Config) -> Result:
    data = make_sparse(m=cfg.m, n=cfg.n, s=cfg.s, seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)
    c = np.exp(rng.uniform(-1, 1, cfg.n) * np.log(cfg.c_range))
    loss_tol = cfg.rel_tol * 0.5 * float(np.sum(data.y**2))
    h_feasible = "S₊ = {z ≥ 0 : Az = y} is not empty (LP)"
    try:
        l1.check_nonempty(data.A, data.y)
        feasible = True
    except ConfigError:
        feasible = False
    rows, notes = [], []
    found = [checks.hypothesis(h_feasible, feasible, predicted="feasible", observed=feasible,
                               source=SOURCE)]  # fmt: skip
    for N in cfg.depths:
        model = Hadamard(depth=N, n=cfg.n, alpha=cfg.alpha)
        for start, w0 in [("uniform", np.full(cfg.n, cfg.alpha)), ("general", cfg.alpha * c)]:
            params0 = model.from_init(w0)
            x0 = np.asarray(x_tilde0(model, params0))
            traj, x_inf = limit(model, data.problem, params0, rel_tol=cfg.rel_tol)
            loss = final_loss(data.A, data.y, x_inf)
            forms = ["divergence"] if N == 2 else ["divergence", "seed"]
            for form in forms:
                z = l1.bregman(data.A, data.y, x0, N, form=form)
                d = _rel(x_inf, z)
                for i in range(cfg.n):
                    rows.append({"t": float(i), "series": f"N{N}_{start}_{form}", "value": z[i],
                                 "flow": x_inf[i], "depth": N, "start": start, "form": form})  # fmt: skip
                notes.append(f"N={N}, {start} start, {form}: max |x_flow − z|/max|z| = {d:.3g}")
                label = f"N={N}, {start} start: flow limit = argmin D_F(·, x̃(0)) over S₊ (cvxpy)"
                if form == "divergence":
                    found.append(checks.at_most(label, cfg.tol, d, source=SOURCE, basis=BASIS,
                                                loss=loss, loss_tol=loss_tol,
                                                requires=(h_feasible,)))  # fmt: skip
                elif start == "general":  # reported, not checked: see the docstring
                    notes.append(f"N={N}, general start: the seed's printed g misses the flow limit "
                                 f"by {d:.3g} (a miss shows the printed g is not D_F here)")  # fmt: skip
                else:
                    found.append(checks.at_most(
                        f"N={N}, uniform start: the seed's g(z) = 2‖z‖₁ − NΣz^(2/N)x̃(0)^(1−2/N) is "
                        "minimized by the flow limit", cfg.tol, d, source=SOURCE, basis=BASIS,
                        loss=loss, loss_tol=loss_tol, requires=(h_feasible,)))  # fmt: skip
            bp = l1.basis_pursuit(data.A, data.y, nonneg=True)
            notes.append(f"N={N}, {start}: ‖x_flow − ℓ1 minimizer‖_∞ = {np.abs(x_inf - bp).max():.3g} "
                         f"(α = {cfg.alpha:g} is not small: the Bregman term matters)")  # fmt: skip
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Config):
    fig, axes = plots.figure(len(cfg.depths), 1, width=4.0, height=3.6)
    for j, N in enumerate(cfg.depths):
        ax = axes[0, j]
        sub = rows[rows.depth == N]
        for k, (name, g) in enumerate(sub.groupby("series")):
            ax.loglog(g["value"].clip(lower=1e-12), g["flow"].clip(lower=1e-12), "o",
                      mfc="none", color=plots.color(k), label=name.split("_", 1)[1])  # fmt: skip
        lim = [1e-8, 10]
        ax.plot(lim, lim, "k-", lw=0.6)
        ax.set(xlabel="cvxpy minimizer $z_k$", ylabel="flow limit $\\tilde x_{\\infty,k}$",
               title=f"N={N}, α={cfg.alpha:g}", xlim=lim, ylim=lim)  # fmt: skip
        ax.legend(fontsize=7)
    return {"bregman": fig}
