"""With commuting measurements the flow on UUᵀ is e^{A*(s)}X₀e^{A*(s)}, and its α → 0 limit is the nuclear-norm minimizer.

Seed 002 (Gunasekar et al. 2017), theorem for commuting A_i = V D_i Vᵀ. X* = V diag(x*) Vᵀ with a sparse
x* ≥ 0 (n = 10, ``k`` = 2 non-zeros, ‖X*‖_F = 1), m = 5 measurements. Part 1: gradient flow on U from a
Gaussian U₀ (X₀ does not commute with the A_i) against the closed form X_t = e^{A*(s_t)}X₀e^{A*(s_t)},
s_t = −2∫r (our loss scaling; the seed's −∫r), with s from an independent m-dimensional SciPy ODE.
Part 2: U₀ = αI for α = 10⁻¹ … 10⁻⁸; in the basis V the flow is the vector flow x = u⊙u of the
corollary, so its limit is α²e^{Dᵀν} with Dx = y (``theory.sensing.vector_flow_limit``), and it tends
to V diag(x_ℓ1)Vᵀ, x_ℓ1 = argmin{‖x‖₁ : Dx = y, x ≥ 0} (HiGHS), a PSD nuclear-norm minimizer X_NN.

X_NN is not unique: ⟨A_k, X⟩ depends only on the diagonal of Z = VᵀXV, so every Z ⪰ 0 with diag Z = x_ℓ1
is a minimizer, and the entries Z_ij between two non-zeros of x_ℓ1 are free (|Z_ij| ≤ √(x_i x_j)). SCS
(cvxpy, PSD program) returns one of them, with Z_ij up to 2e-2 at seed 3; so the check compares what the
program determines, diag(VᵀX_NN V) = x_ℓ1 and tr X_NN = ‖x_ℓ1‖₁, and the flow (which stays diagonal in V)
is compared with V diag(x_ℓ1)Vᵀ.

Expected: closed form vs flow 2e-11 (check ≤ 1e-8); diag(VᵀX_NN V) = x_ℓ1 to 1e-10. The limit's
‖X_∞(α) − X_NN‖_F/‖X_NN‖_F falls monotonically: 0.10, 6e-3, 3e-4, 2e-5, 6e-8, 2e-10 at α = 10⁻¹ … 10⁻⁴,
10⁻⁶, 10⁻⁸ (the ratio ‖X_∞‖_*/‖X_NN‖_*: 1.076, 1.004, 1.0002, 1.00001). The flow itself reaches its limit at
t1 = 15000 only for α = 0.1 (7e-12): for small α the entries of x that must vanish (x* is 2-sparse, m = 5)
decay like 1/t (ẋ_i ∝ −x_i (Dᵀr)_i with r itself O(x_off)), so at t1 the flow sits ~6e-4 from its limit
and the training loss is a 1/t² tail, L(t) ≈ C/t² with a problem-dependent C = O(1) (seed 2, α = 10⁻³:
t²L rises from 1 at t = 3000 to 4 at t1 and peaks near 6 at t ≈ 5·10⁴ before the exponential phase).
Since issue 12 the α-sweep is run until its training loss is below ``loss_tol`` (1e-16; an implicit
Kvaerno5 solver follows the stiff 1/t tail cheaply), and the limit claims are evaluated on the flow
there, not on the formula; the old scale-free check t1²·L(t1) ≤ 25 (a bound read off seeds 0–3) is
gone. Part 3 is the seed's m = 1 analysis: one measurement A, flow from αI, limit e^{sA}X₀e^{sA}
with ⟨A, X⟩ = y, and the KKT residual ‖νAX_∞ − X_∞‖ (ν = 1/λ_max) falling to 0 as α → 0.

The α → 0 check is the theorem's own rate, not a fixed distance: x_α minimizes φ(x) + 2 log(1/α)‖x‖₁
(φ = Σ x log x − x) on {Dx = y, x ≥ 0}, and x_ℓ1 is feasible, so ‖x_α‖₁/‖x_ℓ1‖₁ − 1 ≤
(φ(x_ℓ1) − φ(x_α))/(2 log(1/α)‖x_ℓ1‖₁). The distance falls like α² at seeds 0–2 (above) but only
slowly at seed 3 (0.43 → 0.15 from α = 10⁻¹ to 10⁻⁸, a dual certificate with a small margin; excess
5.8e-3 ≤ bound 8.8e-3 at α = 10⁻⁸), where a 1e-3 distance bound failed.

    implicit-bias run sensing_commuting                   # ~12 s
    implicit-bias run sensing_commuting --set n=20 --set m=8
"""

