"""With commuting measurements the flow on UUᵀ is e^{A*(s)}X₀e^{A*(s)}, and its α → 0 limit is the nuclear-norm minimizer.

Seed 002 (Gunasekar et al. 2017), theorem for commuting A_i = V D_i Vᵀ. X* = V diag(x*) Vᵀ with a sparse
x* ≥ 0 (n = 10, ``k`` = 2 non-zeros, ‖X*‖_F = 1), m = 5 measurements. Part 1: gradient flow on U from a
Gaussian U₀ (X₀ does not commute with the A_i) against the closed form X_t = e^{A*(s_t)}X₀e^{A*(s_t)},
s_t = −2∫r (our loss scaling; the seed's −∫r), with s from an independent m-dimensional SciPy ODE.
Part 2: U₀ = αI for α = 10⁻¹ … 10⁻⁸; in the basis V the flow is the vector flow x = u⊙u of the
corollary, so its limit is α²e^{Dᵀν} with Dx = y (``theory.sensing.vector_flow_limit``), and it tends
to the PSD nuclear-norm minimizer X_NN (cvxpy/SCS), which is V diag(argmin{‖x‖₁ : Dx = y, x ≥ 0})Vᵀ
(HiGHS).

Expected: closed form vs flow 2e-11 (check ≤ 1e-8); SCS's X_NN = V diag(x_ℓ1)Vᵀ to 9e-7. The limit's
‖X_∞(α) − X_NN‖_F/‖X_NN‖_F falls monotonically: 0.10, 6e-3, 3e-4, 2e-5, 6e-8, 2e-10 at α = 10⁻¹ … 10⁻⁴,
10⁻⁶, 10⁻⁸ (the ratio ‖X_∞‖_*/‖X_NN‖_*: 1.076, 1.004, 1.0002, 1.00001). The flow itself reaches its limit at
t1 = 15000 only for α = 0.1 (7e-12): for small α the entries of x that must vanish decay like 1/t, so
at t1 the flow sits ~6e-4 from its limit (training loss ≤ 6e-9); the figure shows both.

    implicit-bias run sensing_commuting                   # ~12 s
    implicit-bias run sensing_commuting --set n=20 --set m=8
"""

import dataclasses

import jax
import numpy as np

from implicit_bias import checks, plots
from implicit_bias.baselines import nuclear
from implicit_bias.experiments import Result, series_rows
from implicit_bias.models.symmetric import SymmetricFactor
from implicit_bias.optim import GradientFlow, fit, fit_batch
from implicit_bias.problems import sensing
from implicit_bias.theory import sensing as theory

SEED = "002"
ORDER = 3
TITLE = "Commuting measurements: closed form of the flow, α → 0 limit = nuclear-norm minimizer"

TINY = {"alphas": (1e-1, 1e-3), "t1": 2000.0, "tol_limit": 1e-3, "max_final_distance": 0.3,
        "max_final_loss": 1e-5}  # fmt: skip


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    n: int = 10
    m: int = 5
    k: int = 2  # non-zeros of x*
    alpha0: float = 0.3  # scale of the Gaussian U₀ in part 1
    t_closed: float = 20.0
    alphas: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8)
    t1: float = 15_000.0
    tol: float = 1e-8  # closed form vs flow
    tol_limit: float = 1e-6  # flow at t1 vs its predicted limit, largest α
    max_final_loss: float = 1e-8
    max_final_distance: float = 1e-3  # ‖X_∞ − X_NN‖/‖X_NN‖ at the smallest α
    seed: int = 0


def make_problem(cfg: Config):
    rng = np.random.default_rng(cfg.seed)
    V = sensing.random_orthogonal(rng, cfg.n)
    x = np.zeros(cfg.n)
    x[rng.choice(cfg.n, cfg.k, replace=False)] = rng.uniform(0.5, 1.5, cfg.k)
    X_star = (V * (x / np.linalg.norm(x))) @ V.T
    problem = sensing.random_sensing(cfg.seed, X_star, cfg.m, ensemble="commuting", V=V)
    D = np.einsum("ai,kab,bi->ki", V, np.asarray(problem.A), V)  # A_k = V diag(D_k) Vᵀ
    return problem, V, D


