"""Past seed 004's step-size bound: a regime map of GD over (η, α) for deep linear regression with a
scalar output, with seed 004's bound and Marion & Chizat's sharpness interval drawn on it.

Seed 004's setting (Gidel, Bach & Lacoste-Julien 2019) with d = 1: aligned data (``problems.regression
.aligned``) with Σ_x = U diag(λ) Uᵀ, Σ_xy = σ u_1 (one output: one σ), the loss ½n⁻¹‖Y − Xβ‖² =
½(β − β*)ᵀΣ_x(β − β*) (ε = 0, no noise: L_min = 0), β* = (σ/λ_1) u_1, the model β = W_1 ⋯ W_N
(``models.spectral.deep_linear``, widths (p, h, …, h, 1)) from the spectral initialization
(``spectral_init``, Q = I) with product α u_1 (δ = −½ log α per layer pair; every layer's singular
value α^{1/N}). Every cell of the (η, α) grid is one GD run, all in one ``fit_batch``, classified by
``optim.regimes.classify`` (seed limit = converged to β*, catapult, EoS, oscillating, stalled at 0,
slow, diverged; see regime_dmf for the definitions), with 16 consecutive GD steps after each run.

Marion & Chizat's interval (NeurIPS 2024, "Deep linear networks for regression are implicitly
regularized towards flat minima", arXiv:2405.13456; the theorem text could not be re-read here, so the
statement is taken from their public code, PierreMarion23/implicit-reg-sharpness @ 5188f6a,
run_experiment.py lines 489–493 and 713–714, utils.py lines 25–28, mlp.py lines 40–46): their loss is
the mean squared error n⁻¹‖y − Xw‖² (no ½), w* is rescaled to ‖w*‖ = 1, a = w*ᵀΣ_xw*,
Λ = λ_max(Σ_x), L the number of weight matrices; every minimizer has sharpness ≥ 2La and the flow from
a small-scale Gaussian initialization ends at sharpness ≤ 8LΛ. In this loss (½, any ‖β*‖; the
Hessian scales as ‖β*‖^{2−2/N} when y is rescaled, since W_j → c^{1/N}W_j maps the minimizers):

    every minimizer:      λ_max(∇²L) ≥ λ_min = N a ‖β*‖^{−2/N}
    small-init flow end:  λ_max(∇²L) ≤ λ_MC  = 4 N Λ ‖β*‖^{2−2/N}

(their 2La and 8LΛ at ‖β*‖ = 1, halved for the ½). Read without ‖w*‖ = 1, "≥ 2La" (here N a) is
false for ‖β*‖ > 1: the balanced minimizer has N a ‖β*‖^{−2/N} < N a (docs/regimes.md, Map 3).

The lower bound is also derived here (and equals theirs): at a minimizer the Hessian is JᵀΣ_xJ with
J = ∂β/∂θ, and JJᵀ = Σ_j ‖B_j‖² A_jA_jᵀ (A_j = W_1⋯W_{j−1}, B_j = W_{j+1}⋯W_N, A_1 = I). With
z = Σ_x^{1/2}β*/√a, Cauchy–Schwarz gives A_jA_jᵀ ⪰ β*β*ᵀ/‖B_{j−1}‖² and the first term
‖B_1‖² ‖Σ_xβ*‖² ≥ ‖B_1‖² a²/‖β*‖², so λ_max ≥ a Σ_j r_j² with ∏_j r_j = 1/‖β*‖ (r_j = ‖B_j‖/‖B_{j−1}‖,
B_0 = β*, B_N = 1), and by AM–GM λ_max ≥ N a ‖β*‖^{−2/N} = N λ_1 ‖β*‖^{2−2/N} (β* = (σ/λ_1)u_1).
Equality at the balanced rank-one minimizer when N λ_1 ≥ λ_max(Σ_x) (there λ_max = ‖β*‖^{2−2/N}·
max(Nλ_1, Λ)); ``check`` requires λ_1 = max λ (u_1 the top eigenvector) so the bound is attained.
Verified by ``flattest_check``: the dense Hessian at the balanced minimizer equals it, and random
unbalanced minimizers (random factors, the last solved for β = β*) lie above it. GD cannot converge
to a minimizer with λ_max > 2/η, so no cell converges above 2/λ_min (Marion & Chizat's "η > 1/(La)",
the stability slack of regime_dmf). The spectral flow keeps every layer balanced and ends at the
balanced minimizer: 2/λ at the flow's limit equals 2/λ_min here (the flow picks the flattest one).
The upper bound is checked on ``n_flow`` gradient flows from Gaussian initializations (entries
N(0, flow_scale²), as their ``init_mlp``), whose ends must lie in [λ_min, λ_MC].

Seed 004's bound: η < 1/(2σ) (``theory.regression.discrete_step_bound``, proved for two layers;
N = 2 makes it exactly half of 2/λ_min = 1/σ). Claims (each can fail): below seed 004's bound every
cell converges to β* (N = 2, the bound's hypothesis); no cell converges above 2/λ_min·(1 + slack);
the small-init flows end in [λ_min, λ_MC] (the upper end requires flow_scale·√h ≤ FLOW_SCALE_MAX).

    implicit-bias run regime_dlr                      # ~5 s (+4 s compiling the flows once)
    implicit-bias run regime_dlr --set depth=3
"""

