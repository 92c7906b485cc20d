"""On Razin & Cohen's 2×2 completion the unobserved entry grows without bound: the bias is to low rank, not small norm.

Razin & Cohen (2020), "Implicit regularization in deep learning may not be explainable by norms",
not cited by seed 001 (no seed cites it), but on its setting, a 2×2 completion by a deep linear network: observe W₁₂ = 1, W₂₁ = 1, W₂₂ = 0; W₁₁ is free. Every completion
(x, 1; 1, 0) has det = −1 and nuclear norm √(x² + 4), smallest (= 2) at x = 0. A depth-3 network from
the small init W_ℓ(0) = αI (det > 0, which the dynamics cannot flip) fits the entries only as
det(A_θ) → 0⁺, i.e. x → ∞: the effective rank falls to 1 while every norm grows without bound.

Expected at the defaults (α = 0.1, η = 0.01, normalized loss (1/2N)Σ): full-batch GD (the engine's
``GD``) gives x ≈ 45 at 10⁶ steps, above the bound |x| ≥ (1 − δ)²/δ, δ = √(2N·loss), that
det(A_θ) > 0 forces (every residual ≤ δ and x·A₂₂ > A₁₂A₂₁); |x| and ‖θ‖² still grow over the last
decade; the entropy effective rank (1 + 2e-7) is below that of every exact completion (x', 1; 1, 0)
with |x'| ≤ |x|. The seed's SGD with λ = 0 (one entry per step) does the same (x ≈ 24.5 at 2·10⁵
steps). Step size (a hypothesis since issue 23: the theorem is about gradient flow): GD follows the
flow's monotone path while η·λ_max(∇²L) < 1; the sharpness grows with |x| (progressive sharpening),
and at the old default η = 0.05 (and at 0.025) GD reaches λ_max = 2/η near x ≈ 45 (≈ 61) and stays
at the edge of stability; at η = 0.01 the largest η·λ_max over 10⁶ steps is 0.54. At η = 0.1 GD's
growth stalls and oscillates near x ≈ 21.

    implicit-bias run sgd_razin_cohen               # ~20 s
"""

import dataclasses

import jax
import numpy as np

from implicit_bias import checks, plots
from implicit_bias.config import Count, Depth, Scale, Seed, Step
from implicit_bias.experiments import Result, series_rows
from implicit_bias.experiments._constraints import fifty_saves
from implicit_bias.models.deep_matrix import DeepMatrix, product
from implicit_bias.optim import GD, fit, objective
from implicit_bias.optim.sgd import SGD, run_seeds
from implicit_bias.problems.completion import from_entries
from implicit_bias.theory import sgd as theory

SEED = "001"
ORDER = 4
# Razin & Cohen is the true source; no seed cites it. The experiment sits under seed 001 because
# it is seed 001's setting (a 2×2 completion by a deep linear network, GD/SGD with small λ)
SOURCE = (
    "Razin & Cohen, 'Implicit regularization in deep learning may not be explainable by "
    "norms' (NeurIPS 2020), Thm 1; not cited by seed 001, whose setting it shares (2×2 "
    "completion by a deep linear network)"
)
ROUND = 1e-12  # float64 round-off of an SVD-based entropy of unit-scale 2×2 matrices, with margin
HYP_ETA = "GD follows the gradient flow: η·λ_max(∇²L) < 1 at every snapshot"
TITLE = "Razin–Cohen 2×2 completion: the unobserved entry diverges, rank falls, norms grow"

