"""Convex baselines for sensing and completion: min ‖X‖_*, min ‖X‖_F and min ‖x‖₁ subject to the data.

    X_NN  = argmin ‖X‖_*  s.t. A(X) = y            (over all X, or over X ⪰ 0 where ‖X‖_* = tr X)
    X_F   = argmin ‖X‖_F  s.t. A(X) = y            = reshape(pinv(A) y)
    x_ℓ1  = argmin ‖x‖₁   s.t. Ax = y (, x ≥ 0)    (a linear program; scipy's HiGHS)

cvxpy with ``solver="SCS"`` named explicitly (FINDINGS.md: Clarabel is 15–1000× slower here). Every
result carries the solver status and the constraint residual ‖A(X) − y‖ / ‖y‖. SCS is first-order: on a
few small programs it stops at "optimal_inaccurate" or leaves a residual above ``max_residual``. Then
(``fallback="CLARABEL"``, the default) the program is solved again by cvxpy's interior-point Clarabel,
accurate and cheap at small n, and ``Solution.status`` names the solver that produced X, e.g.
``"optimal (SCS→CLARABEL)"``. A program that neither solves accurately, or SCS alone with
``fallback=None``, raises ``SolverError``. NumPy in, NumPy out.

Certified min-trace solutions: ``min_trace_certified`` (small n: Clarabel + SCS + Gauss–Newton on the
KKT equations of every face, a bracket of the minimum trace) and ``min_trace_face`` (moderate n, e.g.
50: SCS, refined on its numerical-rank face, with ``certify_psd_face``'s bound on the distance from the
refined point to every minimizer).
"""

import dataclasses
import warnings

import numpy as np

from implicit_bias.errors import ConfigError, SolverError


@dataclasses.dataclass(frozen=True)
class Solution:
    X: np.ndarray
    status: str
    residual: float  # ‖A(X) − y‖ / ‖y‖
    value: float  # the objective at X
    dual: np.ndarray | None = None  # ν of the equality constraint, seed 002's sign (see psd_kkt)


def _operator(problem_or_A, y=None):
    """(A as an m × (a·b) matrix, y, shape) from a sensing/completion problem or from (A, y).

    Completion's operator is a sparse selection matrix (scipy CSR): the dense one of the Arora et al.
    setting (2,000 × 10,000) holds 160 MB. Solve time is the same either way (4.3 s with SCS at
    eps 1e-9, measured), and so is X."""
    if y is not None:
        A = np.asarray(problem_or_A, dtype=np.float64)
        if A.ndim != 3:
            raise ConfigError(f"A must have shape (m, a, b), got {A.shape}")
        return A.reshape(A.shape[0], -1), np.asarray(y, dtype=np.float64), A.shape[1:]
    p = problem_or_A
    if hasattr(p, "A"):
        A = np.asarray(p.A)
        return A.reshape(A.shape[0], -1), np.asarray(p.y), A.shape[1:]
    shape = tuple(p.shape)  # completion: rows of the identity, sparse (one 1 per row)
    import scipy.sparse as sp

    flat = np.asarray(p.rows) * shape[1] + np.asarray(p.cols)
    M = sp.csr_matrix(
        (np.ones(flat.size), (np.arange(flat.size), flat)), shape=(flat.size, shape[0] * shape[1])
    )
    return M, np.asarray(p.y), shape


def _residual(M, y, X) -> float:
    return float(np.linalg.norm(M @ X.ravel() - y) / max(np.linalg.norm(y), 1e-300))


