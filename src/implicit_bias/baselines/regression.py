"""Reduced-rank regression in closed form: W^{k,*} = argmin_{rank W ≤ k} ½n⁻¹‖Y − XW‖², minimum norm.

Seed 004 (Gidel, Bach & Lacoste-Julien 2019). Derivation (any X, any rank): with P_X the projector on
range(X), ‖Y − XW‖² = ‖Y − P_X Y‖² + ‖P_X Y − XW‖², so XW must be the best rank-k approximation
Ŷ_k = P_X Y V_k V_kᵀ of the fitted values (V_k: top-k right singular vectors of P_X Y, Eckart–Young), and
the minimum-Frobenius-norm W with XW = Ŷ_k is X⁺Ŷ_k = X⁺ Y V_k V_kᵀ (rank ≤ k). Unique when the k-th
and (k+1)-th singular values of P_X Y differ. NumPy in, NumPy out.

``min_norm_certificate`` certifies a point as the minimum-norm solution A⁺y of Ax = y (the limit of GD
from 0 on a least-squares problem, seed 002 "Least squares") by Lagrange duality, with a distance bound.
"""

import numpy as np

from implicit_bias.errors import ConfigError


def _data(problem_or_X, Y=None):
    if Y is None:
        return np.asarray(problem_or_X.X), np.asarray(problem_or_X.Y)
    return np.asarray(problem_or_X, dtype=np.float64), np.asarray(Y, dtype=np.float64)


def reduced_rank_path(problem_or_X, Y=None) -> tuple[np.ndarray, np.ndarray]:
    """(W_stack, s): W_stack[k] = W^{k,*} for k = 0 … min(p, d), and s the singular values of P_X Y.

    Accepts a ``Regression`` problem or arrays (X, Y).
    """
    X, Y = _data(problem_or_X, Y)
    if X.shape[0] != Y.shape[0]:
        raise ConfigError(f"X and Y must have the same number of rows, got {X.shape} and {Y.shape}")
    p, d = X.shape[1], Y.shape[1]
    X_pinv = np.linalg.pinv(X)
    W_ols = X_pinv @ Y  # min-norm least squares
    fitted = X @ W_ols  # P_X Y
    _, s, Vt = np.linalg.svd(fitted, full_matrices=False)
    r = min(p, d)
    out = np.zeros((r + 1, p, d))
    for k in range(1, r + 1):
        Vk = Vt[:k].T
        out[k] = W_ols @ Vk @ Vk.T
    return out, s[:r] if s.size >= r else np.pad(s, (0, r - s.size))


def reduced_rank(problem_or_X, Y=None, *, k: int) -> np.ndarray:
    """W^{k,*}: the minimum-norm solution of the rank-≤k constrained least squares."""
    X, Y = _data(problem_or_X, Y)
    r = min(X.shape[1], Y.shape[1])
    if int(k) != k or not 0 <= k <= r:
        raise ConfigError(
            f"requested rank k={k} must be an integer in 0..min(p, d) = {r} (p={X.shape[1]}, d={Y.shape[1]})"
        )
    return reduced_rank_path(X, Y)[0][int(k)]