import dataclasses

import jax
import numpy as np

from implicit_bias import checks, plots
from implicit_bias.baselines import nuclear
from implicit_bias.config import Dim, Scale, Seed, Time, Tol
from implicit_bias.experiments import Result, series_rows
from implicit_bias.experiments._constraints import require
from implicit_bias.models.symmetric import SymmetricFactor
from implicit_bias.optim import GradientFlow, fit, fit_batch
from implicit_bias.problems import sensing
from implicit_bias.theory import certificates, sensing as theory

SEED = "002"
ORDER = 3
TITLE = "Commuting measurements: closed form of the flow, α → 0 limit = nuclear-norm minimizer"

TINY = {"alphas": (1e-1, 1e-3), "t1": 2000.0, "tol_limit": 1e-3, "loss_tol": 1e-10}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    n: Dim = 10
    m: Dim = 5
    k: Dim = 2  # non-zeros of x*
    alpha0: Scale = 0.3  # scale of the Gaussian U₀ in part 1
    t_closed: Time = 20.0
    alphas: tuple[Scale, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8)
    t1: Time = 15_000.0
    tol: Tol = 1e-8  # closed form vs flow
    tol_limit: Tol = 1e-6  # flow at t1 vs its predicted limit, largest α
    seed: Seed = 0
    loss_tol: Tol = 1e-16  # the flow runs until its training loss is below this
    t1_limit: Time = 1e12  # a cap only: the flow stops at loss_tol

    def check(self) -> None:
        """Cross-field constraints (``config.validate`` calls this)."""
        require(self.k <= self.n, f"k = {self.k} must be <= n = {self.n} (non-zeros of x* in R^n)")


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

    # part 2: U₀ = αI, α → 0, against X_NN and the dual prediction. The flow is run until its loss
    # is below loss_tol (t1_limit is only a cap): the entries of x that must vanish decay like 1/t, so
    # the adaptive solver takes long steps in the tail and the limit is reached, not extrapolated.
    X_nn = nuclear.min_nuclear_norm(problem, psd=True)
    x_l1 = nuclear.min_l1(D, y)
    X_l1 = (V * x_l1.X) @ V.T
    models = [SymmetricFactor(n=cfg.n, d=cfg.n, init="identity", alpha=a) for a in cfg.alphas]
    # implicit Kvaerno5: the tail is stiff (support entries relax at rate O(1), the others like 1/t)
    limit_flow = GradientFlow(t1=cfg.t1_limit, n_saves=20, spacing="log", t_first=1.0, rtol=1e-10,
                              atol=1e-14, loss_tol=cfg.loss_tol, solver="kvaerno5")  # fmt: skip
    batch = fit_batch(models, problem, limit_flow, params0=[m.init_params() for m in models])
    dist, ratio, pred_dev, final_loss, flow_dist, flow_ratio = [], [], [], [], [], []
    for b, a in enumerate(cfg.alphas):
        U = np.asarray(batch.final[b])
        X = U @ U.T
        X_pred = (V * theory.vector_flow_limit(D, y, a)) @ V.T
        pred_dev.append(theory.relative_distance(X, X_pred))
        # against V diag(x_ℓ1) Vᵀ (HiGHS, ~1e-12): the minimizer diagonal in V (X_NN is not unique)
        dist.append(theory.relative_distance(X_pred, X_l1))
        ratio.append(theory.nuclear_ratio(X_pred, X_l1))
        flow_dist.append(theory.relative_distance(X, X_l1))
        flow_ratio.append(theory.nuclear_ratio(X, X_l1))
        final_loss.append(float(problem.loss(X)))  # at the stop (loss_tol)
    alphas = np.asarray(cfg.alphas)
    rows += series_rows(alphas, dist, series="rel_distance", kind="limit (formula)")
    rows += series_rows(alphas, ratio, series="nuclear_ratio", kind="limit (formula)")
    rows += series_rows(alphas, flow_dist, series="rel_distance", kind="flow at loss_tol")
    rows += series_rows(alphas, flow_ratio, series="nuclear_ratio", kind="flow at loss_tol")
    rows += series_rows(alphas, pred_dev, series="prediction_deviation")

    # x_α = argmin{φ(x) + 2 log(1/α)‖x‖₁ : Dx = y, x ≥ 0}, φ(x) = Σ x_i log x_i − x_i (its KKT point is
    # α²e^{Dᵀν}); x_ℓ1 is feasible, so ‖x_α‖₁ − ‖x_ℓ1‖₁ ≤ (φ(x_ℓ1) − φ(x_α)) / (2 log(1/α)).
    def phi(x):
        x = np.clip(x, 0.0, None)
        return float(np.sum(x * np.log(np.where(x > 0, x, 1.0)) - x))

    x_small = theory.vector_flow_limit(D, y, alphas[-1])
    bound = (phi(x_l1.X) - phi(x_small)) / (2 * np.log(1 / alphas[-1]) * x_l1.value)
    Z = V.T @ X_nn.X @ V  # X_NN in the common eigenbasis: only its diagonal is determined
    offdiag = np.abs(Z - np.diag(np.diag(Z))).max()
    # KKT certificate of X_NN (seed 002, "Proof strategy"): the LP dual ν of min{1ᵀx : Dx = y, x ≥ 0}
    # gives A*(ν) = V diag(Dᵀν) Vᵀ ⪯ I with A*(ν)X = X; and the SCS dual of the PSD program.
    kkt_lp = nuclear.psd_kkt(problem, X_l1, x_l1.dual)
    # the LP's own certificate: λ/(1 + δ) is dual feasible (δ = max(Dᵀλ) − 1, HiGHS's tolerance), so
    # by weak duality min ‖X‖_* = min 1ᵀx ≥ Q_lo = λᵀy/(1 + max(δ, 0)) whatever HiGHS's error:
    # ‖X_∞‖_*/Q_lo − 1 is an upper bound on the flow's true excess over the minimum
    lp = certificates.lp_certificate(D, y, x_l1.value, x_l1.dual, nonneg=True)
    q_lo = lp["dual"] / (1.0 + max(lp["dual_infeasibility"], 0.0))
    excess_cert = float(np.trace(np.asarray(batch.final[-1]) @ np.asarray(batch.final[-1]).T)) / q_lo - 1
    kkt_scs = nuclear.psd_kkt(problem, X_nn.X, X_nn.dual)
    kkt_worst = max(max(kkt_lp.values()), max(kkt_scs.values()))

    # part 3: m = 1 (seed 002, "Gradient flow for single observation m = 1"): X_t = e^{s_t A}X₀e^{s_t A},
    # and as α → 0 only the top eigenvector of A survives: X_∞ = νAX_∞ with ν = 1/λ_max(A).
    lam, y1 = D[0].copy(), float(y[0])
    if y1 < 0:  # ⟨A, X⟩ = y and ⟨−A, X⟩ = −y are one constraint; the seed's analysis has y > 0
        lam, y1 = -lam, -y1
    A1 = (V * lam) @ V.T
    one = sensing.from_matrices(A1[None], np.asarray(problem.X_star), symmetric=True)
    batch1 = fit_batch(models, one, limit_flow, params0=[m.init_params() for m in models])
    v1 = V[:, np.argmax(lam)]
    X1_nn = y1 / lam.max() * np.outer(v1, v1)
    kkt1, kkt1_pred, dev1, loss1 = [], [], [], []
    for b, a in enumerate(cfg.alphas):
        U = np.asarray(batch1.final[b])
        X = U @ U.T
        kkt1.append(float(np.linalg.norm(A1 @ X / lam.max() - X) / np.linalg.norm(X)))
        X_pred = (V * theory.vector_flow_limit(lam[None, :], np.array([y1]), a)) @ V.T
        dev1.append(theory.relative_distance(X, X_pred))
        kkt1_pred.append(
            float(np.linalg.norm(A1 @ X_pred / lam.max() - X_pred) / np.linalg.norm(X_pred))
        )
        loss1.append(float(one.loss(X)))
    rows += series_rows(alphas, kkt1, series="m1_kkt_residual")

    # Tolerance proportionality (as diffrax tests its solvers): a deviation above tol_limit that is
    # the solver's error, or the O(√L) remainder of a flow stopped at loss_tol (relative to ‖X‖,
    # large when y is small: m = 1 at seed 1 has y = 0.013), shrinks when the member is re-solved at
    # rtol/10 and loss_tol/100; a wrong prediction does not. At α = 1e-8, rtol 1e-10 leaves ~5e-6
    # (seed 3; 3e-8 at rtol 1e-12).
    fine_flow = dataclasses.replace(limit_flow, rtol=limit_flow.rtol / 10,
                                    atol=limit_flow.atol / 10, loss_tol=cfg.loss_tol / 100)  # fmt: skip

    def refined(problem_, alpha, predicted_X):
        mdl = SymmetricFactor(n=cfg.n, d=cfg.n, init="identity", alpha=alpha)
        U = np.asarray(fit(mdl, problem_, fine_flow, params0=mdl.init_params()).final)
        return theory.relative_distance(U @ U.T, predicted_X)

    def proportional(devs, problem_, predict):
        # above 100·tol_limit (10⁶× the solver's rtol) a deviation is not attributed to the solver
        over = [i for i, d in enumerate(devs) if d > cfg.tol_limit]
        if any(devs[i] > 100 * cfg.tol_limit for i in over):
            return (
                False,
                f"deviation above 100 × tol_limit at α = {cfg.alphas[int(np.argmax(devs))]:g}",
            )
        fine = {i: refined(problem_, cfg.alphas[i], predict(cfg.alphas[i])) for i in over}
        ok = all(f <= cfg.tol_limit or f <= devs[i] / 3 for i, f in fine.items())
        detail = "; ".join(
            f"α = {cfg.alphas[i]:g} re-solved at rtol/10, loss_tol/100: {f:.2g} (was {devs[i]:.2g})"
            for i, f in fine.items()
        )
        return ok, detail

    pred_ok, pred_detail = proportional(
        pred_dev, problem, lambda a: (V * theory.vector_flow_limit(D, y, a)) @ V.T
    )
    m1_ok, m1_detail = proportional(
        dev1,
        one,
        lambda a: (V * theory.vector_flow_limit(lam[None, :], np.array([y1]), a)) @ V.T,
    )
    # the flow's distances are known to tol_limit (the check above): an ordering is read off only
    # where the distances differ by more than that
    acc = cfg.tol_limit
    monotone = bool(np.all(np.diff(flow_dist) < acc) and flow_dist[-1] < flow_dist[0] - acc)

    loss_all = max(final_loss)
    lim = {"loss": loss_all, "loss_tol": cfg.loss_tol}
    comm = ("measurements commute",)
    interp = ("flow interpolates: training loss ≤ loss_tol",)
    src = "seed 002, theorem (commutative A_i)"
    found = [
        checks.hypothesis(
            "measurements commute",
            theory.commutator_norm(A) <= 1e-13,
            predicted="max ‖A_iA_j − A_jA_i‖_F ≤ 1e-13",
            observed=theory.commutator_norm(A),
            source=src,
            basis="round-off of products of unit-scale 10×10 matrices (~n·eps)",
        ),
        checks.hypothesis(
            "flow interpolates: training loss ≤ loss_tol",
            bool(max(loss_all, max(loss1)) <= cfg.loss_tol),
            predicted=f"≤ {cfg.loss_tol:g} for every α (and for m = 1)",
            observed=max(loss_all, max(loss1)),
            source="seed 002: the theorem assumes A(X̄_∞) = b",
            basis="the premise of the theorem, reached by running the flow to loss_tol",
        ),
        checks.at_most(
            "flow vs closed form e^{A*(s)}X₀e^{A*(s)}, max ‖·‖_F over time",
            cfg.tol,
            dev.max(),
            source="seed 002, slide 'Commutative A_i' (X_t = e^{A*(s_t)}X₀e^{A*(s_t)})",
            basis="two independent ODE solves (diffrax Dopri8 on U, SciPy DOP853 on s) at rtol 1e-12 "
            "over t ≤ 20: 1e-8 allows a 1e4 growth of the local errors",
            requires=comm,
        ),
        checks.sanity(
            "X_NN (SCS) vs min-ℓ1 in the eigenbasis (HiGHS): diag and trace agree",
            bool(
                np.abs(np.diag(Z) - x_l1.X).max() <= 1e-6
                and abs(X_nn.value / x_l1.value - 1) <= 1e-7
            ),  # fmt: skip
            predicted="max |diag(VᵀX_NN V) − x_ℓ1| ≤ 1e-6, |tr X_NN/‖x_ℓ1‖₁ − 1| ≤ 1e-7",
            observed=f"{np.abs(np.diag(Z) - x_l1.X).max():.2g}, "
            f"{abs(X_nn.value / x_l1.value - 1):.2g}",
            basis="SCS eps 1e-9, HiGHS 1e-9; off-diagonal of VᵀX_NN V is free (X_NN not unique)",
        ),
        checks.sanity(
            "KKT certificate of X_NN: A*(ν) ⪯ I, A*(ν)X = X, yᵀν = tr X (LP dual and SCS dual)",
            kkt_worst <= 1e-6,
            predicted="every residual ≤ 1e-6",
            observed=kkt_worst,
            source="seed 002, 'Proof strategy' (KKT conditions)",
            basis="solver tolerances 1e-9 (HiGHS, SCS) on unit-scale data",
        ),
        checks.holds(
            "flow limit vs its predicted limit α²e^{Dᵀν}, max relative ‖·‖_F over α",
            pred_ok,
            predicted=f"≤ {cfg.tol_limit:g}, or the excess shrinks ∝ the solver's rtol",
            observed=max(pred_dev),
            source="seed 002, corollary (x = u⊙u ↔ entropic dual), in the common eigenbasis",
            basis="at loss L the entries that must vanish are O(√L) (1e-8 at loss_tol) and the dual "
            "is solved to 1e-13: tol_limit 1e-6 leaves room for the Kvaerno5 error at rtol 1e-10, "
            "which grows as α → 0 (log-scale dynamics); a member above it passes only if its "
            "deviation falls ≥ 3× when re-solved at rtol/10 and loss_tol/100 (error ∝ rtol and "
            "∝ √L predict 10×), and none is above 100 × tol_limit",
            detail=pred_detail,
            requires=comm + interp,
            **lim,
        ),
        checks.holds(
            "‖X_∞(α) − X_NN‖/‖X_NN‖ of the flow decreases as α → 0",
            monotone,
            predicted=f"no increase beyond the flow's accuracy {acc:g}; overall decrease > {acc:g}",
            observed=", ".join(f"{d:.3g}" for d in flow_dist),
            source=src,
            basis="an ordering, read only where distances differ by more than the flow's verified "
            "accuracy tol_limit (the check above); compared at loss ≤ loss_tol",
            requires=comm + interp,
            **lim,
        ),
        checks.at_most(
            "‖X_∞‖_*/‖X_NN‖_* − 1 of the flow at the smallest α vs the entropic bound",
            bound + cfg.tol_limit,
            excess_cert,
            source=src,
            basis="x_α minimizes φ(x) + 2 log(1/α)‖x‖₁ on {Dx = y}: excess ≤ (φ(x_ℓ1) − φ(x_α))/"
            "(2 log(1/α)‖x_ℓ1‖₁), + tol_limit for the flow's distance to x_α; observed against "
            "the LP's certified lower bound Q_lo = λᵀy/(1 + δ⁺) of min ‖X‖_* (weak duality)",
            detail=f"bound {bound:.3g} at α = {alphas[-1]:g}; ‖X_∞ − X_NN‖/‖X_NN‖ = {flow_dist[-1]:.3g}; "
            f"{certificates.lp_line(lp)}; tr X_∞/Q_lo − 1 = {excess_cert:.3g} vs ‖X_∞‖_*/Q − 1 = "
            f"{flow_ratio[-1] - 1:.3g}",
            requires=comm + interp,
            **lim,
        ),
        checks.holds(
            "m = 1: flow limit vs e^{sA}X₀e^{sA} with ⟨A, X⟩ = y, max relative ‖·‖_F over α",
            m1_ok,
            predicted=f"≤ {cfg.tol_limit:g}, or the excess shrinks ∝ the solver's rtol",
            observed=max(dev1),
            source="seed 002, slide 'Gradient flow for single observation m = 1'",
            detail=m1_detail,
            basis="as for the m-measurement limit: O(√L) at loss_tol, tolerance proportionality "
            "above tol_limit",
            loss=max(loss1),
            loss_tol=cfg.loss_tol,
            requires=interp,
        ),
        checks.holds(
            "m = 1: KKT residual ‖νAX_∞ − X_∞‖/‖X_∞‖ (ν = 1/λ_max) decreases to 0 as α → 0",
            bool(np.all(np.diff(kkt1) < 0) and kkt1[-1] <= kkt1_pred[-1] + cfg.tol_limit),
            predicted="monotone decrease, at the smallest α ≤ the closed form's "
            f"{kkt1_pred[-1]:.3g} (+ tol_limit)",
            observed=", ".join(f"{v:.3g}" for v in kkt1),
            source="seed 002, m = 1: 'X_∞ spanned only by eigenvectors of λ_max(A)'",
            basis="closed form e^{sA}X₀e^{sA}: the off-top mass decays like (α²λ_max/y)^{(λ_max − λ_2)/"
            "λ_max}; tol_limit for the flow's distance to it",
            loss=max(loss1),
            loss_tol=cfg.loss_tol,
            requires=interp,
        ),
    ]
    notes = [
        "flow at loss_tol vs predicted limit per α: "
        + ", ".join(f"{a:g}: {d:.2g}" for a, d in zip(alphas, pred_dev)),
        "flow at loss_tol: α, ratio, distance: "
        + "; ".join(f"{a:g}: {r:.5f}, {d:.4f}" for a, r, d in zip(alphas, flow_ratio, flow_dist)),
        f"X_NN status {X_nn.status}, residual {X_nn.residual:.2g}; ‖X_NN‖_* = {X_nn.value:.6g}; "
        f"largest free off-diagonal |(Vᵀ X_NN V)_ij| = {offdiag:.2g}",
        "KKT residuals (LP dual): "
        + ", ".join(f"{k} {v:.1g}" for k, v in kkt_lp.items())
        + "; (SCS dual): "
        + ", ".join(f"{k} {v:.1g}" for k, v in kkt_scs.items()),
        "final training loss per α: "
        + ", ".join(f"{a:g}: {v:.2g}" for a, v in zip(alphas, final_loss)),
        "formula α²e^{Dᵀν}: α, ‖X_∞‖_*/‖X_NN‖_*, ‖X_∞ − X_NN‖/‖X_NN‖: "
        + "; ".join(f"{a:g}: {r:.5f}, {d:.4f}" for a, r, d in zip(alphas, ratio, dist)),
        f"m = 1 (λ_max = {lam.max():.3g}, y = {y1:.3g}): KKT residual per α "
        + ", ".join(f"{a:g}: {v:.2g}" for a, v in zip(alphas, kkt1))
        + f"; vs closed form {max(dev1):.2g}; ‖X_∞ − X_NN‖/‖X_NN‖ at the smallest α "
        f"{theory.relative_distance(np.asarray(batch1.final[-1]) @ np.asarray(batch1.final[-1]).T, X1_nn):.2g}",
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