def min_nuclear_norm(
    problem_or_A,
    y=None,
    *,
    psd: bool = False,
    solver: str = "SCS",
    eps: float = 1e-9,
    max_iters: int = 200_000,
    max_residual: float = 1e-6,
    fallback: str | None = "CLARABEL",
) -> Solution:
    """argmin ‖X‖_* s.t. A(X) = y (``psd``: over symmetric X ⪰ 0, where ‖X‖_* = tr X).

    ``solver`` is tried first; when it fails, stops at a status other than "optimal" (SCS's
    "optimal_inaccurate": its stopping tolerances were not met) or leaves a residual above
    ``max_residual``, the program is solved again with ``fallback`` (None: raise instead). The
    returned status then reads e.g. ``"optimal (SCS→CLARABEL)"``.
    """
    import cvxpy as cp

    M, y, shape = _operator(problem_or_A, y)
    if psd and shape[0] != shape[1]:
        raise ConfigError(f"a PSD program needs a square matrix, got shape {shape}")
    if psd:
        X = cp.Variable(shape, PSD=True)
        objective = cp.trace(X)
    else:
        X = cp.Variable(shape)
        objective = cp.normNuc(X)
    constraints = [M @ cp.vec(X, order="C") == y]
    prob = cp.Problem(cp.Minimize(objective), constraints)

    def attempt(name):
        kwargs = {"eps_abs": eps, "eps_rel": eps, "max_iters": max_iters} if name == "SCS" else {}
        try:
            with warnings.catch_warnings():
                if fallback is not None:  # handled here: we re-solve instead
                    warnings.filterwarnings("ignore", "Solution may be inaccurate", UserWarning)
                prob.solve(solver=name, **kwargs)
        except cp.error.SolverError as e:
            raise SolverError(f"{name} failed on the nuclear-norm program: {e}") from None
        sol = _checked(prob.status, X.value, M, y, max_residual, "nuclear-norm", name, psd=psd)
        nu = constraints[0].dual_value
        # cvxpy's Lagrangian is f + ν_cvxᵀ(A(X) − y); seed 002 writes the KKT point as ν = −ν_cvx
        return dataclasses.replace(sol, dual=None if nu is None else -np.asarray(nu, dtype=float))

    try:
        sol = attempt(solver)
        if sol.status == "optimal" or fallback is None:
            return sol
        first = f"{solver} returned status {sol.status!r}"
    except SolverError as e:
        if fallback is None:
            raise
        first = str(e)
    try:
        sol = attempt(fallback)
    except SolverError as e:
        raise SolverError(f"{first}; the fallback also failed: {e}") from None
    return dataclasses.replace(sol, status=f"{sol.status} ({solver}→{fallback})")


def _checked(status, X, M, y, max_residual, name, solver, *, psd=False) -> Solution:
    if status not in ("optimal", "optimal_inaccurate") or X is None:
        raise SolverError(f"{solver} did not solve the {name} program: status {status!r}")
    X = np.asarray(X, dtype=np.float64)
    if psd:
        X = (X + X.T) / 2
    res = _residual(M, y, X)
    if res > max_residual:
        raise SolverError(
            f"{solver} returned status {status!r} for the {name} program but the constraint residual "
            f"‖A(X) − y‖/‖y‖ = {res:.3g} exceeds {max_residual:g}"
        )
    value = float(np.trace(X)) if psd else float(np.linalg.svd(X, compute_uv=False).sum())
    return Solution(X=X, status=status, residual=res, value=value)


def psd_kkt(problem_or_A, X, nu, y=None) -> dict[str, float]:
    """Residuals of seed 002's KKT conditions for min tr X s.t. A(X) = y, X ⪰ 0 at (X, ν):

        dual feasibility       A*(ν) ⪯ I            →  ``dual_infeasibility`` = max(0, λ_max(A*(ν)) − 1)
        complementary slackness A*(ν)X = X          →  ``slackness`` = ‖A*(ν)X − X‖_F / ‖X‖_F
        strong duality          yᵀν = tr X          →  ``gap`` = |tr X − yᵀν| / tr X
        primal feasibility      A(X) = y, X ⪰ 0     →  ``residual``, ``psd_violation`` = max(0, −λ_min(X))

    All zero certifies that X minimizes the trace (Gunasekar et al. 2017, "Proof strategy"). Any ν
    works: the solver's dual (``Solution.dual``) or one constructed from theory.
    """
    M, y, shape = _operator(problem_or_A, y)
    X = np.asarray(X, dtype=np.float64)
    nu = np.asarray(nu, dtype=np.float64)
    S = (M.T @ nu).reshape(shape)
    S = (S + S.T) / 2
    trX = float(np.trace(X))
    return {
        "dual_infeasibility": max(0.0, float(np.linalg.eigvalsh(S)[-1]) - 1.0),
        "slackness": float(np.linalg.norm(S @ X - X) / np.linalg.norm(X)),
        "gap": abs(trX - float(y @ nu)) / abs(trX),
        "residual": _residual(M, y, X),
        "psd_violation": max(0.0, -float(np.linalg.eigvalsh((X + X.T) / 2)[0])),
    }


