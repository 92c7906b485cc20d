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