import dataclasses
import math

import jax
import numpy as np

from implicit_bias import checks, plots
from implicit_bias.config import Count, Depth, Dim, Positive, Scale, Seed, Step, Tol
from implicit_bias.errors import ConfigError
from implicit_bias.experiments import Result
from implicit_bias.experiments.regime_dmf import stability_slack
from implicit_bias.models.spectral import deep_linear, spectral_init
from implicit_bias.optim import DIVERGED, GD, fit_batch, regimes as shared
from implicit_bias.optim.flow import GradientFlow
from implicit_bias.optim.sharpness import hessian_top_k
from implicit_bias.problems.regression import aligned
from implicit_bias.theory import regression as theory

SEED = "004"
ORDER = 91
TITLE = "Regime map past the step-size bound: deep linear regression, scalar output (seed 004)"
REPRODUCE = True  # 5.1 s pinned to one core (load ~4); +~4 s CPU compiling the flows: < 60 s

TINY = {
    "n_eta": 8,
    "n_alpha": 4,
    "eta_max": 2.4,
    "n_steps": 3000,
    "n_saves": 60,
    "n_random_minimizers": 40,
    "n_flow": 4,
}

MC_SOURCE = (
    "seed 004's deep linear regression (scalar output) with Marion & Chizat (NeurIPS 2024), "
    "as computed by their "
    "code (PierreMarion23/implicit-reg-sharpness run_experiment.py: 2La, 8LΛ, MSE loss, ‖w*‖ = 1), "
    "converted to the ½-loss and any ‖β*‖"
)
# The small-scale hypothesis of their flow bound: the paper's exact condition on the initialization
# scale could not be re-read. We require flow_scale·√hidden ≤ 0.5: in our verification (7 settings:
# N = 2…5, p = 3…5, h = 3…5, κ(Σ_x) = 1…30, ‖β*‖ = 0.5…3; docs/regimes.md, Map 3) every flow end lay
# in [λ_min, λ_MC] for std·√h ≤ 0.5, and exceeded λ_MC at std·√h = 1 in 2 of 7 settings and at 2 in
# 6 of 7 (their Fig. 1b: sharper with the scale).
FLOW_SCALE_MAX = 0.5  # on flow_scale·√hidden
FLOW_RTOL = 1e-10  # the flows' local error tolerance (relative)