def min_frobenius(problem_or_A, y=None) -> Solution:
    """argmin ‖X‖_F s.t. A(X) = y: the pseudo-inverse solution (also GD's limit from 0 at depth 1)."""
    M, y, shape = _operator(problem_or_A, y)
    X = (np.linalg.pinv(M.toarray() if hasattr(M, "toarray") else M) @ y).reshape(shape)
    return Solution(X=X, status="pinv", residual=_residual(M, y, X), value=float(np.linalg.norm(X)))


def min_l1(A, y, *, nonneg: bool = True, max_residual: float = 1e-8) -> Solution:
    """argmin ‖x‖₁ s.t. Ax = y (and x ≥ 0 with ``nonneg``) by ``linprog(method="highs")``.

    Without the sign constraint, x = x⁺ − x⁻ with x^± ≥ 0 (the standard split).
    """
    from scipy.optimize import linprog

    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = A.shape[1]
    A_eq = A if nonneg else np.hstack([A, -A])
    c = np.ones(A_eq.shape[1])
    res = linprog(c, A_eq=A_eq, b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise SolverError(f"HiGHS did not solve the ℓ1 program: {res.message}")
    x = res.x if nonneg else res.x[:n] - res.x[n:]
    r = float(np.linalg.norm(A @ x - y) / max(np.linalg.norm(y), 1e-300))
    if r > max_residual:
        raise SolverError(f"HiGHS ℓ1 solution has constraint residual {r:.3g} > {max_residual:g}")
    # HiGHS's equality marginals: ν with yᵀν = the optimum and Aᵀν ≤ 1 (|Aᵀν| ≤ 1 without x ≥ 0)
    nu = getattr(getattr(res, "eqlin", None), "marginals", None)
    return Solution(X=x, status="optimal", residual=r, value=float(np.abs(x).sum()),
                    dual=None if nu is None else np.asarray(nu, dtype=float))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# A certified minimum-trace PSD solution for small programs (issue 23: the 3×3 exhaustive baseline)


@dataclasses.dataclass(frozen=True)
class Certified:
    """A min-trace PSD solution with its KKT certificate (``min_trace_certified``).

    ``kkt`` are the residuals of ``psd_kkt`` at (X, ν); ``bracket`` = (lower, upper) encloses the
    minimum trace p*: upper = tr X (X feasible up to ``kkt['residual']``), lower = yᵀν / max(1,
    λ_max(A*(ν))) (weak duality: every feasible X' has yᵀν = ⟨A*(ν), X'⟩ ≤ λ_max⁺·tr X'), corrected
    for X's residual by ‖ν‖·‖A(X) − y‖. ``trace_error`` = (upper − lower)/upper bounds the relative
    error of tr X as the minimum. ``certified`` when that width, X's relative residual and its PSD
    violation are ≤ the requested tolerance.
    """

    solution: Solution
    kkt: dict
    bracket: tuple[float, float]
    trace_error: float
    certified: bool
    rank: int  # the rank of the face on which X was refined (0: the solver's X, unrefined)
    start: str  # which solver's X the refinement started from


def _dense_operator(problem_or_A, y=None):
    M, y, shape = _operator(problem_or_A, y)
    M = M.toarray() if hasattr(M, "toarray") else np.asarray(M, dtype=np.float64)
    return M, np.asarray(y, dtype=np.float64), shape


def _adjoint(M, nu, n):
    S = (M.T @ nu).reshape(n, n)
    return (S + S.T) / 2


def _kkt_newton(M, y, n, R, nu, iters=60):
    """Gauss–Newton (minimum-norm steps) on the KKT equations of min tr X s.t. A(X) = y, X = RRᵀ:

        A(RRᵀ) = y,    (I − A*(ν)) R = 0,

    unknowns (R ∈ R^{n×k}, ν ∈ R^m). Rows are scaled by their data (y, and 1 for the second block)."""
    m, k = M.shape[0], R.shape[1]
    ny = max(float(np.linalg.norm(y)), 1e-300)

    def F(R, nu):
        f1 = (M @ (R @ R.T).ravel() - y) / ny
        f2 = ((np.eye(n) - _adjoint(M, nu, n)) @ R).ravel()
        return np.concatenate([f1, f2])

    def J(R, nu):
        cols = []
        for idx in range(n * k):  # d/dR along e_idx
            E = np.zeros(n * k)
            E[idx] = 1.0
            dR = E.reshape(n, k)
            d1 = M @ (dR @ R.T + R @ dR.T).ravel() / ny
            d2 = ((np.eye(n) - _adjoint(M, nu, n)) @ dR).ravel()
            cols.append(np.concatenate([d1, d2]))
        for i in range(m):  # d/dν_i
            e = np.zeros(m)
            e[i] = 1.0
            cols.append(np.concatenate([np.zeros(m), (-_adjoint(M, e, n) @ R).ravel()]))
        return np.stack(cols, axis=1)

    best = (np.linalg.norm(F(R, nu)), R, nu)
    for _ in range(iters):
        f, Jm = F(R, nu), J(R, nu)
        D = 1.0 / np.maximum(np.linalg.norm(Jm, axis=0), 1e-300)  # column scaling (ν ≫ R)
        step = D * np.linalg.lstsq(Jm * D, -f, rcond=None)[0]
        R, nu = R + step[: n * k].reshape(n, k), nu + step[n * k :]
        size = np.linalg.norm(F(R, nu))
        if not np.isfinite(size):
            break
        if size < best[0]:
            best = (size, R, nu)
        if size <= 1e-15:
            break
    return best[1], best[2]


def _dual_psd(M, n, R, nu):
    """Move ν within {ν' : A*(ν')R = A*(ν)R} (which keeps complementary slackness) to maximize the
    smallest eigenvalue of I − A*(ν') on range(R)^⊥, so that A*(ν') ⪯ I where the program allows."""
    from scipy.optimize import minimize, minimize_scalar

    m, k = M.shape[0], R.shape[1]
    L = np.stack([(_adjoint(M, np.eye(m)[i], n) @ R).ravel() for i in range(m)], axis=1)
    _, s, Vt = np.linalg.svd(L)
    rank = int(np.sum(s > 1e-12 * max(s.max(initial=0.0), 1e-300)))
    Nb = Vt[rank:].T  # ν-directions that leave A*(ν)R unchanged
    U, _, _ = np.linalg.svd(R, full_matrices=True)
    P = U[:, k:]  # range(R)^⊥
    if Nb.shape[1] == 0 or P.shape[1] == 0:
        return nu

    def low(h):
        S = _adjoint(M, nu + Nb @ np.atleast_1d(h), n)
        return float(np.linalg.eigvalsh(P.T @ (np.eye(n) - S) @ P)[0])

    if Nb.shape[1] == 1:
        scale = max(1.0, float(np.abs(nu).max()))
        best = minimize_scalar(lambda h: -min(low(h), 1.0), bracket=(-scale, scale),
                               tol=1e-14)  # fmt: skip
        h = np.atleast_1d(best.x)
    else:
        best = minimize(lambda h: -min(low(h), 1.0), np.zeros(Nb.shape[1]), method="Nelder-Mead",
                        options={"xatol": 1e-14, "fatol": 1e-16, "maxiter": 20_000})  # fmt: skip
        h = best.x
    return nu + Nb @ h if low(h) > low(np.zeros_like(h)) else nu


def certify_min_trace(problem_or_A, X, nu, y=None) -> tuple[dict, tuple[float, float], float]:
    """(KKT residuals, (lower, upper) bracket of the minimum trace, relative bracket width) at (X, ν)."""
    M, yv, shape = _dense_operator(problem_or_A, y)
    n = shape[0]
    A3 = M.reshape(M.shape[0], n, n)
    kkt = psd_kkt(A3, X, nu, y=yv)
    S = _adjoint(M, nu, n)
    # p*(y) ≤ p*(A(X)) + ‖ν‖‖A(X) − y‖ ≤ tr X + ‖ν‖‖A(X) − y‖ (ν ≈ the dual at y: sensitivity)
    upper = float(np.trace(X)) + float(np.linalg.norm(nu) * np.linalg.norm(M @ np.ravel(X) - yv))
    # weak duality, for the exact y: yᵀν = ⟨A*(ν), X'⟩ ≤ max(1, λ_max(A*(ν)))·tr X' for X' ⪰ 0
    lower = float(yv @ nu) / max(1.0, float(np.linalg.eigvalsh(S)[-1]))
    return kkt, (lower, upper), (upper - lower) / abs(upper)


def min_trace_certified(problem_or_A, y=None, *, tol: float = 1e-9, eps: float = 1e-9) -> Certified:
    """argmin tr X s.t. A(X) = y, X ⪰ 0, with a certificate (for small n, e.g. 3×3 completion).

    The program is solved by Clarabel (interior point, its default tolerances) and by SCS (eps
    ``eps``); from each solution and each rank k = 1 … n (the eigenvalues of X ordered), X = RRᵀ and
    ν are refined by Gauss–Newton on the KKT equations A(RRᵀ) = y, (I − A*(ν))R = 0 (minimum-norm
    steps, columns scaled: ν can be ~1e7 where an observed diagonal entry is ~1e-8), then ν is moved
    within the set that keeps complementary slackness to make A*(ν) ⪯ I. A candidate is
    ``certified`` when its bracket of the minimum trace (``certify_min_trace``: weak duality below,
    tr X + ‖ν‖‖A(X) − y‖ above) has relative width ≤ ``tol`` and X is feasible to ``tol`` (relative
    residual, PSD violation); the first such candidate is returned, otherwise the one with the
    smallest such score, not certified. The certificate does not depend on how X was found.
    """
    M, yv, shape = _dense_operator(problem_or_A, y)
    n = shape[0]
    if shape[0] != shape[1]:
        raise ConfigError(f"a PSD program needs a square matrix, got shape {shape}")
    A3 = M.reshape(M.shape[0], n, n)
    best, failures = None, []
    for name in ("CLARABEL", "SCS"):  # SCS only where Clarabel's solution does not certify
        try:
            sol = min_nuclear_norm(A3, yv, psd=True, solver=name, eps=eps, fallback=None,
                                   max_residual=np.inf)  # fmt: skip
        except SolverError as e:
            failures.append(str(e))
            continue
        nu0 = sol.dual if sol.dual is not None else np.zeros(M.shape[0])
        cands = []
        lam, V = np.linalg.eigh((sol.X + sol.X.T) / 2)
        order = np.argsort(lam)[::-1]
        with np.errstate(all="ignore"):  # a Newton run on a wrong face may overflow: not chosen
            for k in range(1, n + 1):
                top = order[:k]
                R0 = V[:, top] * np.sqrt(np.maximum(lam[top], 1e-12))
                R, nu = _kkt_newton(M, yv, n, R0, nu0)
                if np.all(np.isfinite(R)) and np.all(np.isfinite(nu)):
                    cands.append((k, R @ R.T, _dual_psd(M, n, R, nu)))
        cands.append((0, sol.X, nu0))  # the solver's own (X, ν): last resort
        for k, X, nu in cands:
            kkt, bracket, width = certify_min_trace(A3, X, nu, y=yv)
            worst = max(abs(width), kkt["residual"], kkt["psd_violation"] / max(bracket[1], 1e-300))
            worst = worst if np.isfinite(worst) else np.inf
            if k == 0 and best is not None and best[0] <= tol:
                continue
            entry = (worst, k, X, nu, kkt, bracket, width, name)
            if best is None or worst < best[0] or (best[1] == 0 and worst <= tol):
                best = entry
        if best[0] <= tol:
            break
    if best is None:
        raise SolverError(
            "neither Clarabel nor SCS solved the min-trace program: " + "; ".join(failures)
        )
    worst, k, X, nu, kkt, bracket, width, name = best
    ok = worst <= tol
    status = f"{'certified' if ok else 'uncertified'} (from {name}, rank {k} face)"
    sol = Solution(X=X, status=status, residual=_residual(M, yv, X), value=float(np.trace(X)),
                   dual=nu)  # fmt: skip
    return Certified(solution=sol, kkt=kkt, bracket=bracket, trace_error=width, certified=ok,
                     rank=k, start=name)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# a certified min-trace minimizer at moderate n (seed 002's X_NN at n = 50): refine the solver's
# point on its face, build the dual from the face, bound the distance to every minimizer


def refine_psd_face(
    problem_or_A, X, y=None, *, rank: int | None = None, iters: int = 8
) -> np.ndarray:
    """R (n × r) with A(RRᵀ) = y to round-off, from the top-``rank`` eigenpairs of X (default: the
    eigenvalues above 1e-6·λ_max, the numerical rank of a solver point at eps ≪ 1e-6) by Gauss–Newton
    (least-squares steps) on A(RRᵀ) = y. How R is found does not matter to the certificate
    (``certify_psd_face``): a wrong rank gives a large gap or a non-positive modulus, hence a failing
    bound."""
    M, yv, shape = _dense_operator(problem_or_A, y)
    n = shape[0]
    X = np.asarray(X, dtype=np.float64)
    if X.shape != (n, n) or shape[0] != shape[1]:
        raise ConfigError(
            f"X must be {n}×{n} for a square operator of shape {shape}, got {X.shape}"
        )
    lam, V = np.linalg.eigh((X + X.T) / 2)
    lam, V = lam[::-1], V[:, ::-1]
    r = int(np.sum(lam > 1e-6 * max(lam[0], 1e-300))) if rank is None else int(rank)
    if not 1 <= r <= n:
        raise ConfigError(f"rank must be in 1..{n}, got {r}")
    R = V[:, :r] * np.sqrt(np.maximum(lam[:r], 1e-300))
    A3 = M.reshape(-1, n, n)
    A3 = (A3 + A3.transpose(0, 2, 1)) / 2
    for _ in range(iters):
        e = M @ (R @ R.T).ravel() - yv
        J = 2 * np.matmul(A3, R).reshape(M.shape[0], -1)
        R = R - np.linalg.lstsq(J, e, rcond=None)[0].reshape(n, r)
    return R


def face_dual(problem_or_A, R, y=None, *, improve: bool = True) -> np.ndarray:
    """A dual point ν with A*(ν)V = V (V: an orthonormal basis of range R), so that complementary
    slackness (I − A*(ν))RRᵀ = 0 holds exactly: the minimum-norm one (the least-squares dual
    certificate of low-rank recovery, Candès & Recht 2009 §4; it keeps A*(ν) small off the face).
    When that one is not strictly feasible off the face (s = λ_min(V⊥ᵀ(I − A*(ν))V⊥) ≤ 0) and
    ``improve``, ν moves within the same affine set {ν : A*(ν)V = V} to maximize s (capped at 1), a
    small SDP (cvxpy, Clarabel); if that fails too, the minimum-norm ν is returned (its certificate
    then has no bound)."""
    M, _, shape = _dense_operator(problem_or_A, y)
    n = shape[0]
    V, _ = np.linalg.qr(np.asarray(R, dtype=np.float64))
    r = V.shape[1]
    A3 = M.reshape(-1, n, n)
    A3 = (A3 + A3.transpose(0, 2, 1)) / 2
    L = np.matmul(A3, V).reshape(M.shape[0], -1).T
    nu = np.linalg.lstsq(L, V.ravel(), rcond=None)[0]
    Vp = np.linalg.qr(V, mode="complete")[0][:, r:]
    if not improve or Vp.shape[1] == 0:
        return nu

    def off_face(v):  # V⊥ᵀ(I − A*(v))V⊥
        return np.eye(n - r) - Vp.T @ _adjoint(M, v, n) @ Vp

    if float(np.linalg.eigvalsh(off_face(nu))[0]) > 0:
        return nu
    _, sv, Wt = np.linalg.svd(L)
    Nb = Wt[int(np.sum(sv > sv.max() * max(L.shape) * 2.0**-52)) :].T  # directions with A*(·)V = 0
    if Nb.shape[1] == 0:
        return nu
    import cvxpy as cp

    C0 = off_face(nu)
    B = np.stack([(Vp.T @ _adjoint(M, Nb[:, j], n) @ Vp).ravel() for j in range(Nb.shape[1])], 1)
    h, t = cp.Variable(Nb.shape[1]), cp.Variable()
    lmi = C0 - cp.reshape(B @ h, (n - r, n - r), order="C")
    prob = cp.Problem(cp.Maximize(t), [(lmi + lmi.T) / 2 - t * np.eye(n - r) >> 0, t <= 1])
    try:
        prob.solve(solver="CLARABEL")
    except cp.error.SolverError:
        return nu
    if h.value is None:
        return nu
    better = nu + Nb @ np.asarray(h.value, dtype=float)
    low = lambda v: float(np.linalg.eigvalsh(off_face(v))[0])  # noqa: E731
    return better if low(better) > low(nu) else nu


def certify_psd_face(problem_or_A, R, nu, y=None) -> dict:
    """A certificate that X̂ = RRᵀ is the minimizer of tr X s.t. A(X) = y, X ⪰ 0, and a bound on
    ‖X − X̂‖_F for every minimizer X (seed 002's X_NN; Gunasekar et al. 2017, "Proof strategy").

    S = I − A*(ν); [V V⊥] an orthonormal basis with range V = range R (rank r); blocks S_11 = VᵀSV,
    S_12 = VᵀSV⊥, S_22 = V⊥ᵀSV⊥, and s = λ_min(S_22) (the modulus: strict complementarity). Let X be
    feasible (A(X) = y, X ⪰ 0) with tr X ≤ U. Then ⟨S, X⟩ = tr X − yᵀν ≤ U − yᵀν =: G (the gap), and
    with t = tr X_22 ≥ 0, tr X_11 ≤ U and ‖X_12‖_F ≤ √(‖X_11‖ t) ≤ √(Ut) (X ⪰ 0),

        ⟨S, X⟩ ≥ −‖S_11‖₂ U − 2‖S_12‖_F √(U t) + s t,

    so for s > 0: √t ≤ (β + √(β² + s(G + α)))/s, α = ‖S_11‖₂U, β = ‖S_12‖_F√U. The part of
    D = X − X̂ off the face, V⊥X_22V⊥ᵀ, has ‖·‖_F ≤ t; the rest D_T lies in the tangent space T =
    {Z = Zᵀ : V⊥ᵀZV⊥ = 0} and A(D_T) = y − A(X̂) − A(V⊥X_22V⊥ᵀ), so with σ_T = min ‖A(Z)‖_F over
    unit Z ∈ T (injectivity of A on T) and e = A(X̂) − y,

        ‖X − X̂‖_F ≤ t + (‖e‖ + ‖A‖₂ t)/σ_T.

    For X a minimizer, tr X = p* ≤ U := tr X̂ + ‖ν‖‖e‖ (X̂ is feasible for y' = A(X̂); the second
    term is the first-order change of p* from y' to y, exact when e = 0, as in ``certify_min_trace``).
    When G = 0, S_11 = S_12 = 0, s > 0 and σ_T > 0 (strict complementarity and injectivity on T), the
    minimizer is unique and equal to X̂. Returns primal U, dual yᵀν, gap G, feasibility ‖e‖, modulus s,
    s11, s12, sigma_T, A_op, trace_off (the bound on t), bound (on ‖X − X̂‖_F), norm ‖X̂‖_F, rank r,
    dual_infeasibility max(0, −λ_min(S)) (weak duality yᵀν ≤ p* needs S ⪰ 0; not used by the bound).
    """
    M, yv, shape = _dense_operator(problem_or_A, y)
    n = shape[0]
    R = np.asarray(R, dtype=np.float64)
    nu = np.asarray(nu, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != n or nu.shape != (M.shape[0],):
        raise ConfigError(
            f"R must be {n}×r and ν of length {M.shape[0]}, got {R.shape}, {nu.shape}"
        )
    r = R.shape[1]
    X_hat = R @ R.T
    e = M @ X_hat.ravel() - yv
    Q = np.linalg.qr(R, mode="complete")[0]
    V, Vp = Q[:, :r], Q[:, r:]
    S = np.eye(n) - _adjoint(M, nu, n)
    s11 = float(np.linalg.norm(V.T @ S @ V, 2))
    s12 = float(np.linalg.norm(V.T @ S @ Vp))
    s = float(np.linalg.eigvalsh(Vp.T @ S @ Vp)[0]) if r < n else np.inf
    U = float(np.trace(X_hat)) + float(np.linalg.norm(nu) * np.linalg.norm(e))
    dual = float(yv @ nu)
    G = U - dual
    # an orthonormal (Frobenius) basis of T: (g_a g_bᵀ + g_b g_aᵀ)/‖·‖ for a < r, a ≤ b
    basis = []
    for a in range(r):
        for b in range(a, n):
            B = np.outer(Q[:, a], Q[:, b])
            B = B + B.T
            basis.append((B / np.linalg.norm(B)).ravel())
    sigma_T = float(np.linalg.svd(M @ np.stack(basis, axis=1), compute_uv=False)[-1])
    A_op = float(
        np.sqrt(
            np.linalg.eigvalsh(M @ M.T)[-1]
            if M.shape[0] <= M.shape[1]
            else np.linalg.eigvalsh(M.T @ M)[-1]
        )
    )
    alpha, beta = s11 * U, s12 * np.sqrt(max(U, 0.0))
    if s > 0 and np.isfinite(s) and sigma_T > 0:
        root = (beta + np.sqrt(beta**2 + s * max(G + alpha, 0.0))) / s
        t = float(root**2)
        bound = t + (float(np.linalg.norm(e)) + A_op * t) / sigma_T
    elif s == np.inf and sigma_T > 0:  # full rank face: every feasible X differs from X̂ in T only
        t, bound = 0.0, float(np.linalg.norm(e)) / sigma_T
    else:  # no strict complementarity or no injectivity: no bound
        t, bound = float("inf"), float("inf")
    return {"primal": U, "dual": dual, "gap": G, "feasibility": float(np.linalg.norm(e)),
            "modulus": s, "s11": s11, "s12": s12, "sigma_T": sigma_T, "A_op": A_op,
            "trace_off": t, "bound": bound, "norm": float(np.linalg.norm(X_hat)), "rank": r,
            "dual_infeasibility": max(0.0, -float(np.linalg.eigvalsh(S)[0]))}  # fmt: skip


def min_trace_face(problem_or_A, y=None, *, rank: int | None = None, eps: float = 1e-9):
    """(Solution, certificate): argmin tr X s.t. A(X) = y, X ⪰ 0 solved by SCS (``min_nuclear_norm``,
    eps ``eps``), refined on its face (``refine_psd_face``), with the face's dual (``face_dual``) and
    the certificate of ``certify_psd_face`` (a bound on the distance from X̂ to every minimizer).
    Cheap at n = 50, m = 300 (one SCS solve, a 300 × 2500 SVD), unlike ``min_trace_certified``."""
    sol = min_nuclear_norm(problem_or_A, y, psd=True, eps=eps)
    R = refine_psd_face(problem_or_A, sol.X, y, rank=rank)
    nu = face_dual(problem_or_A, R, y)
    cert = certify_psd_face(problem_or_A, R, nu, y)
    M, yv, _ = _operator(problem_or_A, y)
    X = R @ R.T
    out = Solution(X=X, status=f"{sol.status}, refined on its rank-{R.shape[1]} face",
                   residual=_residual(M, yv, X), value=float(np.trace(X)), dual=nu)  # fmt: skip
    return out, cert
