"""Past seed 000's step-size bound: a regime map of GD over (η, α) on the scalar network ½(∏w_j − y)², with the bounds drawn on it.

Seed 000's scalar reduction (Chou, Gieshoff, Maly & Rauhut 2024, eq. (7) and its perturbed analogue):
W = W_N ⋯ W_1 on a 1×1 target y, from the perturbed initialization (9) W_1(0) = α − β, W_j(0) = α
(β = ``beta_frac``·(c − 1)·α, inside Thm 3.1's hypothesis β/(c − 1) < α), by GD with step η. Every
cell of the (η, α) grid is one run, all in one ``fit_batch``; each is classified from the run itself:

    seed limit   converged (loss ≤ loss_tol) to ∏w = y, near the flow's limit, no loss spike
    flatter      converged to ∏w = y at a minimizer flatter than the flow's limit (closer to the
                 flattest minimizer than to the flow's), no loss spike
    catapult     converged after a loss spike (a loss above the initial loss) at lower sharpness
    other sign   converged to ∏w = y with a sign pattern other than the initialization's
    EoS          at the edge of stability: converged with λ_max in [0.75·2/η, 2/η] from a start whose
                 flow limit is unstable (GFS sharpness > 2/η: GD brought the sharpness down to
                 ≈ 2/η, Kreisler et al.'s "GD converges to the EoS"), or not converged, oscillating, with λ_max averaged over
                 16 consecutive steps after the run within ±25 % of 2/η (±25 % is the definition
                 of "≈ 2/η", not a fitted value)
    oscillating  not converged, the loss rising at some of those 16 steps, λ_max away from 2/η
    stalled at 0 not converged, monotone, with loss ≥ ¼y²: thrown to the saddle at w = 0, where
                 the gradient vanishes to order N − 1 and escape takes long
    slow         not converged, the loss still decreasing monotonically (the budget ran out)
    diverged     the loss became NaN/inf

The sharpness along each run is ``optim.sharpness`` (the exact 3×3 Hessian, batched); the GFS
sharpness (Kreisler et al. 2023) of an iterate w with positive weights is the flow's limit in closed
form: the flow keeps w_i² − w_j² and ends on ∏w = y, so with s = w_1² there, ∏_i (s + c_i) = y²
(c_i = w_i² − w_1²), solved by Newton, and λ_max = Σ_i y²/(s + c_i).

Drawn on the map: the seed's bound (10) 1/(9N (cM)^{2N−2}), M = max(α, y^{1/N}); 2/λ_max at the flow's
limit from the initialization (linear stability of the minimizer GF would pick); 2/(N y^{2−2/N}), the
linear-stability bound of every minimizer (AM–GM: Σ y²/w_i² ≥ N y^{2−2/N} on ∏w = y, equality at
the balanced minimizer). Claims: below (10) every cell converges to the seed's limit ∏w = y; no cell
converges above 2/(N y^{2−2/N}); GD decreases the GFS sharpness at every snapshot (Kreisler, Nacson,
Soudry & Carmon, ICML 2023, proved for scalar networks). Where the measured convergence boundary
departs from every bound, the gap is a finding (rows ``boundary_*`` and a note), not a tolerance.

    implicit-bias run regime_dmf                      # ~8 s
    implicit-bias run regime_dmf --set init=identical
"""

import dataclasses
import math
from typing import Annotated

import jax.numpy as jnp
import numpy as np
from annotated_types import Gt, Lt

from implicit_bias import checks, plots
from implicit_bias.config import Count, Depth, Positive, Scale, Seed, Step, Tol
from implicit_bias.errors import ConfigError
from implicit_bias.experiments import Result
from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.optim import DIVERGED, GD, fit_batch, regimes as shared
from implicit_bias.optim.sharpness import hessian_top_k, sharpness_along
from implicit_bias.problems.full import FullObservation
from implicit_bias.theory import deep_matrix as theory

SEED = "000"
ORDER = 90
TITLE = "Regime map past the step-size bound: scalar network (seed 000's reduction)"
REPRODUCE = True  # ~5 s at the default size pinned to one core (taskset, load ~8): < 60 s