REGIMES = ("seed limit", "catapult", "EoS", "oscillating", "stalled at 0", "slow", "diverged")
TAIL = shared.TAIL
COLORS = {"seed limit": "#4c72b0", "catapult": "#dd8452", "EoS": "#c44e52",
          "oscillating": "#da8bc3", "stalled at 0": "#937860", "slow": "#cccccc",
          "diverged": "#333333"}  # fmt: skip


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    sigma: Positive = 1.0  # Σ_xy = σ u_1
    lam: tuple[Positive, ...] = (2.0, 1.0, 0.5)  # diag D_x: λ_1 the largest (u_1 the top direction)
    hidden: Dim = 3
    depth: Depth = 2
    alpha_min: Scale = 1e-3  # the initial product α u_1
    alpha_max: Scale = 2.0
    n_alpha: Count = 10
    eta_min: Step = 0.02
    eta_max: Step = 4.0
    n_eta: Count = 24
    n_steps: Count = 6000
    n_saves: Count = 200
    loss_tol: Tol = 1e-20  # converged: loss ≤ loss_tol·L(0 params) = loss_tol·a/2
    n_random_minimizers: Count = 200
    n_flow: Count = 8  # gradient flows from Gaussian inits (Marion & Chizat's upper bound)
    flow_scale: Scale = 0.03  # std of their entries (their init_mlp: scale · N(0, 1))
    flow_t1: Positive = 1e4  # the flows stop earlier, at loss ≤ flow_loss_tol·a/2
    flow_loss_tol: Tol = 1e-16  # ‖β − β*‖ ≲ 1e-8·√κ(Σ_x)‖β*‖ there (see the flow claims)
    seed: Seed = 0

    def check(self):
        if not self.alpha_min <= self.alpha_max or not self.eta_min < self.eta_max:
            raise ConfigError("need alpha_min <= alpha_max and eta_min < eta_max")
        if self.depth < 2:
            raise ConfigError("a deep linear network needs depth >= 2")
        if len(self.lam) < 1 or self.lam[0] < max(self.lam):
            raise ConfigError(
                f"lam[0] must be the largest (u_1 the top direction of Σ_x), got {self.lam}"
            )
        if self.n_saves > self.n_steps:
            raise ConfigError("n_saves must be at most n_steps")


def grid(cfg: Config):
    return (np.geomspace(cfg.eta_min, cfg.eta_max, cfg.n_eta),
            np.geomspace(cfg.alpha_min, cfg.alpha_max, cfg.n_alpha))  # fmt: skip


def widths(cfg: Config) -> tuple:
    return (len(cfg.lam),) + (cfg.hidden,) * (cfg.depth - 1) + (1,)


def setting(cfg: Config):
    """(data, model, β*, a = β*ᵀΣ_xβ*)."""
    data = aligned(sigma=np.array([cfg.sigma]), lam=np.array(cfg.lam, float), d=1, seed=cfg.seed)
    beta = (cfg.sigma / cfg.lam[0]) * data.U[:, :1] * data.V[0, 0]
    Sx = np.asarray(data.problem.Sigma_x)
    return data, deep_linear(widths(cfg)), beta, float((beta.T @ Sx @ beta)[0, 0])


def flattest_sharpness(a: float, beta_norm: float, N: int) -> float:
    """min over the minimizers β = β* of λ_max(∇²L): N a ‖β*‖^{−2/N} (derived in the docstring;
    attained when Nλ_1 ≥ λ_max(Σ_x))."""
    return N * a * beta_norm ** (-2.0 / N)


def mc_interval(a: float, lam_max: float, beta_norm: float, N: int) -> tuple[float, float]:
    """Marion & Chizat's interval in this loss: (N a ‖β*‖^{−2/N}, 4 N Λ ‖β*‖^{2−2/N}) — their 2La
    (every minimizer) and 8LΛ (the small-init flow's end) for the MSE loss at ‖w*‖ = 1, halved for
    the ½ and rescaled by ‖β*‖^{2−2/N} (module docstring). The lower end equals
    ``flattest_sharpness``."""
    return (flattest_sharpness(a, beta_norm, N), 4.0 * N * lam_max * beta_norm ** (2.0 - 2.0 / N))


def seed_bound(cfg: Config) -> float:
    """Seed 004's discrete step-size bound η < 1/(2σ)."""
    return theory.discrete_step_bound(np.array([cfg.sigma]))


def init_params(cfg: Config, data, alpha: float):
    return spectral_init(data.U, data.V, np.array([-0.5 * math.log(alpha)]), widths(cfg))


def random_minimizers(cfg: Config, model, beta, k: int):
    """k minimizers: random engine factors W_1 … W_{N−1} (scales e^{N(0, 1)}), the last (p × h)
    solved for β = W_N·(W_{N−1}⋯W_1) plus a random part orthogonal to the product."""
    rng = np.random.default_rng(cfg.seed + 1)
    w = widths(cfg)[::-1]  # engine widths (1, h, …, h, p)
    out = []
    for _ in range(k):
        Ws = [
            rng.standard_normal((w[j + 1], w[j])) * math.exp(rng.normal())
            for j in range(len(w) - 2)
        ]
        B = np.ones((1, 1))
        for W in Ws:
            B = W @ B  # (h, 1)
        nb = float(np.sum(B**2))
        P = np.eye(B.shape[0]) - B @ B.T / nb
        last = beta @ B.T / nb + rng.standard_normal((w[-1], w[-2])) @ P * math.exp(rng.normal())
        out.append(tuple(Ws) + (last,))
    return out


