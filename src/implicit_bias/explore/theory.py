"""The theory checks chosen from a question: each names the theorem whose hypotheses the question
meets (seed 000's identical init, seed 002's Gunasekar ratio, seed 003's ε bound, seed 004's T_i)."""

import numpy as np

from implicit_bias import checks
from implicit_bias.explore.build import Setup
from implicit_bias.explore.question import Question


def theory_checks(q: Question, s: Setup, traj, X_end, base: dict) -> tuple[list, list[str]]:
    """The checks of every theorem whose hypotheses the question meets, each labelled with it."""
    found, applied = [], []
    loss = np.asarray(traj.loss)
    if (
        q.problem == "full"
        and q.model == "deep"
        and q.init == "identical"
        and q.symmetric
        and not q.data
    ):
        from implicit_bias.optim.reduction import PATH
        from implicit_bias.theory import deep_matrix as th

        applied.append("seed 000, Thm 2.2 (identical init on a symmetric target)")
        W_hat = np.asarray(s.problem.W_hat)
        lam, V = th.eigh(W_hat)
        found.append(checks.sanity("the exact scalar reduction (7) ran", traj.path == PATH,
                                   predicted=PATH, observed=traj.path))  # fmt: skip
        if q.method == "gd":
            d = th.scalar_recursion(np.array([q.scale]), lam, np.array([q.eta]), q.depth, q.n_steps,
                                    s.method.save_steps())  # fmt: skip
            eig = np.einsum("ij,sik,kj->sj", V, np.asarray(traj.observed), V)
            k = min(len(eig), len(d))
            dev = float(np.max(np.abs(eig[:k] - d[:k] ** q.depth)) / np.max(np.abs(lam)))
            found.append(checks.at_most(
                "eigenvalues of W(k) = d_k^N of the NumPy scalar recursion (7)", 1e-10, dev,
                kind="claim", source="seed 000, eq. (7)",
                basis="float64 round-off accumulated over the steps (dmf_identical's bound)",
            ))  # fmt: skip
        limit = th.limit_identical(W_hat)
        L_inf = 0.5 * float(np.sum(np.minimum(lam, 0.0) ** 2))
        tol = 1e-3 * float(np.max(np.abs(lam)))
        found.append(checks.at_most(
            "‖W_∞ − VΛ₊Vᵀ‖_F", tol, float(np.linalg.norm(X_end - limit)), kind="claim",
            source="seed 000, Thm 2.2", loss=float(loss[-1]) - L_inf, loss_tol=tol**2 / 8,
            basis="a converged run (excess loss L − L_∞ ≤ tol²/8) that stays diagonal in V is within tol/2",
        ))  # fmt: skip
    if (q.problem == "sensing" and q.model == "symmetric" and q.init in ("identity", "identical")
            and q.scale <= 1e-2 and not q.data):  # fmt: skip
        from implicit_bias.baselines.nuclear import min_nuclear_norm
        from implicit_bias.theory import sensing as th

        applied.append("seed 002, Gunasekar et al. 2017 (UUᵀ from small αI → min nuclear norm)")
        X_nn = base["nuclear"] if "nuclear" in base else min_nuclear_norm(s.problem, psd=True).X
        ratio = th.nuclear_ratio(X_end, X_nn)
        found.append(checks.at_most(
            "‖X_∞‖_*/‖X_NN‖_* − 1", 1e-2, abs(ratio - 1.0), kind="claim",
            source="seed 002 (Gunasekar et al. 2017, Conjecture; Thm for commuting A_i)",
            loss=float(loss[-1]), loss_tol=1e-8 * float(loss[0]),
            basis="the conjecture is a limit α → 0; 1e-2 is the gap sensing_gaussian measures at α ≤ 1e-2",
        ))  # fmt: skip
    if q.problem == "sparse" and q.model == "hadamard" and not q.signed and q.depth >= 2:
        from implicit_bias.models.hadamard import x_tilde0
        from implicit_bias.theory import sparse as th

        A, y = np.asarray(s.problem.A), np.asarray(s.problem.y)
        Q = th.Q_value(A, y, nonneg=True)
        beta1, beta_min = th.betas(x_tilde0(s.model, s.params0))
        eps = th.epsilon(beta1, beta_min, Q, q.depth)
        applied.append(
            "seed 003, Chou, Maly & Rauhut 2022 (Hadamard flow from a uniform start: ε bound)"
        )
        hyp = checks.hypothesis("β₁ < Q (the start is smaller than the ℓ1 minimum)", beta1 < Q,
                                predicted=f"β₁ < Q = {Q:.6g}", observed=beta1)  # fmt: skip
        found.append(hyp)
        found.append(checks.at_most(
            "(‖x̃_∞‖₁ − Q)/Q ≤ ε", eps, th.l1_gap(X_end, Q), kind="claim",
            source="seed 003, Thm (positive case)", loss=float(loss[-1]),
            loss_tol=1e-8 * float(loss[0]), requires=(hyp.name,),
            basis="the theorem's own bound ε(β₁, β_min, Q, N)",
        ))  # fmt: skip
    if q.problem == "regression" and q.init == "spectral" and q.depth == 2 and q.method == "flow":
        from implicit_bias.theory import regression as th

        applied.append("seed 004, Gidel et al. 2019 Thm (two-layer flow from a spectral init: T_i)")
        sigma, U, V = s.extra["sigma"], s.extra["U"], s.extra["V"]
        delta = -0.5 * q.depth * np.log(q.scale)
        t = np.asarray(traj.t)
        W_t = np.asarray(traj.observed)
        w = np.einsum("pi,spd,di->si", U[:, : len(sigma)], W_t, V[:, : len(sigma)])
        cf = np.stack([th.w_continuous(tk, sigma, np.ones(len(sigma)), delta) for tk in t])
        dev = float(np.max(np.abs(w - cf)) / np.max(sigma))
        found.append(checks.at_most(
            "components w_i(t) = closed form (T_i = δ/σ_i transitions)", 1e-5, dev, kind="claim",
            source="seed 004, Thm (continuous)", basis="ODE solver tolerances rtol 1e-8 (dlr_closed_form)",
        ))  # fmt: skip
    return found, applied