def min_norm_certificate(A, y, x) -> dict:
    """A duality certificate that ``x`` is the minimum-norm solution x_F = A⁺y of Ax = y, for a
    consistent system (y ∈ range(A); ``corrected_residual`` = ‖Ax̂ − y‖ shows it, ≈ 0).

    Program: min ½‖z‖² s.t. Az = y (A: m × N, or (m, a, b) with x of shape (a, b), flattened), dual
    D(ν) = yᵀν − ½‖Aᵀν‖² (Lagrangian ½‖z‖² + νᵀ(y − Az), minimized at z = Aᵀν).

    From the run itself: the feasible correction x̂ = x − A⁺(Ax − y) (minimum-norm step) gives the
    primal P = ½‖x̂‖²; GD from 0 keeps x, hence x̂, in range(Aᵀ), so x̂ ≈ Aᵀν with ν = argmin
    ‖Aᵀν − x̂‖ (least squares). For every feasible z, P(z) − D(ν) = ½‖z‖² − ⟨Az, ν⟩ + ½‖Aᵀν‖² = ½‖z − Aᵀν‖², so the
    gap G = P(x̂) − D(ν) = ½‖x̂ − Aᵀν‖² (computed in this form: no cancellation). The objective is
    1-strongly convex and x_F optimal over the affine set ({Az = y}: ⟨x_F, x̂ − x_F⟩ = 0), so
    ½‖x̂ − x_F‖² = P(x̂) − P* ≤ P(x̂) − D(ν) = G, and

        ‖x − x_F‖ ≤ ‖x − x̂‖ + √(2G)                                  (modulus 1)

    The bound is ‖P_range(x − x_F)‖ + ‖P_null x‖ ≤ √2‖x − x_F‖ (x̂ − x_F = P_null x, Aᵀν = P_range x̂
    = x_F): exact at both kinds of error, x = x_F + (null-space part n) gives x̂ = x, G = ½‖n‖², bound
    ‖n‖; x = x_F + (range part r) gives x̂ = x_F, G = 0, bound ‖x − x̂‖ = ‖r‖. Returns a dict: primal,
    dual, gap, feasibility ‖Ax − y‖ (of the run's x), modulus 1, offset ‖x − x̂‖, radius √(2G),
    bound (their sum), norm ‖x‖, corrected_residual ‖Ax̂ − y‖; ``checks.certified`` takes these (relative: divide bound by norm).
    Reference: the Lagrange dual of a linearly constrained strongly convex quadratic (Boyd &
    Vandenberghe, Convex Optimization, §5.2.4 and §9.1.2).
    """
    A = np.asarray(A, dtype=np.float64)
    if A.ndim < 2:
        raise ConfigError(f"A must have shape (m, N) or (m, a, b), got {A.shape}")
    M = A.reshape(A.shape[0], -1)
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if y.shape != (M.shape[0],):
        raise ConfigError(f"y must have shape ({M.shape[0]},) to match A {A.shape}, got {y.shape}")
    if x.size != M.shape[1] or (x.ndim > 1 and x.shape != A.shape[1:]):
        raise ConfigError(f"x must have {M.shape[1]} entries (shape {A.shape[1:]}), got {x.shape}")
    if not (np.all(np.isfinite(M)) and np.all(np.isfinite(y))):
        raise ConfigError("A and y must be finite")
    x = x.ravel()
    if not np.all(np.isfinite(x)):  # a diverged run: no certificate, the bound is inf (fails)
        inf = float("inf")
        return {"primal": inf, "dual": -inf, "gap": inf, "feasibility": inf, "modulus": 1.0,
                "offset": inf, "radius": inf, "bound": inf, "norm": inf, "corrected_residual": inf}  # fmt: skip
    resid = M @ x - y
    x_hat = x - np.linalg.lstsq(M, resid, rcond=None)[0]  # minimum-norm correction: A⁺(Ax − y)
    nu = np.linalg.lstsq(M.T, x_hat, rcond=None)[0]
    z = M.T @ nu
    gap = 0.5 * float(np.sum((x_hat - z) ** 2))
    offset = float(np.linalg.norm(x - x_hat))
    radius = float(np.sqrt(2.0 * gap))
    return {
        "primal": 0.5 * float(x_hat @ x_hat),
        "dual": float(y @ nu) - 0.5 * float(z @ z),
        "gap": gap,
        "feasibility": float(np.linalg.norm(resid)),
        "modulus": 1.0,
        "offset": offset,
        "radius": radius,
        "bound": offset + radius,
        "norm": float(np.linalg.norm(x)),
        "corrected_residual": float(np.linalg.norm(M @ x_hat - y)),
    }