TINY = {"n_eta": 8, "n_alpha": 4, "eta_min": 0.004, "n_steps": 6000, "n_saves": 120}

REGIMES = ("seed limit", "flatter", "catapult", "other sign", "EoS", "oscillating",
           "stalled at 0", "slow", "diverged")  # fmt: skip
EOS_BAND = shared.EOS_BAND  # "λ_max ≈ 2/η": within ±25 % of 2/η (a definition)
U = shared.U
TAIL = shared.TAIL  # consecutive GD steps after the run (oscillations the spacing hides)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    y: Positive = 1.0
    depth: Depth = 3
    init: str = "perturbed"
    beta_frac: Annotated[float, Gt(0), Lt(1)] = 0.9  # β = beta_frac·(c − 1)·α (Thm 3.1: < α(c−1))
    alpha_min: Scale = 0.3
    alpha_max: Scale = 2.0
    n_alpha: Count = 12
    eta_min: Step = 1e-3
    eta_max: Step = 2.0
    n_eta: Count = 24
    n_steps: Count = 20_000
    n_saves: Count = 400
    loss_tol: Tol = 1e-20  # converged: loss ≤ loss_tol·y², i.e. |∏w − y| ≤ √(2·loss_tol)·y
    seed: Seed = 0

    def check(self):
        if self.init not in ("identical", "perturbed"):
            raise ConfigError(f"init must be 'identical' or 'perturbed', got {self.init!r}")
        if not self.alpha_min <= self.alpha_max or not self.eta_min < self.eta_max:
            raise ConfigError("need alpha_min <= alpha_max and eta_min < eta_max")
        if self.depth < 2:
            raise ConfigError("the scalar network needs depth >= 2")


def grid(cfg: Config):
    etas = np.geomspace(cfg.eta_min, cfg.eta_max, cfg.n_eta)
    alphas = np.geomspace(cfg.alpha_min, cfg.alpha_max, cfg.n_alpha)
    return etas, alphas


def initial_weights(cfg: Config, alpha: float) -> np.ndarray:
    """w(0): α·1, with w_1 = α − β for the perturbed initialization (9)."""
    w = np.full(cfg.depth, alpha)
    if cfg.init == "perturbed":
        w[0] = alpha - beta_of(cfg, alpha)
    return w


def beta_of(cfg: Config, alpha: float) -> float:
    return cfg.beta_frac * (theory.c_root(cfg.depth) - 1.0) * alpha


def seed_bound(cfg: Config, alpha: float) -> float:
    """The seed's step-size bound for this initialization: (10) perturbed, (8) identical."""
    W = np.array([[cfg.y]])
    if cfg.init == "perturbed":
        return theory.step_bound_perturbed(W, alpha, cfg.depth)
    return theory.step_bound_identical(W, alpha, cfg.depth)


def flattest_sharpness(y: float, N: int) -> float:
    """min over the minimizers ∏w = y of λ_max = Σ y²/w_i²: N y^{2−2/N} (AM–GM, at |w_i| = y^{1/N})."""
    return N * y ** (2.0 - 2.0 / N)


def gfs_closed_form(w, y: float) -> np.ndarray:
    """λ_max at the gradient-flow limit from w (…, N), all w_i > 0: the flow keeps c_i = w_i² − w_1²
    and the signs, and ends on ∏w = y; s = w_1² there solves F(s) = Σ log(s + c_i) − 2 log y = 0.

    F is increasing and concave on s > −min c, from −∞ to F(y^{2/N} − min c) ≥ 0 (every s + c_i ≥
    y^{2/N} there): Newton safeguarded by bisection on that bracket, to |Δs| ≤ 4u·s. NaN where some
    w_i ≤ 0 (the closed form needs one sign pattern).
    """
    w = np.asarray(w, dtype=np.float64)
    with np.errstate(all="ignore"):  # a diverging run: overflow gives NaN, masked below
        return _gfs_closed_form(w, y)


