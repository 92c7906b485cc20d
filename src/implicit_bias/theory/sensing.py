"""Predictions of seed 002 (Gunasekar et al. 2017) for sensing with X = UUᵀ, and Gunasekar's ratios.

Scaling. Our loss is L = ½‖A(X) − y‖² and U̇ = −∇_U L = −2A*(r)U, so Ẋ = −2(A*(r)X + XA*(r)).

* Commuting measurements (A_iA_j = A_jA_i): X_t = e^{A*(s_t)} X₀ e^{A*(s_t)} with s_t = −2∫₀ᵗ r_τ dτ
  (seed 002, with its U̇ = −A*(r)U: s_t = −∫₀ᵗ r). One slide of the seed prints
  "X_t = e^{A*(s_t)} X₀ A*(s_t)" — the second exponential is missing (a typo; the other slides and
  the m = 1 derivation have it). ``commuting_s`` integrates the m-dimensional ODE ṡ = −2 r(X(s))
  with SciPy (independent of the diffrax flow on U it is compared with).
* Least squares by GD from 0 stays in span{a_i} and converges to the minimum-ℓ2 solution pinv(A) y.
* The vector corollary: x = u ⊙ u from u₀ = α1 on ½‖Ax − y‖²: u_t = α e^{−2Aᵀ∫r}, so x_t = α² e^{Aᵀν}
  with ν = −4∫r. If the flow interpolates, its limit is the unique x = α² e^{Aᵀν} with Ax = y, i.e.
  argmin Σ_i x_i log(x_i/α²) − x_i s.t. Ax = y (``vector_flow_limit`` solves the smooth dual). As α → 0
  it tends to argmin {‖x‖₁ : Ax = y, x ≥ 0} (the seed's corollary).
* Gunasekar's conjecture as numbers: ‖X_∞(α)‖_* / ‖X_NN‖_* and ‖X_∞(α) − X_NN‖_F / ‖X_NN‖_F → 1, 0.
"""

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import minimize


def adjoint(A: np.ndarray, s: np.ndarray) -> np.ndarray:
    """A*(s) = Σ_i s_i A_i."""
    return np.einsum("k,kij->ij", s, A)


def sym_expm(S: np.ndarray) -> np.ndarray:
    """e^S for symmetric S (eigendecomposition)."""
    lam, Q = np.linalg.eigh((S + S.T) / 2)
    return (Q * np.exp(lam)) @ Q.T


def commuting_closed_form(A: np.ndarray, s: np.ndarray, X0: np.ndarray) -> np.ndarray:
    """X = e^{A*(s)} X₀ e^{A*(s)}."""
    E = sym_expm(adjoint(A, s))
    return E @ X0 @ E


def commutator_norm(A: np.ndarray) -> float:
    """max_{i,j} ‖A_iA_j − A_jA_i‖_F (0 for commuting measurements)."""
    C = np.einsum("iab,jbc->ijac", A, A)
    return float(np.abs(C - np.swapaxes(C, 0, 1)).max(initial=0.0))


def commuting_s(A, y, X0, ts, *, rtol=1e-12, atol=1e-14) -> np.ndarray:
    """s_t at the times ``ts`` (shape (len(ts), m)) from ṡ = −2(A(X(s)) − y), X(s) = e^{A*(s)}X₀e^{A*(s)}.

    Valid for commuting A_i; DOP853 at tight tolerances.
    """
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # work in the common eigenbasis: A_i = V diag(D_i) Vᵀ
    weights = np.random.default_rng(0).standard_normal(A.shape[0])  # generic: distinct eigenvalues
    _, V = np.linalg.eigh(adjoint(A, weights))
    D = np.einsum("ai,kab,bi->ki", V, A, V)  # D[k] = diag(Vᵀ A_k V)
    Z0 = V.T @ X0 @ V

    def rhs(t, s):
        e = np.exp(D.T @ s)  # diagonal of e^{A*(s)} in the basis V
        Z = e[:, None] * Z0 * e[None, :]
        return -2.0 * (np.einsum("ki,ii->k", D, Z) - y)

    ts = np.asarray(ts, dtype=np.float64)
    sol = solve_ivp(
        rhs, (0.0, float(ts[-1])), np.zeros(A.shape[0]), method="DOP853", t_eval=ts,
        rtol=rtol, atol=atol,
    )  # fmt: skip
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.y.T


