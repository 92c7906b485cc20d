"""Reduced-rank regression in closed form: W^{k,*} = argmin_{rank W ≤ k} ½n⁻¹‖Y − XW‖², minimum norm.

Seed 004 (Gidel, Bach & Lacoste-Julien 2019). Derivation (any X, any rank): with P_X the projector on
range(X), ‖Y − XW‖² = ‖Y − P_X Y‖² + ‖P_X Y − XW‖², so XW must be the best rank-k approximation
Ŷ_k = P_X Y V_k V_kᵀ of the fitted values (V_k: top-k right singular vectors of P_X Y, Eckart–Young), and
the minimum-Frobenius-norm W with XW = Ŷ_k is X⁺Ŷ_k = X⁺ Y V_k V_kᵀ (rank ≤ k). Unique when the k-th
and (k+1)-th singular values of P_X Y differ. NumPy in, NumPy out.
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
