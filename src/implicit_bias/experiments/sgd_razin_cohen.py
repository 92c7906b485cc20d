"""On Razin & Cohen's 2×2 completion the unobserved entry grows without bound: the bias is to low rank, not small norm.

Razin & Cohen (2020), "Implicit regularization in deep learning may not be explainable by norms",
the companion problem of seed 001: observe W₁₂ = 1, W₂₁ = 1, W₂₂ = 0; W₁₁ is free. Every completion
(x, 1; 1, 0) has det = −1 and nuclear norm √(x² + 4), smallest (= 2) at x = 0. A depth-3 network from
the small init W_ℓ(0) = αI (det > 0, which the dynamics cannot flip) fits the entries only as
det(A_θ) → 0⁺, i.e. x → ∞: the effective rank falls to 1 while every norm grows without bound.

Expected at the defaults (α = 0.1, η = 0.05, normalized loss (1/2N)Σ): full-batch GD (the engine's
``GD``) gives x ≈ 35 at 10⁵ and ≈ 46 at 10⁶ steps (growth ∝ t^0.1 over the last decade), entropy
effective rank 1 + 1e-9, nuclear norm ≈ 23× the minimum 2, ‖θ‖² still growing; the seed's SGD with
λ = 0 (one entry per step) does the same (x ≈ 22 at 2·10⁵ steps, s₂/s₁ ≈ 1e-10). At η = 0.1 GD's
growth stalls and oscillates near x ≈ 21 (the sharpness grows with x and reaches 2/η).

    implicit-bias run sgd_razin_cohen               # ~7 s
"""

import dataclasses

import jax
import numpy as np

from implicit_bias import checks, plots
from implicit_bias.config import Count, Depth, Positive, Scale, Seed, Step
from implicit_bias.experiments import Result, series_rows
from implicit_bias.models.deep_matrix import DeepMatrix, product
from implicit_bias.optim import GD, fit
from implicit_bias.problems.completion import from_entries
from implicit_bias.sgd import SGD, run_seeds
from implicit_bias.theory import sgd as theory

SEED = "001"
ORDER = 4
TITLE = "Razin–Cohen 2×2 completion: the unobserved entry diverges, rank falls, norms grow"

TINY = {"n_steps": 100_000, "sgd_steps": 40_000, "n_sgd": 2, "grow_min": 8.0, "sgd_grow_min": 4.0}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    depth: Depth = 3
    alpha: Scale = 0.1  # W_ℓ(0) = αI
    eta: Step = 0.05
    n_steps: Count = 1_000_000
    n_saves: Count = 60  # log-spaced
    sgd_steps: Count = 200_000
    n_sgd: Count = 4  # SGD seeds (λ = 0)
    grow_min: Positive = 20.0  # |x| that GD must pass ("grows without bound" at the run's horizon)
    sgd_grow_min: Positive = 5.0
    seed: Seed = 0


def razin_cohen_problem():
    """Observe W₁₂ = 1, W₂₁ = 1, W₂₂ = 0 (0-based (0,1), (1,0), (1,1)); X_star = the min-norm completion."""
    return from_entries(
        np.array([[0.0, 1.0], [1.0, 0.0]]), [(0, 1), (1, 0), (1, 1)], normalize=True
    )


def _spectral(A):
    s = np.linalg.svd(A, compute_uv=False)
    p = s / s.sum(-1, keepdims=True)
    erank = np.exp(-np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), -1))
    return s, erank