def min_l2(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin ‖x‖₂ s.t. Ax = y: GD's limit from 0 on least squares (seed 002)."""
    return np.linalg.pinv(np.asarray(A)) @ np.asarray(y)


def vector_flow_limit(A: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """The limit of gradient flow on x = u ⊙ u from u₀ = α1: x = α² e^{Aᵀν} with Ax = y.

    ν minimises the dual Φ(ν) = α² Σ_i e^{(Aᵀν)_i} − yᵀν (strictly convex when A has full row rank);
    Newton-type trust region with the exact Hessian A diag(x) Aᵀ. Works in log-space via
    c = log α² to keep e^{(Aᵀν)_i + c} finite for tiny α.
    """
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    c = 2.0 * np.log(alpha)

    def x_of(nu):
        return np.exp(np.minimum(A.T @ nu + c, 700.0))

    def f(nu):
        return x_of(nu).sum() - y @ nu

    def g(nu):
        return A @ x_of(nu) - y

    def h(nu):
        return (A * x_of(nu)[None, :]) @ A.T

    res = minimize(
        f, np.zeros(A.shape[0]), jac=g, hess=h, method="trust-exact",
        options={"gtol": 1e-13 * max(1.0, np.linalg.norm(y)), "maxiter": 10_000},
    )  # fmt: skip
    return x_of(res.x)


def nuclear_ratio(X: np.ndarray, X_nn: np.ndarray) -> float:
    """‖X‖_* / ‖X_NN‖_*."""
    nuc = lambda M: np.linalg.svd(M, compute_uv=False).sum()  # noqa: E731
    return float(nuc(X) / nuc(X_nn))


def relative_distance(X: np.ndarray, X_ref: np.ndarray) -> float:
    """‖X − X_ref‖_F / ‖X_ref‖_F."""
    return float(np.linalg.norm(X - X_ref) / np.linalg.norm(X_ref))


def tangent_basis(W: np.ndarray, k: int) -> np.ndarray:
    """An orthonormal basis of T_W(M_k) = {WA + BW} for W of rank k (seed 003, slide 'Riemannian
    manifold of rank r matrices'): the matrices u_i v_jᵀ with i ≤ k or j ≤ k, W = UΣVᵀ.
    Shape (n₁n₂ − (n₁ − k)(n₂ − k), n₁, n₂)."""
    U, _, Vt = np.linalg.svd(np.asarray(W, dtype=np.float64))
    n1, n2 = U.shape[0], Vt.shape[0]
    return np.array(
        [np.outer(U[:, i], Vt[j]) for i in range(n1) for j in range(n2) if i < k or j < k]
    )


def restricted_operator(apply, W: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """The matrix of Z ↦ apply(W, Z) on T_W(M_k) in the basis of ``tangent_basis``, and the relative
    size of the part of apply(W, T_W) that leaves T_W (‖P_⊥ apply(B)‖ / ‖apply(B)‖, max over B).

    For the product-flow operator A_W (seed 003, Bah et al. 2022) the matrix is symmetric and positive
    definite (Ā_W: T_W(M_k) → T_W(M_k) self-adjoint and positive definite, hence invertible)."""
    B = tangent_basis(W, k)
    images = np.array([np.asarray(apply(W, b), dtype=np.float64) for b in B])
    M = np.einsum("aij,bij->ab", B, images)  # M_ab = ⟨B_a, A(B_b)⟩
    inside = np.einsum("ab,aij->bij", M, B)
    leak = np.linalg.norm(images - inside, axis=(1, 2)) / np.maximum(
        np.linalg.norm(images, axis=(1, 2)), 1e-300
    )
    return M, float(leak.max())


def completion_dual_certificate(X_star, rows, cols, rank: int) -> float:
    """‖P_T⊥(Y)‖_op for the least-squares dual certificate of exact nuclear-norm completion.

    Y is the minimum-Frobenius matrix supported on the observed entries Ω with P_T(Y) = UVᵀ (U, V:
    the top-``rank`` singular vectors of X*, T the tangent space of the rank-r matrices at X*,
    P_T(Z) = UUᵀZ + ZVVᵀ − UUᵀZVVᵀ). If P_T(Y) = UVᵀ holds (to 1e-9 relative) and
    ‖P_T⊥(Y)‖ < 1, X* is the unique minimizer of ‖X‖_* subject to X_Ω = X*_Ω (Candès & Recht 2009,
    the certificate their proof constructs; Gross 2011): a sufficient condition, exact, with no
    solver. Returns +inf where the equations have no solution (P_Ω restricted to T not injective).
    """
    X_star = np.asarray(X_star, float)
    a, b = X_star.shape
    U, _, Vt = np.linalg.svd(X_star)
    U, V = U[:, :rank], Vt[:rank].T
    PU, PV = U @ U.T, V @ V.T
    rows, cols = np.asarray(rows), np.asarray(cols)
    # columns: P_T(e_i e_jᵀ) = PU[:, i] e_jᵀ + e_i PV[j, :] − PU[:, i] PV[j, :], flattened
    eye_a, eye_b = np.eye(a), np.eye(b)
    PT = (PU[:, rows].T[:, :, None] * eye_b[cols][:, None, :]
          + eye_a[rows][:, :, None] * PV[cols][:, None, :]
          - PU[:, rows].T[:, :, None] * PV[cols][:, None, :])  # fmt: skip
    L = PT.reshape(rows.size, -1).T
    target = (U @ V.T).ravel()
    y = np.linalg.lstsq(L, target, rcond=None)[0]
    if np.linalg.norm(L @ y - target) > 1e-9 * np.linalg.norm(target):
        return float("inf")
    Y = np.zeros((a, b))
    Y[rows, cols] = y
    PTY = PU @ Y + Y @ PV - PU @ Y @ PV
    return float(np.linalg.norm(Y - PTY, 2))