def flattest_check(cfg: Config, data, model, beta, a):
    """(λ at the balanced minimizer, min λ over random minimizers, the largest residual ‖β − β*‖)."""
    s = float(np.linalg.norm(beta)) ** (1.0 / cfg.depth)
    balanced = init_params(cfg, data, s**cfg.depth)
    rand = random_minimizers(cfg, model, beta, cfg.n_random_minimizers)
    pts = [balanced] + rand
    lam = hessian_top_k(model, data.problem, pts)[:, 0]
    resid = max(float(np.linalg.norm(np.asarray(model(p)) - beta)) for p in pts)
    return float(lam[0]), float(np.min(lam[1:])), resid


def flow_inits(cfg: Config, k: int):
    """k Gaussian initializations, entries N(0, flow_scale²) (Marion & Chizat's ``init_mlp``)."""
    rng = np.random.default_rng(cfg.seed + 2)
    w = widths(cfg)[::-1]  # engine widths (1, h, …, h, p)
    return [tuple(cfg.flow_scale * rng.standard_normal((w[j + 1], w[j])) for j in range(cfg.depth))
            for _ in range(k)]  # fmt: skip


def flow_check(cfg: Config, model, problem, a: float):
    """(λ_max at each flow's end, the largest end loss, statuses, the largest initial ‖β(0)‖)."""
    p0 = flow_inits(cfg, cfg.n_flow)
    # tight solver tolerances: at the default ones (1e-8, 1e-10) the solve can stall near loss 1e-17
    # and run to t1 (~44k evaluations); at these it stops at the loss tolerance (~1.5k)
    method = GradientFlow(
        t1=cfg.flow_t1, n_saves=20, loss_tol=cfg.flow_loss_tol * 0.5 * a, rtol=FLOW_RTOL, atol=1e-13
    )
    traj = fit_batch(model, problem, method, params0=p0, label=f"flow ×{cfg.n_flow} (small init)")
    final = jax.tree.map(np.asarray, traj.final)
    lam = hessian_top_k(model, problem, final)[:, 0]
    loss = np.asarray(traj.loss, float)  # NaN-padded after a stop at loss_tol: the last finite one
    loss_end = np.array([r[np.isfinite(r)][-1] if np.isfinite(r).any() else np.nan for r in loss])
    beta0 = max(float(np.linalg.norm(np.asarray(model(p)))) for p in p0)
    return lam, float(np.max(loss_end)), np.asarray(traj.status), beta0


def _tail(model, problem, final, etas):
    methods = [GD(eta=float(e), n_steps=TAIL, save_every=1) for e in etas]
    traj = fit_batch(model, problem, methods, params0=final, reduce=False, label="GD tail")
    return np.asarray(traj.loss, float), traj.observed