def _gfs_closed_form(w, y):
    N = w.shape[-1]
    w2 = np.where(np.isfinite(w), w, 1.0) ** 2
    c = w2 - w2[..., :1]
    lo = -c.min(axis=-1)
    hi = y ** (2.0 / N) + lo
    s = hi.copy()
    for _ in range(300):
        terms = s[..., None] + c
        F = np.log(terms).sum(-1) - 2.0 * np.log(y)
        lo, hi = np.where(F < 0, s, lo), np.where(F >= 0, s, hi)
        newton = s - F / (1.0 / terms).sum(-1)
        inside = (newton > lo) & (newton < hi)
        new = np.where(inside, newton, 0.5 * (lo + hi))
        done = ~(np.abs(new - s) > 4 * U * np.abs(s))  # NaN (a diverged run) counts as done
        s = new
        if np.all(done):
            break
    phi = (y**2 / (s[..., None] + c)).sum(-1)
    return np.where(np.all(w > 0, axis=-1) & np.all(np.isfinite(w), axis=-1), phi, np.nan)


def _weights(observed) -> np.ndarray:
    """(B, S, N) scalar weights from the observed factors (tuple of (B, S, 1, 1))."""
    return np.stack([np.asarray(x)[..., 0, 0] for x in observed], axis=-1)


def tail_steps(w, eta, y: float, n: int = TAIL):
    """n further GD steps from w (B, N) at steps η (B,), in NumPy: the weights (B, n + 1, N) and the
    losses (B, n + 1) at consecutive steps. The snapshots of a run are ``n_steps/n_saves`` steps
    apart, and an even spacing hides a period-2 oscillation; these consecutive steps show it."""
    ws, w = [w], np.array(w, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n):
            P = np.prod(w, axis=-1)
            others = np.stack([np.prod(np.delete(w, i, axis=-1), axis=-1)
                               for i in range(w.shape[-1])], axis=-1)  # fmt: skip
            w = w - eta[:, None] * (P - y)[:, None] * others
            ws.append(w)
        W = np.stack(ws, axis=1)
        return W, 0.5 * (np.prod(W, axis=-1) - y) ** 2


def classify(loss, w_end, w0, eta, lam_end, phi0, lam_min, loss_tol, diverged, tail_loss,
             tail_lam, y) -> str:  # fmt: skip
    """One cell's regime from its run (see the module docstring): ``loss`` at the snapshots (finite
    part), the end point ``w_end`` and the start ``w0``, λ_max at the end, the GFS sharpness at the
    start ``phi0``, the flattest minimizer's ``lam_min``, and the losses and λ_max at ``TAIL``
    consecutive GD steps after the end. ``optim.regimes.classify`` with this map's
    knowledge: another sign pattern, the saddle at 0 (loss ≥ ¼y²), and the residual term's bound on
    λ_max at a converged point."""
    # farther from the flow's limit than from the flattest minimizer, and beyond what the
    # residual term (∏w − y)∂²∏w of a converged point can move λ_max: 4N√(2·loss)·λ
    lam_tol = 4.0 * w0.size * np.sqrt(2.0 * loss_tol) * phi0 / y
    reg = shared.classify(loss, eta, lam_end, loss_tol=loss_tol, diverged=diverged,
                           tail_loss=tail_loss, tail_lam=tail_lam, lam_flow=phi0, lam_min=lam_min,
                           lam_tol=lam_tol, stall_loss=0.25 * y**2,
                           elsewhere="other sign" if np.any(np.sign(w_end) != np.sign(w0)) else None)  # fmt: skip
    return {"converged": "seed limit", "stalled": "stalled at 0"}.get(reg, reg)


