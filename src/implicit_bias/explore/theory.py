"""The theory checks chosen from a question: each names the theorem whose hypotheses the question
meets (seed 000's identical init, seed 002's Gunasekar ratio, seed 003's ε bound, seed 004's T_i)."""

import numpy as np

from implicit_bias import checks
from implicit_bias.explore.build import Setup
from implicit_bias.explore.question import Question


def why_no_theory(q: Question) -> str:
    """Which hypothesis of the nearest theorem the question misses (for "no theory applies")."""
    if q.data and q.problem != "sparse":
        return ": the theorems here are stated for their random instances, not user data"
    misses = {
        "full": "seed 000 needs the deep model from the identical init on a symmetric target",
        "sensing": "seed 002 (Gunasekar) needs the symmetric model UUᵀ from a small αI (α ≤ 1e-2)",
        "completion": "Gunasekar's conjecture is for sensing; no theorem fixes the limit of "
        "factorized completion (Arora et al. 2019 is an empirical comparison)",
        "sparse": "seed 003 needs the Hadamard model of depth ≥ 2 from a uniform start",
        "regression": "seed 004 needs depth 2, the spectral init and the flow",
    }
    return f" ({misses[q.problem]})"


def theory_checks(
    q: Question, s: Setup, traj, X_end, base: dict, snapshots=None
) -> tuple[list, list[str]]:
    """The checks of every theorem whose hypotheses the question meets, each labelled with it.
    ``snapshots``: the estimate at every snapshot where it was kept (small problems), else None."""
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
        if q.method == "gd" and snapshots is not None:
            d = th.scalar_recursion(np.array([q.scale]), lam, np.array([q.eta]), q.depth, q.n_steps,
                                    s.method.save_steps())  # fmt: skip
            eig = np.einsum("ij,sik,kj->sj", V, np.asarray(snapshots), V)
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
    if q.problem == "sparse" and q.model == "hadamard" and q.depth >= 2 and q.method == "flow":
        from implicit_bias.experiments._sparse import (
            GENERAL,
            POSITIVE,
            epsilon_checks,
            uniform_start,
        )
        from implicit_bias.models.hadamard import x_tilde0
        from implicit_bias.theory import sparse as th

        A, y = np.asarray(s.problem.A), np.asarray(s.problem.y)
        Q, lam = th.Q_dual(A, y, nonneg=not q.signed)
        x0 = np.asarray(x_tilde0(s.model, s.params0))
        beta1, beta_min = th.betas(x0)
        applied.append(
            f"{GENERAL if q.signed else POSITIVE} (Hadamard flow from a uniform start: ε bound)"
        )
        found.append(uniform_start([x0]))
        found += epsilon_checks(
            f"N={q.depth}, α={q.scale:g}", N=q.depth, b1=beta1, bmin=beta_min, Q=Q, lam=lam,
            A=A, y=y, x_inf=np.asarray(X_end), rel_tol=q.rel_tol, signed=q.signed,
        )  # fmt: skip
    if (q.problem == "regression" and q.init == "spectral" and q.depth == 2 and q.method == "flow"
            and snapshots is not None):  # fmt: skip
        from implicit_bias.theory import regression as th

        applied.append("seed 004, Gidel et al. 2019 Thm (two-layer flow from a spectral init: T_i)")
        sigma, U, V = s.extra["sigma"], s.extra["U"], s.extra["V"]
        delta = -0.5 * q.depth * np.log(q.scale)
        t = np.asarray(traj.t)
        W_t = np.asarray(snapshots)
        w = np.einsum("pi,spd,di->si", U[:, : len(sigma)], W_t, V[:, : len(sigma)])
        cf = np.stack([th.w_continuous(tk, sigma, np.ones(len(sigma)), delta) for tk in t])
        dev = float(np.max(np.abs(w - cf)) / np.max(sigma))
        found.append(checks.at_most(
            "components w_i(t) = closed form (T_i = δ/σ_i transitions)", 1e-5, dev, kind="claim",
            source="seed 004, Thm (continuous)", basis="ODE solver tolerances rtol 1e-8 (dlr_closed_form)",
        ))  # fmt: skip
    return found, applied