def run(cfg: Config) -> Result:
    cfg.check()
    etas, alphas = grid(cfg)
    N = cfg.depth
    data, model, beta, a = setting(cfg)
    problem = data.problem
    E, A = np.meshgrid(etas, alphas, indexing="ij")
    e_flat, a_flat = E.ravel(), A.ravel()
    params0 = [init_params(cfg, data, float(al)) for al in a_flat]
    methods = [
        GD(eta=float(e), n_steps=cfg.n_steps, n_saves=cfg.n_saves, spacing="log") for e in e_flat
    ]
    traj = fit_batch(model, problem, methods, params0=params0, label=f"GD ×{len(params0)} (map)")
    loss = np.asarray(traj.loss, float)
    status = np.asarray(traj.status)
    final = jax.tree.map(np.asarray, traj.final)
    lam_end = hessian_top_k(model, problem, final)[:, 0]
    lam_end[status == DIVERGED] = np.nan
    tail_loss, tail_params = _tail(model, problem, final, e_flat)

    lam_min = flattest_sharpness(a, float(np.linalg.norm(beta)), N)
    lam_flow = lam_min  # the spectral flow stays balanced and ends at the balanced minimizer
    Lam = float(np.max(cfg.lam))
    mc_low, mc_up = mc_interval(a, Lam, float(np.linalg.norm(beta)), N)
    loss_tol = cfg.loss_tol * 0.5 * a  # L at θ = 0 is a/2
    regs, rows = [], []
    for b in range(len(params0)):
        ok = np.isfinite(loss[b])
        tail_lam = None
        if shared.oscillates(tail_loss[b]):
            pts = jax.tree.map(lambda x: np.asarray(x)[b], tail_params)
            tail_lam = hessian_top_k(model, problem, pts)[:, 0]
        reg = shared.classify(loss[b][ok], e_flat[b], lam_end[b], loss_tol=loss_tol,
                              diverged=bool(status[b] == DIVERGED), tail_loss=tail_loss[b],
                              tail_lam=tail_lam, lam_flow=lam_flow, lam_min=lam_min,
                              stall_loss=0.25 * a)  # fmt: skip
        reg = {"converged": "seed limit", "stalled": "stalled at 0", "flatter": "seed limit"}.get(
            reg, reg
        )
        regs.append(reg)
        cell = {"eta": float(e_flat[b]), "alpha": float(a_flat[b]), "regime": reg, "i": b}
        last = float(loss[b][ok][-1]) if ok.any() else float("nan")
        for series, value in (("regime", REGIMES.index(reg)), ("lambda_end", lam_end[b]),
                              ("loss_end", last)):  # fmt: skip
            rows.append({"t": float(cfg.n_steps), "series": series, "value": float(value), **cell})
    regimes = np.array(regs).reshape(E.shape)
    conv = np.array([status[b] != DIVERGED and np.isfinite(loss[b]).any()
                     and loss[b][np.isfinite(loss[b])][-1] <= loss_tol
                     for b in range(len(params0))]).reshape(E.shape)  # fmt: skip
    b_seed = seed_bound(cfg)
    b_all = 2.0 / lam_min
    eta_conv = np.array([etas[conv[:, j]].max() if conv[:, j].any() else np.nan
                         for j in range(len(alphas))])  # fmt: skip
    for j, al in enumerate(alphas):
        for series, value in (("bound_seed", b_seed), ("bound_flow_limit", 2.0 / lam_flow),
                              ("bound_every_minimizer", b_all), ("boundary_measured", eta_conv[j]),
                              ("bound_mc_flow_end", 2.0 / mc_up)):  # fmt: skip
            rows.append({"t": 0.0, "series": series, "value": float(value), "alpha": float(al)})
    counts = {r: int(np.sum(regimes == r)) for r in REGIMES}
    for r, n in counts.items():
        rows.append({"t": 0.0, "series": "count", "value": float(n), "regime": r})
    lam_bal, lam_rand, resid = flattest_check(cfg, data, model, beta, a)
    flow_lam, flow_loss, flow_status, beta0 = flow_check(cfg, model, problem, a)
    for series, value in (("lambda_min_closed_form", lam_min), ("lambda_balanced_minimizer", lam_bal),
                          ("lambda_random_minimizers_min", lam_rand), ("lambda_mc_lower", mc_low),
                          ("lambda_mc_upper", mc_up), ("lambda_flow_end_min", np.nanmin(flow_lam)),
                          ("lambda_flow_end_max", np.nanmax(flow_lam))):  # fmt: skip
        rows.append({"t": 0.0, "series": series, "value": float(value)})
    gap_seed = float(np.nanmax(eta_conv / b_seed))
    gap_all = float(np.nanmax(eta_conv / b_all))
    gap_all_min = float(np.nanmin(eta_conv / b_all))
    for series, value in (("gap_seed_bound", gap_seed), ("gap_every_minimizer_bound", gap_all),
                          ("gap_every_minimizer_bound_min", gap_all_min)):  # fmt: skip
        rows.append({"t": 0.0, "series": series, "value": value})
    notes = [
        "cells by regime: " + ", ".join(f"{r} {n}" for r, n in counts.items() if n),
        f"measured boundary (largest converging η per α) / seed 004's 1/(2σ): up to {gap_seed:.3g}×",
        f"measured boundary / 2/λ_min (every minimizer; = 2/λ at the flow's limit here): "
        f"{gap_all_min:.3g}× to {gap_all:.3g}× (grid spacing ×{etas[1] / etas[0]:.3g})",
        f"flattest minimizer: N a ‖β*‖^(−2/N) = {lam_min:.6g}; dense Hessian at the balanced minimizer "
        f"{lam_bal:.6g}; smallest over {cfg.n_random_minimizers} random minimizers {lam_rand:.6g}",
        f"Marion & Chizat's interval (½-loss): every minimizer ≥ {mc_low:.6g} (= λ_min), small-init "
        f"flow end ≤ 4NΛ‖β*‖^(2−2/N) = {mc_up:.6g}; {cfg.n_flow} flows from N(0, {cfg.flow_scale:g}²) "
        f"entries end at {np.nanmin(flow_lam):.6g}…{np.nanmax(flow_lam):.6g} (loss ≤ {flow_loss:.2g})",
        f"step sizes: 2/λ_MC = {2.0 / mc_up:.4g} (every small-init flow end linearly stable below it), "
        f"2/λ_min = {b_all:.4g} (no minimizer stable above it)",
    ]
    flow = (flow_lam, flow_loss, flow_status, beta0, mc_up, cfg.flow_loss_tol * 0.5 * a)
    found = _checks(cfg, etas, alphas, regimes, conv, b_seed, lam_min, lam_bal, lam_rand, resid,
                    status, flow)  # fmt: skip
    return Result(rows=rows, checks=found, notes=notes)