def run(cfg: Config) -> Result:
    cfg.check()
    etas, alphas = grid(cfg)
    N, y = cfg.depth, cfg.y
    E, A = np.meshgrid(etas, alphas, indexing="ij")  # cell (i, j): η_i, α_j
    e_flat, a_flat = E.ravel(), A.ravel()
    problem = FullObservation(W_hat=jnp.array([[y]]))
    kw = {"beta": beta_of(cfg, 1.0)} if cfg.init == "perturbed" else {}

    def model(a):
        return DeepMatrix(depth=N, n=1, init=cfg.init, alpha=float(a),
                          **({"beta": beta_of(cfg, a)} if kw else {}))  # fmt: skip

    models = [model(a) for a in a_flat]
    methods = [GD(eta=float(e), n_steps=cfg.n_steps, n_saves=cfg.n_saves) for e in e_flat]
    params0 = [m.init_params() for m in models]
    traj = fit_batch(models, problem, methods, params0=params0, label=f"GD ×{len(models)} (map)")
    sharp = sharpness_along(models[0], problem, traj)  # (B, S, 1): the exact Hessian, batched
    lam = sharp.max
    w = _weights(traj.observed)
    loss = np.asarray(traj.loss)
    status = np.asarray(traj.status)
    w0 = np.stack([initial_weights(cfg, a) for a in a_flat])
    phi0 = gfs_closed_form(w0, y)
    lam_min = flattest_sharpness(y, N)
    loss_tol = cfg.loss_tol * y**2
    final = _weights(tuple(np.asarray(x)[:, None] for x in traj.final))[:, 0]
    lam_end = hessian_top_k(models[0], problem, traj.final)[:, 0]

    tail_w, tail_loss = tail_steps(final, e_flat, y)
    finite_tail = np.all(np.isfinite(tail_w), axis=(1, 2))
    tail_lam = np.full(tail_loss.shape, np.nan)
    if finite_tail.any():
        pts = tuple(x.reshape(-1, 1, 1) for x in np.moveaxis(tail_w[finite_tail], -1, 0))
        tail_lam[finite_tail] = hessian_top_k(models[0], problem, pts)[:, 0].reshape(-1, TAIL + 1)

    regimes, rows = [], []
    for b in range(len(models)):
        ok = np.isfinite(loss[b])
        reg = classify(loss[b][ok], final[b], w0[b], e_flat[b], lam_end[b], phi0[b], lam_min,
                       loss_tol, status[b] == DIVERGED, tail_loss[b], tail_lam[b], y)  # fmt: skip
        regimes.append(reg)
        cell = {"eta": float(e_flat[b]), "alpha": float(a_flat[b]), "regime": reg, "i": b}
        t_end = float(cfg.n_steps)
        for series, value in (("regime", REGIMES.index(reg)), ("lambda_end", lam_end[b]),
                              ("gfs_sharpness_0", phi0[b]), ("loss_end", loss[b][ok][-1]),
                              ("product_end", np.prod(final[b]))):  # fmt: skip
            rows.append({"t": t_end, "series": series, "value": float(value), **cell})
    regimes = np.array(regimes).reshape(E.shape)

    # GFS sharpness at every snapshot of every run with positive weights (closed form)
    phi = gfs_closed_form(w, y)  # (B, S)
    positive = np.all((w > 0) | ~np.isfinite(w), axis=(1, 2)) & (status != DIVERGED)
    rise = np.full(len(models), -np.inf)
    phi_tail = gfs_closed_form(tail_w, y)  # (B, TAIL + 1): consecutive steps after the run
    positive &= np.all(tail_w > 0, axis=(1, 2))
    for b in np.flatnonzero(positive):
        p = np.concatenate([phi[b][np.isfinite(phi[b])], phi_tail[b]])
        if p.size > 1:
            rise[b] = float(np.max((p[1:] - p[:-1]) / p[:-1]))

    # the bounds, per α
    b_seed = np.array([seed_bound(cfg, a) for a in alphas])
    b_flow = 2.0 / gfs_closed_form(np.stack([initial_weights(cfg, a) for a in alphas]), y)
    b_all = 2.0 / lam_min
    # converged: the loss at the end ≤ loss_tol (whatever the regime: EoS cells may have converged)
    conv = np.array([status[b] != DIVERGED and np.nanmin(loss[b][np.isfinite(loss[b])][-1:]) <= loss_tol
                     for b in range(len(models))]).reshape(E.shape)  # fmt: skip
    eta_conv = np.array([etas[conv[:, j]].max() if conv[:, j].any() else np.nan
                         for j in range(len(alphas))])  # fmt: skip
    for j, a in enumerate(alphas):
        for series, value in (("bound_seed", b_seed[j]), ("bound_flow_limit", b_flow[j]),
                              ("bound_every_minimizer", b_all), ("boundary_measured", eta_conv[j])):  # fmt: skip
            rows.append({"t": 0.0, "series": series, "value": float(value), "alpha": float(a)})
    # λ_max over the run for one cell per regime (the figure's second panel)
    shown = {}
    for b, reg in enumerate(regimes.ravel()):
        if reg not in shown and reg != "diverged":
            shown[reg] = b
    for reg, b in shown.items():
        ok = np.isfinite(sharp.t[b])
        for tk, v, l in zip(sharp.t[b][ok], lam[b][ok], loss[b][ok]):
            extra = {"eta": float(e_flat[b]), "alpha": float(a_flat[b]), "regime": reg}
            rows.append({"t": float(tk), "series": "sharpness", "value": float(v), **extra})
            rows.append({"t": float(tk), "series": "loss", "value": float(l), **extra})

    counts = {r: int(np.sum(regimes == r)) for r in REGIMES}
    for r, n in counts.items():
        rows.append({"t": 0.0, "series": "count", "value": float(n), "regime": r})

    found = _checks(cfg, etas, alphas, regimes, b_seed, b_all, rise, positive, status,
                    lam_end, final, conv, loss, phi0)  # fmt: skip
    # the measured boundary per α: the largest converging η and the next η of the grid above it
    nxt = np.array([etas[etas > e].min() if np.isfinite(e) and (etas > e).any() else np.nan
                    for e in eta_conv])  # fmt: skip
    gap_seed = float(np.nanmax(eta_conv / b_seed))
    flow_lo, flow_hi = float(np.nanmin(eta_conv / b_flow)), float(np.nanmax(eta_conv / b_flow))
    gap_all = float(np.nanmax(eta_conv / b_all))
    below_all = np.nanmax(nxt / b_all) if np.isfinite(nxt).any() else np.nan
    j_lo = int(np.nanargmin(eta_conv / b_flow))
    notes = [
        "cells by regime: " + ", ".join(f"{r} {n}" for r, n in counts.items() if n),
        f"measured boundary (largest converging η per α) / seed bound: up to {gap_seed:.3g}× "
        "(the seed's bound is conservative by this factor)",
        f"measured boundary / 2/λ_max(flow's limit from w(0)): {flow_lo:.3g}× to {flow_hi:.3g}× "
        f"(> 1: GD converged where the flow's minimizer is linearly unstable, at a flatter one; "
        f"< 1: it failed below that bound, at α = {alphas[j_lo]:.3g}: the first steps overshoot "
        f"(regimes above: {', '.join(sorted(set(regimes[etas > eta_conv[j_lo], j_lo])))})",
        f"measured boundary / 2/(N y^(2−2/N)) (every minimizer): up to {gap_all:.3g}×, the next "
        f"grid η up to {below_all:.3g}× (grid spacing ×{etas[1] / etas[0]:.3g})",
    ]
    for series, value in (("gap_seed_bound", gap_seed), ("gap_flow_limit_bound_min", flow_lo),
                          ("gap_flow_limit_bound_max", flow_hi),
                          ("gap_every_minimizer_bound", gap_all)):  # fmt: skip
        rows.append({"t": 0.0, "series": series, "value": value})
    return Result(rows=rows, checks=found, notes=notes)


