"""SGD with weight decay jumps from rank 2 to rank 1 on the 2×2 completion; offshoots taken after the jump generalize.

Seed 001 (Wang & Jacot), the experiment slide: observe (1, *; ε, 1) with a depth-L linear network
A_θ = W_L ⋯ W_1; the rank-1 truth has * = 1/ε. SGD θ ← (1 − 2ηλ)θ − (η/2)∇(A*_ij − (A_θ)_ij)² with one
uniform entry per step. We plot the ratio s₂/s₁ of A_θ (red) and the test error on * (light blue);
"offshoots" restart from checkpoints with smaller η and λ (dark blue) and are run to convergence.

Expected at the defaults (ε = 0.2, L = 3, η = 0.3, λ = 0.03): the approximate rank (f_α = min(x/α, 1),
α = 0.05) sits at 2 for a while, then drops to 1 once and never comes back; s₂/s₁ falls to ≈ 0. The
SGD iterate itself is shrunk by λ (test error ≈ 0.75), but offshoots taken after the jump converge
to the rank-1 completion (test error ≈ 0.04, the rest is the shrinkage of λ = 1e-4), those taken
before it to a rank-2 fit (≈ 0.89). Full-batch GD with the same λ from the same start stays at rank 2
(seed 21: SGD jumps at t ≈ 1.06·10⁵; over seeds 0–31, GD stays at rank 2 from 16 starts, and SGD
jumps to rank 1 from 15 of them within 2·10⁵ steps, 2 of them within the first 500 steps).

    implicit-bias run sgd_2x2                       # ~5 s
    implicit-bias run sgd_2x2 --set eps=0.3 --set seed=4
"""

import dataclasses
from typing import Annotated

import jax
import numpy as np
from annotated_types import Gt, Le

from implicit_bias import checks, plots
from implicit_bias.config import Count, Decay, Depth, Positive, Scale, Seed, Step
from implicit_bias.experiments import Result, series_rows
from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.optim import fit
from implicit_bias.problems.completion import from_entries
from implicit_bias.sgd import SGD, run_seeds
from implicit_bias.theory import sgd as theory

SEED = "001"
ORDER = 1
TITLE = "SGD + weight decay: one-way jump to rank 1 on the 2×2 completion, with offshoots"

TINY = {"n_steps": 60_000, "save_every": 500, "n_offshoots": 6, "offshoot_steps": 50_000, "seed": 5}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    eps: Annotated[float, Gt(0), Le(1e3)] = 0.2
    depth: Depth = 3
    init_scale: Scale = 0.7  # Gaussian init, entries N(0, init_scale²)
    eta: Step = 0.3
    lam: Decay = 0.03
    n_steps: Count = 200_000
    save_every: Count = 500
    alpha: Positive = 0.05  # f_α(x) = min(x/α, 1)
    eps2: Positive = 0.1  # rank level: smallest integer r with approximate rank ≤ r + ε₂
    n_offshoots: Count = 10
    offshoot_eta: Step = 0.05
    offshoot_lam: Decay = 1e-4
    offshoot_steps: Count = 100_000
    generalize_tol: Positive = 0.1  # test error of an offshoot counted as "generalizes"
    fail_min: Positive = 0.5  # test error above which an offshoot counts as "does not generalize"
    seed: Seed = 21


def problem_2x2(eps: float):
    """Observe (1, *; ε, 1) of the rank-1 matrix (1, 1/ε; ε, 1), normalized loss (1/2N)Σ."""
    if not eps > 0:
        from implicit_bias.errors import ConfigError

        raise ConfigError(f"eps must be > 0 (the missing entry is 1/eps), got {eps}")
    X_star = np.array([[1.0, 1.0 / eps], [eps, 1.0]])
    return from_entries(X_star, [(0, 0), (1, 0), (1, 1)], normalize=True)


