"""Past the flow regime on u^{⊙2} − v^{⊙2}: GD's limit over (η, α) is the minimizer of the hyperbolic entropy with Even et al.'s effective α_∞, certified cell by cell.

Seed 003's diagonal network x = u^{⊙2} − v^{⊙2} from u(0) = v(0) = α1 on ½‖Ax − y‖² (Gaussian A, sparse
signed target, y = Ax*). Gradient flow converges to argmin Φ_α over {Az = y}, Φ_α the hyperbolic
entropy with β = 2α² (Woodworth et al. 2020). GD with step η: u ← u(1 − 2ηg), v ← v(1 + 2ηg),
g = Aᵀr, so while |2ηg_j| < 1 its limit minimizes Φ_{α_∞}(z) − τᵀz with α_∞² = α²∏(1 − 4η²g_j²) and
τ = −2Σ(artanh(2ηg_j) − 2ηg_j) (Even, Pesme, Gunasekar & Flammarion, NeurIPS 2023; the exact
identity and the certificate are ``theory.certificates.gd_product`` / ``gd_potential``). The grid is
η = kick/(2‖Aᵀy‖∞) (kick = 1: the first step's |2ηg| reaches 1) × α; all cells run in one vmapped
GD with the sums the certificate needs (``_sparse._gd_sums``). Each cell is classified:

    flow limit   converged, and certified within ``seed_tol`` of argmin Φ_α (the flow's limit)
    Φ_α∞ limit   converged, farther from the flow's limit, certified within ``accuracy`` of
                 argmin Φ_{α_∞} − τᵀz (Even et al.)
    uncertified  converged, |2ηg_j| < 1 throughout, certified by neither
    sign flip    converged after some |2ηg_j| ≥ 1 (a factor changed sign: outside the identity)
    EoS          not converged, λ_max at the end within ±25 % of 2/η (a definition)
    unconverged  not converged, λ_max away from 2/η
    diverged     the loss became NaN/inf

Claims: every converged cell with |2ηg_j| < 1 has its limit certified as argmin Φ_{α_∞} − τᵀz
(Even et al.); no converged cell has λ_max(∇²L) above (2/η)(1 + slack) at its limit (linear
stability; slack from the steps run, ``regime_dmf.stability_slack``). Drawn on the map: the kick
where |2ηg| reaches 1 at the first step (η = 1/(2‖Aᵀy‖∞)), and 2/λ_max at the flow's limit per α.

    implicit-bias run regime_diagonal                  # ~15 s
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias import checks, plots
from implicit_bias.config import Count, Dim, Positive, Scale, Seed, Tol
from implicit_bias.errors import ConfigError
from implicit_bias.experiments import Result
from implicit_bias.experiments._sparse import _gd_sums, certify_limit
from implicit_bias.experiments.regime_dmf import EOS_BAND, stability_slack
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim.sharpness import hessian_top_k
from implicit_bias.problems.linear import linear
from implicit_bias.theory import certificates

SEED = "003"
ORDER = 90
TITLE = "Regime map past the flow regime: the diagonal network u² − v²"
REPRODUCE = True  # 14 s at the default size pinned to one core (taskset, load ~8): < 60 s

TINY = {"n_kick": 5, "n_alpha": 3, "max_steps": 20_000}
REGIMES = ("flow limit", "Φ_α∞ limit", "uncertified", "sign flip", "EoS", "unconverged",
           "diverged")  # fmt: skip
EVEN = "seed 003 (u² − v²) past the flow: Even, Pesme, Gunasekar & Flammarion (NeurIPS 2023), effective α_∞"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    n: Dim = 20
    m: Dim = 10
    s: Dim = 2
    alpha_min: Scale = 0.03
    alpha_max: Scale = 0.5
    n_alpha: Count = 6
    kick_min: Positive = 0.05
    kick_max: Positive = 3.0
    n_kick: Count = 12
    max_steps: Count = 100_000
    rel_loss_tol: Tol = 1e-24  # converged: loss ≤ rel_loss_tol·½‖y‖²
    accuracy: Tol = 1e-6  # the certificate's relative accuracy for Even's claim
    seed_tol: Tol = 1e-3  # "flow limit": certified within this of argmin Φ_α (the map's resolution)
    seed: Seed = 0

    def check(self):
        if self.s > self.n or self.m > self.n:
            raise ConfigError("need s <= n and m <= n")
        if not self.alpha_min <= self.alpha_max or not self.kick_min < self.kick_max:
            raise ConfigError("need alpha_min <= alpha_max and kick_min < kick_max")


def data(cfg: Config):
    rng = np.random.default_rng(cfg.seed)
    A = rng.normal(size=(cfg.m, cfg.n)) / np.sqrt(cfg.m)
    x = np.zeros(cfg.n)
    x[rng.choice(cfg.n, cfg.s, replace=False)] = rng.choice([-1.0, 1.0], cfg.s)
    return A, A @ x, x


def _sums_batch(model, problem, params0, etas, loss_tol, chunk, max_chunks):
    fn = jax.vmap(lambda p, e: _gd_sums.__wrapped__(model, problem, p, e, loss_tol, chunk,
                                                    max_chunks))  # fmt: skip
    return jax.jit(fn)(params0, etas)


def run(cfg: Config) -> Result:
    cfg.check()
    A, y, x_true = data(cfg)
    problem = linear(A, y)
    eta_ref = 1.0 / (2.0 * float(np.max(np.abs(A.T @ y))))
    kicks = np.geomspace(cfg.kick_min, cfg.kick_max, cfg.n_kick)
    alphas = np.geomspace(cfg.alpha_min, cfg.alpha_max, cfg.n_alpha)
    K, Al = np.meshgrid(kicks, alphas, indexing="ij")
    k_flat, a_flat = K.ravel(), Al.ravel()
    model = Hadamard(depth=2, n=cfg.n, signed=True, factors="identical", alpha=float(alphas[0]))
    params0 = jnp.asarray(np.stack([np.full((2, 1, cfg.n), a) for a in a_flat]))
    loss_tol = cfg.rel_loss_tol * 0.5 * float(y @ y)
    chunk = 500
    k_done, (p, _S, logP, tau, nu, zmax) = _sums_batch(
        model, problem, params0, jnp.asarray(k_flat * eta_ref), loss_tol, chunk,
        max(1, -(-cfg.max_steps // chunk)))  # fmt: skip
    p, logP, tau, nu, zmax = (np.asarray(v) for v in (p, logP, tau, nu, zmax))
    steps = np.asarray(k_done) * chunk
    with np.errstate(all="ignore"):
        x = p[:, 0, 0] ** 2 - p[:, 1, 0] ** 2
        loss = 0.5 * np.sum((x @ A.T - y) ** 2, axis=1)
    lam_end = hessian_top_k(model, problem, jnp.asarray(np.where(np.isfinite(p), p, np.nan)))[:, 0]
    # the flow's limit per α (certified: GD at a tiny step would do, the certificate decides)
    regimes, rows, bounds_even, bounds_flow = [], [], [], []
    for b in range(len(k_flat)):
        eta, a = k_flat[b] * eta_ref, a_flat[b]
        if not np.all(np.isfinite(p[b])) or not np.isfinite(loss[b]):
            reg, be, bf = "diverged", np.nan, np.nan
        elif loss[b] > loss_tol:
            edge = 2.0 / eta
            reg = "EoS" if abs(lam_end[b] - edge) <= EOS_BAND * edge else "unconverged"
            be = bf = np.nan
        elif zmax[b] >= 1:
            reg, be, bf = "sign flip", np.nan, np.nan
        else:
            norm = float(np.linalg.norm(x[b]))
            flow = certify_limit(certificates.hyperbolic(np.full(cfg.n, a)), A, y, x[b])
            pot = certificates.gd_potential(a, logP[b], tau[b])
            even = certify_limit(pot, A, y, x[b], -4.0 * eta * nu[b])
            bf, be = flow.bound / norm, even.bound / norm
            reg = ("flow limit" if bf <= cfg.seed_tol else
                   "Φ_α∞ limit" if be <= cfg.accuracy else "uncertified")  # fmt: skip
        regimes.append(reg)
        bounds_even.append(be)
        bounds_flow.append(bf)
        cell = {"eta": float(eta), "kick": float(k_flat[b]), "alpha": float(a), "regime": reg}
        for series, value in (("regime", REGIMES.index(reg)), ("lambda_end", lam_end[b]),
                              ("loss_end", loss[b]), ("steps", steps[b]), ("z_max", zmax[b]),
                              ("alpha_inf_min", a * np.exp(0.5 * logP[b].min())),
                              ("bound_even", be), ("bound_flow", bf)):  # fmt: skip
            rows.append({"t": float(steps[b]), "series": series, "value": float(value), **cell})
    regimes = np.array(regimes)
    bounds_even = np.array(bounds_even)

    # 2/λ_max at the flow's limit per α: GD at the smallest kick approximates it; λ from its end
    # (only where that run converged: an unconverged end is not the flow's limit)
    first = [np.flatnonzero((k_flat == kicks[0]) & (a_flat == a))[0] for a in alphas]
    small = np.array([lam_end[b] if loss[b] <= loss_tol else np.nan for b in first])
    for j, a in enumerate(alphas):
        rows.append({"t": 0.0, "series": "bound_flow_limit_kick", "value": float(2 / small[j] / eta_ref),
                     "alpha": float(a)})  # fmt: skip
        rows.append({"t": 0.0, "series": "bound_first_step_kick", "value": 1.0, "alpha": float(a)})
    counts = {r: int(np.sum(regimes == r)) for r in REGIMES}
    for r, n in counts.items():
        rows.append({"t": 0.0, "series": "count", "value": float(n), "regime": r})
    # λ_max(∇²L) at the start and the end of one cell per regime (rows "sharpness", as regime_dmf's
    # and the runner's for a custom observer: this GD keeps only its end point), with 2/η
    shown = {}
    for b, reg in enumerate(regimes):
        if reg not in shown and reg != "diverged":
            shown[reg] = b
    lam0 = hessian_top_k(model, problem, jnp.asarray(params0[np.array(list(shown.values()), int)]))
    for (reg, b), l0 in zip(shown.items(), lam0[:, 0]):
        extra = {"eta": float(k_flat[b] * eta_ref), "kick": float(k_flat[b]),
                 "alpha": float(a_flat[b]), "regime": reg}  # fmt: skip
        for tk, v in ((0.0, l0), (float(steps[b]), lam_end[b])):
            rows.append({"t": tk, "series": "sharpness", "value": float(v), **extra})
            rows.append({"t": tk, "series": "two_over_eta", "value": 2.0 / extra["eta"], **extra})

    conv = np.isin(regimes, ("flow limit", "Φ_α∞ limit", "uncertified", "sign flip"))
    inside = np.isin(regimes, ("flow limit", "Φ_α∞ limit", "uncertified"))
    h_inside = "some converged cells keep |2ηg_j| < 1 at every step (u, v stay positive)"
    not_cert = [f"kick={k_flat[b]:.3g}, α={a_flat[b]:.3g}: bound {bounds_even[b]:.2g}"
                for b in np.flatnonzero(inside & ~(bounds_even <= cfg.accuracy))]  # fmt: skip
    slack = np.array([stability_slack(loss_tol, max(int(s), 1)) for s in steps])
    unstable = [f"kick={k_flat[b]:.3g}, α={a_flat[b]:.3g}: λ = {lam_end[b]:.4g} > 2/η = "
                f"{2 / (k_flat[b] * eta_ref):.4g}" for b in np.flatnonzero(
                    conv & (lam_end > 2 / (k_flat * eta_ref) * (1 + slack)))]  # fmt: skip
    found = [
        checks.hypothesis(
            h_inside,
            bool(inside.any()),
            predicted="> 0 cells",
            observed=int(inside.sum()),
            source=EVEN,
        ),  # fmt: skip
        checks.at_most(
            "converged cells with |2ηg| < 1 whose limit is not certified as argmin Φ_α∞ − τᵀz",
            0,
            len(not_cert),
            source=EVEN,
            basis=f"certificate accuracy {cfg.accuracy:g} relative (theory.certificates.certify; "
            "dual point λ = −4ηΣr_j, GD's own)",
            detail="; ".join(not_cert[:5]) or f"all {int(inside.sum())} certified",
            requires=(h_inside,),
        ),  # fmt: skip
        checks.at_most(
            "converged cells with λ_max(∇²L) above 2/η at their limit",
            0,
            len(unstable),
            source="seed 003 (u² − v²) past the flow: linear stability of GD at a minimizer (λ_max ≤ 2/η)",
            basis="(2/η)(1 + slack), slack from the steps each cell ran (regime_dmf.stability_slack)",
            detail="; ".join(unstable[:5]) or f"{int(conv.sum())} converged cells, all ≤ 2/η",
        ),  # fmt: skip
        checks.sanity(
            "the data: y = Ax* with an s-sparse x*",
            bool(np.allclose(A @ x_true, y)),
            predicted="y = Ax*",
            observed=float(np.abs(A @ x_true - y).max()),
        ),  # fmt: skip
    ]
    ratio = [a_flat[b] * np.exp(0.5 * logP[b].min()) / a_flat[b] for b in np.flatnonzero(inside)]
    notes = ["cells by regime: " + ", ".join(f"{r} {n}" for r, n in counts.items() if n),
             f"η_ref = 1/(2‖Aᵀy‖∞) = {eta_ref:.4g}; α_∞/α down to {min(ratio, default=1.0):.3g} "
             "over the certified cells"]  # fmt: skip
    conv_k = [k_flat[conv & (a_flat == a)].max() if (conv & (a_flat == a)).any() else np.nan
              for a in alphas]  # fmt: skip
    for j, a in enumerate(alphas):
        rows.append({"t": 0.0, "series": "boundary_measured_kick", "value": float(conv_k[j]),
                     "alpha": float(a)})  # fmt: skip
    ratios = np.array(conv_k) / (2 / small / eta_ref)
    gap = float(np.nanmax(ratios)) if np.isfinite(ratios).any() else float("nan")
    notes.append(f"measured boundary (largest converging kick per α) / 2/λ_max(flow limit): up to "
                 f"{gap:.3g}× (grid spacing ×{kicks[1] / kicks[0]:.3g})")  # fmt: skip
    rows.append({"t": 0.0, "series": "gap_flow_limit_bound", "value": float(gap)})
    return Result(rows=rows, checks=found, notes=notes)


COLORS = {"flow limit": "#4c72b0", "Φ_α∞ limit": "#55a868", "uncertified": "#dd8452",
          "sign flip": "#8172b3", "EoS": "#c44e52", "unconverged": "#cccccc",
          "diverged": "#333333"}  # fmt: skip


def plot(rows, cfg: Config):
    fig, axes = plots.figure(1, 1, width=6, height=4.2)
    ax = axes[0, 0]
    plots.regime_map(ax, rows, "kick", REGIMES, COLORS, (
        ("bound_first_step_kick", "w-", "|2ηg| = 1 at step 1"),
        ("bound_flow_limit_kick", "w--", "2/λ(flow limit)"),
        ("boundary_measured_kick", "k.", "largest converging η")))  # fmt: skip
    ax.set(xlabel="α", ylabel="η · 2‖Aᵀy‖∞",
           title=f"GD regimes on u² − v², n={cfg.n}, m={cfg.m}, s={cfg.s}")  # fmt: skip
    return {"regime_map": fig}