def stability_slack(loss_tol: float, n_steps: int) -> float:
    """How far above 2/λ a step size can be and still *look* converged after n_steps: a deviation
    from an unstable minimizer grows by |1 − ηλ| = ηλ − 1 per step from round-off u, and the run
    counts as converged while it stays below √(2·loss_tol) (the loss is ½·deviation²·…, to first
    order), so ηλ − 1 ≤ (√(2·loss_tol)/u)^{1/n_steps}, i.e. η ≤ (2/λ)·(1 + slack)."""
    g = (math.sqrt(2.0 * loss_tol) / U) ** (1.0 / n_steps)
    return (1.0 + g) / 2.0 - 1.0


def _checks(cfg, etas, alphas, regimes, b_seed, b_all, rise, positive, status, lam_end, final,
            conv, loss, phi0):  # fmt: skip
    N, y = cfg.depth, cfg.y
    src = "seed 000, Thm 3.1 (perturbed init (9), bound (10))" if cfg.init == "perturbed" else \
        "seed 000, Thm 2.1/2.2 (identical init, bound (8))"  # fmt: skip
    E = np.repeat(etas[:, None], len(alphas), axis=1)
    below = E < b_seed[None, :]
    n_below = int(below.sum())
    bad_below = [f"η={E[i, j]:.3g}, α={alphas[j]:.3g}: {regimes[i, j]}"
                 for i, j in zip(*np.nonzero(below & ~conv))]  # fmt: skip
    h_cells = "some cells lie below the seed's bound"
    h_beta = "β/(c − 1) < α (Thm 3.1) at every α" if cfg.init == "perturbed" else "identical init"
    if cfg.init == "perturbed":
        held = [theory.perturbation_condition(a, beta_of(cfg, a), N) for a in alphas]
        beta_ok = all(h for h, _ in held)
        beta_obs = f"max (β/(c − 1))/α = {max(r / a for (_, r), a in zip(held, alphas)):.3g}"
    else:
        beta_ok, beta_obs = True, "identical"
    slack = stability_slack(cfg.loss_tol, cfg.n_steps)
    limit_all = (2.0 / flattest_sharpness(y, N)) * (1.0 + slack)
    above = E > limit_all
    conv_above = [f"η={E[i, j]:.3g}, α={alphas[j]:.3g}: {regimes[i, j]}"
                  for i, j in zip(*np.nonzero(above & conv))]  # fmt: skip
    n_pos = int(positive.sum())
    rtol = 64 * U * N  # the Newton root and Σ y²/(s + c_i): a few ulps per term
    bad_rise = int(np.sum(rise[positive] > rtol))
    h_pos = "every weight positive along the run (cells evaluated for Kreisler et al.)"
    # the dense Hessian at the end vs the closed form Σ y²/w_i² at converged cells
    flat_conv = conv.ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        closed_end = np.sum(y**2 / final**2, axis=-1)
        rel = np.abs(lam_end - closed_end) / closed_end
    worst = float(np.nanmax(rel[flat_conv])) if flat_conv.any() else 0.0
    # at a converged cell (|∏w − y| ≤ √(2 loss_tol) y) the residual term of the Hessian is O(√loss)
    hess_tol = (
        4.0
        * N
        * math.sqrt(2.0 * cfg.loss_tol)
        * max(1.0, float(np.max(closed_end[flat_conv], initial=1.0)))
    )
    found = [
        checks.hypothesis(
            h_cells, n_below > 0, predicted="> 0 cells", observed=n_below, source=src
        ),
        checks.hypothesis(
            h_beta,
            beta_ok,
            predicted="β/(c − 1) < α" if cfg.init == "perturbed" else "W_j(0) = α",
            observed=beta_obs,
            source=src,
        ),  # fmt: skip
        checks.hypothesis(
            h_pos,
            n_pos > 0,
            predicted="> 0 cells",
            observed=n_pos,
            source="Kreisler, Nacson, Soudry & Carmon (ICML 2023), scalar networks",
            detail="checked: (i) a scalar network ½(∏w − y)², squared loss, y > 0 (by "
            "construction); (ii) every weight > 0 at every snapshot and at the 16 "
            "consecutive steps after the run (one sign pattern: the GFS closed "
            "form); (iii) no divergence. The paper's admissible set of (w₀, η) was "
            "not re-read here: the claim is evaluated on every cell meeting "
            "(i)–(iii), which is at least as demanding",
        ),  # fmt: skip
        checks.at_most(
            "cells below the seed's bound that do not converge to ∏w = y",
            0,
            len(bad_below),
            source=src,
            basis="converged: loss ≤ loss_tol·y² (config), |∏w − y| ≤ √(2·loss_tol)·y",
            detail="; ".join(bad_below[:5]) or f"all {n_below} cells below the bound converge",
            requires=(h_cells, h_beta),
        ),
        checks.at_most(
            "cells converged above 2/(N y^(2−2/N)), the linear-stability bound of every minimizer",
            0,
            len(conv_above),
            source="seed 000's scalar reduction past its bound: linear stability of GD at a minimizer (λ_max < 2/η); "
            "min over ∏w = y of Σ y²/w_i² = N y^(2−2/N) (AM–GM)",
            basis=f"η above (2/λ_min)(1 + {slack:.2e}): an instability growing from round-off u "
            f"at rate ηλ − 1 cannot stay below √(2·loss_tol) for {cfg.n_steps} steps "
            "(stability_slack)",
            detail="; ".join(conv_above[:5]) or f"{int(above.sum())} cells above, none converged",
        ),  # fmt: skip
        checks.at_most(
            "GFS sharpness rises between snapshots (cells with a rise above round-off)",
            0,
            bad_rise,
            source="seed 000's scalar network: Kreisler, Nacson, Soudry & Carmon (ICML 2023), GD decreases the GFS sharpness "
            "monotonically on scalar networks",
            basis=f"relative rise > {rtol:.2g} = 64·N·u: the closed form's Newton root and sum, a "
            "few ulps per term",
            detail=f"{n_pos} cells with positive weights; largest relative rise "
            f"{float(np.max(rise[positive])) if n_pos else float('nan'):.3g}",
            requires=(h_pos,),
        ),  # fmt: skip
        checks.sanity(
            "the exact Hessian at converged cells = Σ y²/w_i² (relative)",
            worst <= hess_tol,
            predicted=f"≤ {hess_tol:.2g}",
            observed=worst,
            detail="optim.sharpness (jax.hessian, eigvalsh) against the closed form at ∏w = y; "
            "tolerance 4N√(2·loss_tol)·max λ: the residual term (∏w − y)∂²∏w",
        ),  # fmt: skip
        checks.sanity(
            "GFS sharpness at the start ≥ the flattest minimizer's N y^(2−2/N)",
            bool(np.all(phi0 >= flattest_sharpness(y, N) * (1 - 1e-12))),
            predicted=f"≥ {flattest_sharpness(y, N):.6g}",
            observed=float(np.min(phi0)),
        ),
        checks.sanity(
            "no solver failure",
            bool(np.all(np.isin(status, (0, 1, 3)))),
            predicted="status ok or diverged",
            observed=str(sorted(set(status.tolist()))),
        ),
    ]
    return found