def run(cfg: Config) -> Result:
    problem, V, D = make_problem(cfg)
    A, y = np.asarray(problem.A), np.asarray(problem.y)
    # part 1: closed form against the simulated flow from a non-commuting X₀
    model = SymmetricFactor(n=cfg.n, d=cfg.n, init="gaussian", alpha=cfg.alpha0)
    U0 = model.init_params(jax.random.key(cfg.seed))
    flow = GradientFlow(t1=cfg.t_closed, n_saves=40, rtol=1e-12, atol=1e-14, solver="dopri8")
    traj = fit(model, problem, flow, params0=U0, observe=model)
    ts = np.asarray(traj.t)
    X0 = np.asarray(U0 @ U0.T)
    s = theory.commuting_s(A, y, X0, ts[1:])
    Xs = np.asarray(traj.observed)
    closed = [X0] + [theory.commuting_closed_form(A, sk, X0) for sk in s]
    dev = np.array([np.linalg.norm(Xs[i] - closed[i]) for i in range(len(ts))])
    rows = series_rows(ts, dev, series="closed_form_deviation")
    rows += series_rows(ts, traj.loss, series="loss_closed_form_run")

    # part 2: U₀ = αI, α → 0, against X_NN and the dual prediction
    X_nn = nuclear.min_nuclear_norm(problem, psd=True)
    x_l1 = nuclear.min_l1(D, y)
    X_l1 = (V * x_l1.X) @ V.T
    models = [SymmetricFactor(n=cfg.n, d=cfg.n, init="identity", alpha=a) for a in cfg.alphas]
    # linear save times: geomspace can overshoot t1 by a rounding error (an engine bug)
    flow = GradientFlow(t1=cfg.t1, n_saves=20, rtol=1e-10, atol=1e-14)
    batch = fit_batch(models, problem, flow, params0=[m.init_params() for m in models])
    dist, ratio, pred_dev, final_loss, flow_dist, flow_ratio = [], [], [], [], [], []
    for b, a in enumerate(cfg.alphas):
        U = np.asarray(batch.final[b])
        X = U @ U.T
        X_pred = (V * theory.vector_flow_limit(D, y, a)) @ V.T
        pred_dev.append(np.linalg.norm(X - X_pred))
        # against V diag(x_ℓ1) Vᵀ (HiGHS, ~1e-12), which equals X_NN to SCS's accuracy (checked)
        dist.append(theory.relative_distance(X_pred, X_l1))
        ratio.append(theory.nuclear_ratio(X_pred, X_l1))
        flow_dist.append(theory.relative_distance(X, X_nn.X))
        flow_ratio.append(theory.nuclear_ratio(X, X_nn.X))
        final_loss.append(float(batch.loss[b][-1]))
    alphas = np.asarray(cfg.alphas)
    rows += series_rows(alphas, dist, series="rel_distance", kind="limit (t = ∞)")
    rows += series_rows(alphas, ratio, series="nuclear_ratio", kind="limit (t = ∞)")
    rows += series_rows(alphas, flow_dist, series="rel_distance", kind=f"flow at t = {cfg.t1:g}")
    rows += series_rows(alphas, flow_ratio, series="nuclear_ratio", kind=f"flow at t = {cfg.t1:g}")
    rows += series_rows(alphas, pred_dev, series="prediction_deviation")
    found = [
        checks.at_most("commutator max ‖A_iA_j − A_jA_i‖_F", 1e-13, theory.commutator_norm(A)),
        checks.at_most(
            "flow vs closed form e^{A*(s)}X₀e^{A*(s)}, max ‖·‖_F over time", cfg.tol, dev.max()
        ),
        checks.at_most(
            "X_NN (SCS, PSD) vs V diag(min-ℓ1 x) Vᵀ (HiGHS)", 1e-5, np.linalg.norm(X_nn.X - X_l1)
        ),  # fmt: skip
        checks.at_most("final training loss, every α", cfg.max_final_loss, max(final_loss)),
        checks.at_most(
            f"flow at t1 vs its predicted limit α²e^{{Dᵀν}} at α = {alphas[0]:g}",
            cfg.tol_limit,
            pred_dev[0],
            detail="smaller α: entries that must vanish decay only like 1/t, see notes",
        ),
        checks.holds(
            "‖X_∞(α) − X_NN‖/‖X_NN‖ of the limit decreases as α → 0",
            all(np.diff(dist) < 0),
            predicted="monotone decrease",
            observed=", ".join(f"{d:.3g}" for d in dist),
        ),
        checks.at_most(
            f"‖X_∞ − X_NN‖/‖X_NN‖ at α = {alphas[-1]:g}", cfg.max_final_distance, dist[-1]
        ),  # fmt: skip
    ]
    notes = [
        "flow at t1 vs predicted limit per α: "
        + ", ".join(f"{a:g}: {d:.2g}" for a, d in zip(alphas, pred_dev)),
        "flow at t1: α, ratio, distance: "
        + "; ".join(f"{a:g}: {r:.5f}, {d:.4f}" for a, r, d in zip(alphas, flow_ratio, flow_dist)),
        f"SCS status {X_nn.status}, residual {X_nn.residual:.2g}; ‖X_NN‖_* = {X_nn.value:.6g}",
        "α, ‖X_∞‖_*/‖X_NN‖_*, ‖X_∞ − X_NN‖/‖X_NN‖: "
        + "; ".join(f"{a:g}: {r:.5f}, {d:.4f}" for a, r, d in zip(alphas, ratio, dist)),
    ]
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Config):
    fig, axes = plots.figure(2, 1, width=4.2, height=3.3)
    dev = rows[(rows.series == "closed_form_deviation") & (rows.t > 0)]
    axes[0, 0].plot(dev.t, dev.value, "o-", ms=3)
    axes[0, 0].axhline(cfg.tol, color="0.5", ls=":", label="check tolerance")
    axes[0, 0].set(xlabel="time t", ylabel="‖U_tU_tᵀ − e^{A*(s)}X₀e^{A*(s)}‖_F", yscale="log",
                   title="commuting A_i: flow vs closed form")  # fmt: skip
    axes[0, 0].legend(fontsize=7)
    labels = {"rel_distance": "‖X − X_NN‖_F / ‖X_NN‖_F", "nuclear_ratio": "|‖X‖_* / ‖X_NN‖_* − 1|"}
    for k, (series, label) in enumerate(labels.items()):
        for kind, g in rows[rows.series == series].groupby("kind", sort=False):
            vals = np.abs(g.value - (1.0 if series == "nuclear_ratio" else 0.0))
            ls = "-" if kind.startswith("limit") else "--"
            axes[0, 1].plot(
                g.t, vals, "o" + ls, ms=3, color=plots.color(k), label=f"{label}, {kind}"
            )
    axes[0, 1].set(xscale="log", yscale="log", xlabel="α (U₀ = αI)", title="limit → X_NN as α → 0")
    axes[0, 1].invert_xaxis()
    axes[0, 1].legend(fontsize=7)
    return {"commuting": fig}