def _checks(
    cfg, etas, alphas, regimes, conv, b_seed, lam_min, lam_bal, lam_rand, resid, status, flow
):
    flow_lam, flow_loss, flow_status, beta0, mc_up, flow_tol = flow
    E = np.repeat(etas[:, None], len(alphas), axis=1)
    below = E < b_seed
    n_below = int(below.sum())
    bad_below = [f"η={E[i, j]:.3g}, α={alphas[j]:.3g}: {regimes[i, j]}"
                 for i, j in zip(*np.nonzero(below & ~conv))]  # fmt: skip
    slack = stability_slack(cfg.loss_tol, cfg.n_steps)
    limit = (2.0 / lam_min) * (1.0 + slack)
    above = E > limit
    conv_above = [f"η={E[i, j]:.3g}, α={alphas[j]:.3g}: {regimes[i, j]}"
                  for i, j in zip(*np.nonzero(above & conv))]  # fmt: skip
    src = "seed 004 (Gidel, Bach & Lacoste-Julien 2019), discrete dynamics: η < 1/(2 max σ_i), two layers, spectral init, ε = 0"
    h_cells = "some cells lie below seed 004's bound"
    h_depth = "two layers (the depth seed 004's discrete bound is proved for)"
    h_small = (
        "small-scale Gaussian initialization of the flows (flow_scale·√hidden ≤ FLOW_SCALE_MAX)"
    )
    # the Hessian at a point within √(2 loss/λ_1)·… of β*: the residual term ≤ p·N·‖β − β*‖-sized;
    # the dense eigenvalue vs the closed form, a few hundred ulps of λ
    rtol = 1e-9
    rtol_flow = 1e-6
    return [
        checks.hypothesis(
            h_cells, n_below > 0, predicted="> 0 cells", observed=n_below, source=src
        ),
        checks.hypothesis(
            h_depth, cfg.depth == 2, predicted="depth 2", observed=cfg.depth, source=src
        ),
        checks.at_most(
            "cells below seed 004's bound that do not converge to β*",
            0,
            len(bad_below),
            source=src,
            basis="converged: loss ≤ loss_tol·L(0) (config; L(0) = a/2 at θ = 0)",
            detail="; ".join(bad_below[:5]) or f"all {n_below} cells below the bound converge",
            requires=(h_cells, h_depth),
        ),
        checks.at_most(
            "cells converged above 2/λ_min, the linear-stability bound of every minimizer",
            0,
            len(conv_above),
            source=MC_SOURCE
            + ": every minimizer has sharpness ≥ λ_min = N a ‖β*‖^(−2/N) (their 2La; "
            "also derived in regime_dlr and verified by flattest_check), and GD is linearly unstable "
            "at a minimizer with λ_max > 2/η",
            basis=f"η above (2/λ_min)(1 + {slack:.2e}): an instability growing from round-off u "
            f"at rate ηλ − 1 cannot stay below √(2·loss_tol) for {cfg.n_steps} steps (stability_slack)",
            detail="; ".join(conv_above[:5]) or f"{int(above.sum())} cells above, none converged",
        ),
        checks.at_least(
            "small-init flows end no flatter than λ_min = N a ‖β*‖^(−2/N) (every minimizer)",
            lam_min * (1 - rtol_flow),
            float(np.nanmin(flow_lam)) if np.isfinite(flow_lam).all() else float("nan"),
            source=MC_SOURCE + ": every minimizer has sharpness ≥ 2La",
            basis=f"rtol {rtol_flow:g}: at loss ≤ flow_loss_tol·a/2 the end is within ‖β − β*‖ ≤ "
            "√(2·loss/λ_min(Σ_x)) ≈ 1e-8·√κ(Σ_x)‖β*‖ of the minimizers; the Hessian's residual term and its "
            "Gauss–Newton part move by that relative size × (2N − 2) ≲ 1e-7; dense round-off ~1e-14",
            detail=f"{cfg.n_flow} gradient flows from Gaussian entries N(0, {cfg.flow_scale:g}²)",
            loss=flow_loss,
            loss_tol=flow_tol,
        ),
        checks.hypothesis(
            h_small,
            cfg.flow_scale * math.sqrt(cfg.hidden) <= FLOW_SCALE_MAX,
            predicted=f"≤ {FLOW_SCALE_MAX:g}",
            observed=f"{cfg.flow_scale * math.sqrt(cfg.hidden):.3g} (largest initial ‖β(0)‖ {beta0:.2g} vs ‖β*‖ "
            f"{cfg.sigma / cfg.lam[0]:.3g})",
            source=MC_SOURCE,
            basis="the paper's exact condition on the scale was not re-read: FLOW_SCALE_MAX = 0.5 is "
            "the range of std·√h where the verification (docs/regimes.md, Map 3; 7 settings) found "
            "every flow end in [λ_min, λ_MC]",
        ),
        checks.at_most(
            "small-init flows end at sharpness ≤ λ_MC = 4NΛ‖β*‖^(2−2/N)",
            mc_up * (1 + rtol_flow),
            float(np.nanmax(flow_lam)) if np.isfinite(flow_lam).all() else float("nan"),
            source=MC_SOURCE + ": the small-scale-init flow ends at sharpness ≤ 8LΛ",
            basis=f"rtol {rtol_flow:g}: the residual and round-off terms of the lower claim (≲ 1e-7) "
            f"plus the solver's global error in the end point, ≤ its steps (~2e3) × local rtol "
            f"{FLOW_RTOL:g} relative in θ, ×(2N − 2) in λ (homogeneous of degree 2N − 2): ≲ 1e-6",
            detail=f"{cfg.n_flow} gradient flows from Gaussian entries N(0, {cfg.flow_scale:g}²)",
            loss=flow_loss,
            loss_tol=flow_tol,
            requires=(h_small,),
        ),
        checks.sanity(
            "the small-init flows' solves succeeded",
            bool(np.all(np.isin(flow_status, (0, 3)))),
            predicted="status ok or stopped at loss_tol (0, 3)",
            observed=str(sorted(set(flow_status.tolist()))),
        ),
        checks.sanity(
            "the dense Hessian at the balanced minimizer = N a ‖β*‖^(−2/N) (relative)",
            abs(lam_bal - lam_min) <= rtol * lam_min,
            predicted=f"{lam_min:.10g} ± {rtol:g}",
            observed=lam_bal,
        ),
        checks.sanity(
            "no random minimizer is flatter than N a ‖β*‖^(−2/N)",
            lam_rand >= lam_min * (1 - rtol) and resid <= 1e-10,
            predicted=f"≥ {lam_min:.6g} (β = β* to 1e-10)",
            observed=f"{lam_rand:.6g} (residual {resid:.2g})",
        ),
        checks.sanity(
            "no solver failure",
            bool(np.all(np.isin(status, (0, 1, 3)))),
            predicted="status ok or diverged",
            observed=str(sorted(set(status.tolist()))),
        ),
    ]


def plot(rows, cfg: Config):
    fig, axes = plots.figure(1, 1, width=5.5, height=4.2)
    ax = axes[0, 0]
    plots.regime_map(ax, rows, "eta", REGIMES, COLORS, (
        ("bound_seed", "w-", "seed 004: 1/(2σ)"),
        ("bound_every_minimizer", "w:", "2/λ_min = 2/λ(flow limit) (M&C: 1/(La))"),
        ("bound_mc_flow_end", "w--", "2/λ_MC (M&C: small-init flow end ≤ 8LΛ)"),
        ("boundary_measured", "k.", "largest converging η")))  # fmt: skip
    ax.set(xlabel="α (initial product)", ylabel="η",
           title=f"GD regimes, deep linear regression N={cfg.depth}, scalar output")  # fmt: skip
    return {"regime_map": fig}