COLORS = {"seed limit": "#4c72b0", "flatter": "#55a868", "catapult": "#dd8452",
          "other sign": "#8172b3", "EoS": "#c44e52", "oscillating": "#da8bc3",
          "stalled at 0": "#937860", "slow": "#cccccc", "diverged": "#333333"}  # fmt: skip


def plot(rows, cfg: Config):
    fig, axes = plots.figure(2, 1, width=5.5, height=4.2)
    ax = axes[0, 0]
    plots.regime_map(ax, rows, "eta", REGIMES, COLORS, (
        ("bound_seed", "w-", "seed bound"),
        ("bound_flow_limit", "w--", "2/λ(flow limit)"),
        ("bound_every_minimizer", "w:", "2/(N y^(2−2/N))"),
        ("boundary_measured", "k.", "largest converging η")))  # fmt: skip
    ax.set(xlabel="α", ylabel="η", title=f"GD regimes, N={cfg.depth}, y={cfg.y:g}, {cfg.init} init")
    ax = axes[0, 1]
    s = rows[rows.series == "sharpness"]
    for i, (reg, g) in enumerate(s.groupby("regime")):
        eta = g.eta.iloc[0]
        ax.plot(g.t.clip(lower=1), g.value, color=COLORS.get(reg, plots.color(i)),
                label=f"{reg} (η={eta:.3g}, α={g.alpha.iloc[0]:.3g})")  # fmt: skip
        ax.axhline(2 / eta, color=COLORS.get(reg, plots.color(i)), ls=":", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="step", ylabel="λ_max(∇²L)",
           title="sharpness along one run per regime (dotted: 2/η)")  # fmt: skip
    ax.legend(fontsize=6)
    return {"regime_map": fig}