def run(cfg: Config) -> Result:
    problem = problem_2x2(cfg.eps)
    model = DeepMatrix(depth=cfg.depth, n=2, init="gaussian", alpha=cfg.init_scale)
    p0 = model.init_params(jax.random.key(cfg.seed))
    obs = theory.Observer(alpha=cfg.alpha, keep_params=True)
    sgd = SGD(
        eta=cfg.eta, lam=cfg.lam, n_steps=cfg.n_steps, save_every=cfg.save_every, seed=cfg.seed
    )
    traj = fit(model, problem, sgd, params0=p0, observe=obs, label="SGD")
    gd = fit(model, problem, dataclasses.replace(sgd, batch_size=None), params0=p0,
             observe=obs, label="GD")  # fmt: skip
    t = np.asarray(traj.t)
    s = np.asarray(traj.observed["s"])
    ratio = s[:, 1] / s[:, 0]
    test = theory.test_errors(traj.observed["A"], problem)
    level = theory.rank_level(traj.observed["rank"], cfg.eps2)
    jumps = theory.detect_jumps(t, level)
    gd_level = theory.rank_level(gd.observed["rank"], cfg.eps2)

    # offshoots: from evenly spaced checkpoints, smaller η and λ, all in one vmap
    picks = np.linspace(0, t.size - 1, cfg.n_offshoots + 1).round().astype(int)[1:]
    starts = jax.tree.map(lambda x: np.asarray(x)[picks], traj.observed["params"])
    off = SGD(eta=cfg.offshoot_eta, lam=cfg.offshoot_lam, n_steps=cfg.offshoot_steps,
              save_every=cfg.offshoot_steps // 50)  # fmt: skip
    branch = run_seeds(model, problem, off, starts, 1000 + picks, obs)
    off_test = theory.test_errors(branch.observed["A"], problem)  # (n_offshoots, S)
    off_level = theory.rank_level(branch.observed["rank"], cfg.eps2)

    rows = series_rows(t, ratio, series="s2/s1", method="SGD")
    rows += series_rows(t, test, series="test_error", method="SGD")
    rows += series_rows(t, level, series="rank_level", method="SGD")
    rows += series_rows(t, np.asarray(traj.loss), series="loss", method="SGD")
    rows += series_rows(gd.t, theory.test_errors(gd.observed["A"], problem), series="test_error",
                        method="GD")  # fmt: skip
    rows += series_rows(gd.t, gd_level, series="rank_level", method="GD")
    for k, p in enumerate(picks):
        rows += series_rows(t[p] + np.asarray(branch.t[k]), off_test[k], series="offshoot_test_error",
                            method="offshoot", start=float(t[p]))  # fmt: skip

    downs = [j for j in jumps if j["kind"] == "down"]
    ups = [j for j in jumps if j["kind"] == "up"]
    t_jump = min((j["t"] for j in downs if j["to"] == 1), default=np.inf)
    after = t[picks] >= t_jump
    before = t[picks] < t_jump - cfg.save_every
    found = [
        checks.holds(
            "SGD jumps from rank 2 down to rank 1",
            level[0] == 2 and np.isfinite(t_jump) and level[-1] == 1,
            predicted="level 2 → 1",
            observed=f"level {level[0]} → {level[-1]}, first down-jump to 1 at t = {t_jump:g}",
        ),
        checks.at_most("up-jumps of the approximate rank (one-way jumps)", 0, len(ups)),
        checks.at_most("s₂/s₁ at the end (rank 1)", 1e-3, ratio[-1]),
        checks.at_least("offshoots after the jump", 1, int(after.sum())),
        checks.at_most(
            "worst test error of offshoots after the jump (they generalize)",
            cfg.generalize_tol,
            float(off_test[after, -1].max()) if after.any() else np.inf,
        ),
        checks.holds(
            "offshoots after the jump stay at rank 1",
            bool(np.all(off_level[after, -1] == 1)),
            predicted="level 1",
            observed=f"levels {off_level[after, -1].tolist()}",
        ),
    ]
    if before.any():
        found.append(
            checks.at_least(
                "best test error of offshoots before the jump (rank 2: no generalization)",
                cfg.fail_min,
                float(off_test[before, -1].min()),
            )
        )
    notes = [
        f"rank jumps of SGD: {jumps}",
        f"full-batch GD (same λ, same start): rank level {gd_level[0]} → {gd_level[-1]}, "
        f"jumps {theory.detect_jumps(np.asarray(gd.t), gd_level)}",
        f"offshoot final test errors: {dict(zip(t[picks].tolist(), np.round(off_test[:, -1], 4).tolist()))}",
        "f_α(x) = min(x/α, 1): the seed leaves the exact form of f_α open",
    ]
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Config):
    fig, axes = plots.figure(1, 1, width=6.0, height=3.6)
    ax = axes[0, 0]
    sgd = rows[rows.method == "SGD"]
    r = sgd[sgd.series == "s2/s1"]
    ax.plot(r.t, r.value, color="tab:red", label="$s_2/s_1$ (SGD)")
    te = sgd[sgd.series == "test_error"]
    ax.plot(te.t, te.value, color="lightskyblue", label="test error (SGD)")
    off = rows[rows.series == "offshoot_test_error"]
    for k, (_, g) in enumerate(off.groupby("start")):
        ax.plot(
            g.t, g.value, color="navy", lw=1.0, label="offshoots (smaller η, λ)" if k == 0 else None
        )
        ax.plot(g.t.iloc[0], g.value.iloc[0], "o", color="navy", ms=3)
    gd = rows[(rows.method == "GD") & (rows.series == "test_error")]
    ax.plot(gd.t, gd.value, color="0.5", ls="--", lw=1.0, label="test error (full-batch GD)")
    ax.set(xlabel="step t", ylabel="value", ylim=(-0.02, 1.3),
           title=f"2×2 completion, ε={cfg.eps:g}, L={cfg.depth}, η={cfg.eta:g}, λ={cfg.lam:g}")  # fmt: skip
    ax.legend(fontsize=7, loc="upper right")
    return {"jump_offshoots": fig}