TINY = {"n_steps": 30_000, "sgd_steps": 20_000, "n_sgd": 2}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    depth: Depth = 3
    alpha: Scale = 0.1  # W_ℓ(0) = αI
    # GD with η·λ_max(∇²L) < 1 over 10⁶ steps (measured 0.54); at 0.05 and 0.025 the sharpness grows
    # with |W₁₁| up to 2/η (|W₁₁| ≈ 45 and 61) and GD sits at the edge of stability, off the flow
    eta: Step = 0.01
    n_steps: Count = 1_000_000
    n_saves: Count = 60  # log-spaced
    sgd_steps: Count = 200_000
    n_sgd: Count = 4  # SGD seeds (λ = 0)
    seed: Seed = 0

    def check(self) -> None:
        """Cross-field constraints (``config.validate`` calls this)."""
        fifty_saves(self.sgd_steps, "sgd_steps")


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
    sharp = np.asarray(jax.vmap(lambda p: _sharpness(model, problem, p))(tuple(gd.observed)))

    p0 = model.init_params()
    sgd = run_seeds(model, problem, SGD(eta=cfg.eta, n_steps=cfg.sgd_steps,
                    save_every=cfg.sgd_steps // 50), p0, cfg.seed + np.arange(cfg.n_sgd),
                    theory.Observer(alpha=0.05))  # fmt: skip
    x_sgd = np.asarray(sgd.observed["A"])[:, :, 0, 0]

    rows = series_rows(t, x, series="W11", method="GD")
    rows += series_rows(t, erank, series="entropy_effective_rank", method="GD")
    rows += series_rows(t, nuc, series="nuclear_norm", method="GD")
    rows += series_rows(t, norm2, series="param_norm2", method="GD")
    rows += series_rows(t, np.asarray(gd.loss), series="loss", method="GD")
    for k in range(cfg.n_sgd):
        rows += series_rows(sgd.t[k], x_sgd[k], series="W11", method="SGD", member=k)

    late = t >= t[-1] / 10  # the last decade of the log-spaced snapshots
    slope = np.polyfit(np.log(t[late]), np.log(np.abs(x[late])), 1)[0]
    N = 3  # observed entries; loss = (1/2N) Σ r² so every |r_ij| ≤ δ = √(2N·loss)
    delta = np.sqrt(2 * N * np.asarray(gd.loss))
    # det(A_θ) > 0 is preserved, so x·A₂₂ > A₁₂A₂₁ ≥ (1 − δ)² with |A₂₂| ≤ δ: |x| ≥ (1 − δ)²/δ
    x_min = np.where(delta < 1, (1 - delta) ** 2 / delta, 0.0)
    A_sgd = np.asarray(sgd.observed["A"])[:, -1]  # (n_sgd, 2, 2)
    r_sgd = A_sgd[:, np.asarray(problem.rows), np.asarray(problem.cols)] - np.asarray(problem.y)
    d_sgd = np.abs(r_sgd).max(-1)
    x_min_sgd = np.where(d_sgd < 1, (1 - d_sgd) ** 2 / d_sgd, 0.0)
    _, erank_sgd = _spectral(A_sgd)

    def erank_completion(xv):  # entropy effective rank of the exact completion (x, 1; 1, 0)
        return _spectral(np.stack([np.stack([xv, np.ones_like(xv)], -1),
                                   np.stack([np.ones_like(xv), np.zeros_like(xv)], -1)], -2))[1]  # fmt: skip

    RC = SOURCE
    HYP = "det(A_θ(0)) > 0 (Razin & Cohen's condition)"
    det0 = float(np.linalg.det(A[0]))
    edge = 1.0 / cfg.eta
    found = [
        checks.hypothesis(HYP, det0 > 0, predicted="> 0", observed=det0, source=RC),
        checks.hypothesis(
            HYP_ETA,
            bool(np.all(sharp < edge)),
            predicted=f"λ_max(∇²L) < 1/η = {edge:g} at every snapshot",
            observed=float(sharp.max()),
            source=RC + ": the theorem is about gradient flow",
            basis="GD's step multiplies the sharpest Hessian direction by 1 − ηλ_max: the flow's "
            "monotone path needs 1 − ηλ_max > 0 (no sign flips), stability only < 2; the sharpness "
            "grows with |W₁₁| (at η = 0.05 and 0.025 GD reaches 2/η and stays at the edge of "
            "stability: the growth at η = 0.1 stalls near |W₁₁| ≈ 21)",
            detail=f"λ_max at the first/last snapshot {sharp[0]:.3g} / {sharp[-1]:.3g}; largest "
            f"η·λ_max {cfg.eta * sharp.max():.3g}",
        ),
        checks.hypothesis(
            "training loss falls over the last decade (the theorem assumes loss → 0)",
            bool(float(gd.loss[-1]) < float(np.asarray(gd.loss)[late][0])),
            predicted="end < start of the decade",
            observed=f"{float(gd.loss[late][0]):.3g} → {float(gd.loss[-1]):.3g}",
            source=RC,
        ),  # fmt: skip
        checks.sanity(
            "nuclear norm = √(W₁₁² + 4) on the fitted completion",
            abs(nuc[-1] - np.sqrt(x[-1] ** 2 + 4)) <= np.sqrt(6) * delta[-1],
            predicted=f"within √6·δ = {np.sqrt(6) * delta[-1]:.3g}",
            observed=float(nuc[-1] - np.sqrt(x[-1] ** 2 + 4)),
            detail="‖ΔA‖_* ≤ √2‖ΔA‖_F ≤ √6·δ for entries fitted within δ: an identity of the problem",
        ),  # fmt: skip
        checks.at_least(
            "GD: |W₁₁| ≥ (1 − δ)²/δ, δ = √(2N·loss) (norm forced up as the loss falls)",
            float(x_min[-1]),
            abs(x[-1]),
            source=RC,
            requires=(HYP, HYP_ETA),
            basis="derived: det(A_θ) > 0 is preserved, x·A₂₂ > A₁₂A₂₁ with every residual ≤ δ",
            detail=f"δ = {delta[-1]:.3g} at step {t[-1]:g}; holds at every snapshot: "
            f"{bool(np.all(np.abs(x) >= x_min))}",
        ),  # fmt: skip
        checks.holds(
            "|W₁₁| increases over the last decade of steps",
            bool(np.all(np.diff(np.abs(x[late])) > 0)),
            predicted="monotone growth",
            observed=f"|W₁₁| {abs(x[late][0]):.3g} → {abs(x[-1]):.3g}",
            source=RC,
            basis="an ordering, no tolerance",
            requires=(HYP, HYP_ETA),
        ),
        checks.holds(
            "‖θ‖² increases over the last decade of steps (norms grow without bound)",
            bool(np.all(np.diff(norm2[late]) > 0)),
            predicted="monotone growth",
            observed=f"‖θ‖² {norm2[late][0]:.4g} → {norm2[-1]:.4g}",
            source=RC,
            basis="an ordering, no tolerance",
            requires=(HYP, HYP_ETA),
        ),  # fmt: skip
        checks.holds(
            "GD: effective rank below every exact completion with |x| ≤ |W₁₁|",
            bool(erank[-1] < erank_completion(np.array(abs(x[-1]))) - ROUND),
            predicted=f"< {float(erank_completion(np.array(abs(x[-1])))):.6g} − {ROUND:g}",
            observed=float(erank[-1]),
            source=RC,
            requires=(HYP, HYP_ETA),
            basis="erank((x, 1; 1, 0)) falls with |x|: the bound is the smallest erank of an exact "
            f"completion at the network's own |W₁₁|; strict beyond float64 round-off ({ROUND:g}: "
            "an exact completion itself ties to the last bits)",
        ),  # fmt: skip
        checks.at_least(
            "SGD (λ = 0): min over seeds of |W₁₁| − (1 − δ)²/δ",
            0.0,
            float((np.abs(A_sgd[:, 0, 0]) - x_min_sgd).min()),
            source=RC,
            requires=(HYP,),
            basis="the same det > 0 bound, δ = the largest residual of each run",
            detail=f"|W₁₁| {np.round(np.abs(A_sgd[:, 0, 0]), 3).tolist()}, bounds {np.round(x_min_sgd, 3).tolist()}",
        ),  # fmt: skip
        checks.holds(
            "SGD (λ = 0): min over seeds of erank((x, 1; 1, 0)) − erank(A_θ) > 0",
            bool((erank_completion(np.abs(A_sgd[:, 0, 0])) - erank_sgd).min() > ROUND),
            predicted=f"> {ROUND:g}",
            observed=float((erank_completion(np.abs(A_sgd[:, 0, 0])) - erank_sgd).min()),
            source=RC,
            requires=(HYP,),
            basis=f"as for GD (strict beyond round-off {ROUND:g})",
        ),  # fmt: skip
    ]
    notes = [
        f"GD: |W₁₁| ∝ t^{slope:.3f} over the last decade (Razin & Cohen give no rate); det(A_θ) > 0 "
        f"throughout: {bool(np.all(np.linalg.det(A) > 0))}; nuclear norm / minimum 2: {nuc[-1] / 2:.3g}",
        f"SGD final |W₁₁|: {np.round(np.abs(A_sgd[:, 0, 0]), 3).tolist()}",
    ]
    return Result(rows=rows, checks=found, notes=notes)


def _params(params):
    return params


def _sharpness(model, problem, params):
    """λ_max of the Hessian of the training loss at ``params`` (12 parameters: dense)."""
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(params)
    H = jax.hessian(lambda x: objective(model, problem, unravel(x)))(flat)
    return jax.numpy.linalg.eigvalsh(H)[-1]


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