def run(cfg: Config) -> Result:
    problem = razin_cohen_problem()
    model = DeepMatrix(depth=cfg.depth, n=2, init="identical", alpha=cfg.alpha)
    gd = fit(model, problem, GD(eta=cfg.eta, n_steps=cfg.n_steps, n_saves=cfg.n_saves, spacing="log"),
             observe=_params, reduce=False)  # fmt: skip
    A = np.asarray(jax.vmap(product)(gd.observed))
    t = np.asarray(gd.t)
    x = A[:, 0, 0]
    s, erank = _spectral(A)
    nuc = s.sum(-1)
    norm2 = sum(np.sum(np.asarray(W) ** 2, axis=(1, 2)) for W in gd.observed)

    p0 = model.init_params()
    sgd = run_seeds(model, problem, SGD(eta=cfg.eta, n_steps=cfg.sgd_steps,
                    save_every=cfg.sgd_steps // 50), p0, cfg.seed + np.arange(cfg.n_sgd),
                    theory.Observer(alpha=0.05))  # fmt: skip
    x_sgd = np.asarray(sgd.observed["A"])[:, :, 0, 0]
    s_sgd = np.asarray(sgd.observed["s"])

    rows = series_rows(t, x, series="W11", method="GD")
    rows += series_rows(t, erank, series="entropy_effective_rank", method="GD")
    rows += series_rows(t, nuc, series="nuclear_norm", method="GD")
    rows += series_rows(t, norm2, series="param_norm2", method="GD")
    rows += series_rows(t, np.asarray(gd.loss), series="loss", method="GD")
    for k in range(cfg.n_sgd):
        rows += series_rows(sgd.t[k], x_sgd[k], series="W11", method="SGD", member=k)

    late = t >= t[-1] / 10  # the last decade of the log-spaced snapshots
    slope = np.polyfit(np.log(t[late]), np.log(np.abs(x[late])), 1)[0]
    fit_start = int(np.argmax(np.asarray(gd.loss) < 1e-2))
    found = [
        checks.at_least(
            f"|W₁₁| after {cfg.n_steps} GD steps (grows without bound)", cfg.grow_min, abs(x[-1])
        ),
        checks.holds(
            "|W₁₁| increases over the last decade of steps",
            bool(np.all(np.diff(np.abs(x[late])) > 0)),
            predicted="monotone growth",
            observed=f"|W₁₁| {abs(x[late][0]):.3g} → {abs(x[-1]):.3g}",
        ),
        checks.at_least("growth exponent d log|W₁₁| / d log t over the last decade", 0.05, slope),
        checks.at_most("loss on the observed entries at the end", 1e-3, float(gd.loss[-1])),
        checks.at_most("entropy effective rank at the end (→ 1)", 1.0 + 1e-6, erank[-1]),
        checks.close(
            "nuclear norm = √(W₁₁² + 4) on the fitted completion",
            np.sqrt(x[-1] ** 2 + 4),
            nuc[-1],
            0.05,
            rel=True,
        ),  # fmt: skip
        checks.at_least(
            "nuclear norm / min-norm completion value 2 (not the small-norm solution)",
            cfg.grow_min / 2,
            nuc[-1] / 2,
        ),  # fmt: skip
        checks.at_least(
            "‖θ‖² grows after the fit: ratio end / when loss < 1e-2",
            2.0,
            norm2[-1] / norm2[fit_start],
        ),  # fmt: skip
        checks.at_least(
            "SGD (λ = 0): smallest |W₁₁| over seeds at the end",
            cfg.sgd_grow_min,
            float(np.abs(x_sgd[:, -1]).min()),
        ),  # fmt: skip
        checks.at_most(
            "SGD (λ = 0): largest s₂/s₁ over seeds at the end",
            1e-6,
            float((s_sgd[:, -1, 1] / s_sgd[:, -1, 0]).max()),
        ),  # fmt: skip
    ]
    notes = [
        f"GD: |W₁₁| ∝ t^{slope:.3f} over the last decade; det(A_θ) > 0 throughout: "
        f"{bool(np.all(np.linalg.det(A) > 0))}"
    ]
    return Result(rows=rows, checks=found, notes=notes)


def _params(params):
    return params


def plot(rows, cfg: Config):
    fig, axes = plots.figure(2, 1, width=4.4, height=3.3)
    gd = rows[rows.method == "GD"]
    w = gd[gd.series == "W11"]
    axes[0, 0].loglog(w.t, np.abs(w.value), color="tab:blue", label="|W₁₁| (GD)")
    n = gd[gd.series == "nuclear_norm"]
    axes[0, 0].loglog(n.t, n.value, color="tab:green", ls="--", label="‖A‖_* (GD)")
    for k, g in rows[(rows.method == "SGD") & (rows.series == "W11")].groupby("member"):
        axes[0, 0].loglog(g.t, np.abs(g.value), color="tab:orange", lw=0.8,
                          label="|W₁₁| (SGD, λ=0)" if k == 0 else None)  # fmt: skip
    axes[0, 0].axhline(2.0, color="0.5", ls=":", label="min nuclear norm (= 2)")
    axes[0, 0].set(xlabel="step t", title=f"depth {cfg.depth}, init {cfg.alpha:g}·I")
    axes[0, 0].legend(fontsize=7)
    e = gd[gd.series == "entropy_effective_rank"]
    axes[0, 1].semilogx(e.t, e.value, color="tab:red")
    axes[0, 1].set(xlabel="step t", ylabel="entropy effective rank", title="rank falls to 1")
    return {"razin_cohen": fig}
