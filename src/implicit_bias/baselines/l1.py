"""ℓ1-type convex programs for sparse recovery (seed 003): basis pursuit, weighted ℓ1, Bregman, BPDN.

Linear programs go through ``scipy.optimize.linprog(method="highs")``; the Bregman and BPDN programs
through cvxpy (Clarabel). Every solver status is checked: infeasible or failed programs raise
(``ConfigError`` for an empty feasible set, ``SolverError`` for a solver failure).
"""

import cvxpy as cp
import numpy as np
from scipy.optimize import linprog

from implicit_bias.errors import ConfigError, SolverError


def _arrays(A, y):
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if A.ndim != 2 or y.ndim != 1 or A.shape[0] != y.shape[0]:
        raise ConfigError(f"A (m×n) and y (m) do not match: shapes {A.shape} and {y.shape}")
    return A, y


def _linprog(c, A_eq, b_eq, what: str, *, full: bool = False):
    res = linprog(c, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status == 2:
        raise ConfigError(f"{what}: the feasible set is empty (the LP is infeasible)")
    if res.status != 0:
        raise SolverError(f"{what}: HiGHS failed with status {res.status}: {res.message}")
    return res if full else res.x


def weighted_l1(A, y, h=None, *, nonneg: bool = False) -> np.ndarray:
    """argmin Σ h_k |z_k| s.t. Az = y (z ≥ 0 with ``nonneg``); h = 1 gives basis pursuit.

    LP: z = z⁺ − z⁻ with z^± ≥ 0, minimize hᵀ(z⁺ + z⁻) (only z⁺ when ``nonneg``).
    """
    A, y = _arrays(A, y)
    n = A.shape[1]
    h = np.ones(n) if h is None else np.asarray(h, dtype=np.float64)
    if h.shape != (n,) or not np.all(h > 0):
        raise ConfigError(f"weights h must be {n} positive numbers")
    if nonneg:
        return _linprog(h, A, y, "weighted ℓ1 over S₊ = {z ≥ 0 : Az = y}")
    zz = _linprog(np.concatenate([h, h]), np.hstack([A, -A]), y, "weighted ℓ1 over S = {Az = y}")
    return zz[:n] - zz[n:]


def basis_pursuit(A, y, *, nonneg: bool = False) -> np.ndarray:
    """argmin ‖z‖₁ s.t. Az = y (and z ≥ 0 with ``nonneg``): Q = ‖result‖₁."""
    return weighted_l1(A, y, nonneg=nonneg)


def weighted_l1_dual(A, y, h=None, *, nonneg: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(z, λ): the weighted-ℓ1 minimizer and an optimal dual λ (HiGHS's equality marginals).

    The dual is max λᵀy s.t. Aᵀλ ≤ h (``nonneg``) or |Aᵀλ| ≤ h, so for every z' (z' ≥ 0 with
    ``nonneg``) weak duality gives Σ h_k|z'_k| ≥ λᵀAz' = Q_h + λᵀ(Az' − y): the ℓ1 minimum moves by at
    most |λᵀr| when y moves by r.
    """
    A, y = _arrays(A, y)
    n = A.shape[1]
    h = np.ones(n) if h is None else np.asarray(h, dtype=np.float64)
    if h.shape != (n,) or not np.all(h > 0):
        raise ConfigError(f"weights h must be {n} positive numbers")
    if nonneg:
        res = _linprog(h, A, y, "weighted ℓ1 over S₊ = {z ≥ 0 : Az = y}", full=True)
        return res.x, np.asarray(res.eqlin.marginals)
    res = _linprog(np.concatenate([h, h]), np.hstack([A, -A]), y, "weighted ℓ1 over S", full=True)
    return res.x[:n] - res.x[n:], np.asarray(res.eqlin.marginals)


def nsp_constant(A, S) -> float:
    """ρ_S = max {‖v_S‖₁ : Av = 0, ‖v_{S^c}‖₁ ≤ 1}: the null space constant of A on the index set S
    (inf if ker A holds a vector supported on S). 2^{|S|−1} LPs (HiGHS), one per sign pattern σ on S
    (σ and −σ give the same value): ‖v_S‖₁ = max_σ σᵀv_S. In v = v⁺ − v⁻ ≥ 0: max σᵀ(v⁺ − v⁻)_S
    s.t. A(v⁺ − v⁻) = 0, Σ_{k∉S}(v⁺_k + v⁻_k) ≤ 1.

    If ρ_S < 1, every z with Az = Ax obeys ‖z − x‖₁ ≤ (1+ρ_S)/(1−ρ_S)(‖z‖₁ − ‖x‖₁ + 2‖x_{S^c}‖₁)
    (Foucart & Rauhut 2013, Thm 4.14, whose proof uses the null space property on S only).
    """
    A = np.asarray(A, dtype=np.float64)
    m, n = A.shape
    S = np.asarray(sorted(set(int(k) for k in S)), dtype=int)
    if S.size == 0 or S.min() < 0 or S.max() >= n:
        raise ConfigError(f"S must be a non-empty set of indices in [0, {n})")
    off = np.ones(n)
    off[S] = 0.0
    A_ub = np.concatenate([off, off])[None, :]
    best = 0.0
    for bits in range(2 ** (S.size - 1)):
        sigma = np.array([1.0] + [(-1.0) ** ((bits >> k) & 1) for k in range(S.size - 1)])
        c = np.zeros(2 * n)
        c[S], c[n + S] = -sigma, sigma
        res = linprog(c, A_ub=A_ub, b_ub=[1.0], A_eq=np.hstack([A, -A]), b_eq=np.zeros(m),
                      bounds=(0, None), method="highs")  # fmt: skip
        if res.status == 3:
            return float("inf")
        if res.status != 0:
            raise SolverError(f"null space constant LP: HiGHS status {res.status}: {res.message}")
        best = max(best, -float(res.fun))
    return best


def check_nonempty(A, y) -> None:
    """Raise ``ConfigError`` if S₊ = {z ≥ 0 : Az = y} is empty (an LP feasibility problem)."""
    A, y = _arrays(A, y)
    _linprog(np.zeros(A.shape[1]), A, y, "S₊ = {z ≥ 0 : Az = y}")


def positive_null_vector(A) -> bool:
    """Whether Av = 0 for some v > 0 (a hypothesis of the weight-normalization theorem): LP max t."""
    A = np.asarray(A, dtype=np.float64)
    m, n = A.shape
    # v ≥ 1 componentwise after scaling, Av = 0: feasible iff some v > 0 in null(A)
    res = linprog(np.zeros(n), A_eq=A, b_eq=np.zeros(m), bounds=(1, None), method="highs")
    return res.status == 0


def bregman(A, y, x0, depth: int, *, form: str = "divergence") -> np.ndarray:
    """argmin over S₊ of the Bregman objective of the depth-N positive flow from x̃(0) = x0.

    N = 2: g(z) = Σ z_k(log z_k − 1 − log x0_k) (seed 003; equals D_F(z, x0) up to constants).
    N > 2, ``form="divergence"``: D_F(z, x0) ∝ Σ (2 z_k x0_k^{2/N−1} − N z_k^{2/N}) (the divergence of
    F(x) = −Σ x^{2/N}, derived from ẋ = −N² x^{2−2/N} ⊙ ∇L). ``form="seed"``: the seed's printed
    g(z) = 2‖z‖₁ − N Σ z_k^{2/N} x0_k^{1−2/N}, which equals D_F only for a uniform x0.
    """
    A, y = _arrays(A, y)
    x0 = np.asarray(x0, dtype=np.float64)
    if depth < 2:
        raise ConfigError(f"the Bregman limit needs depth N >= 2, got {depth}")
    if x0.shape != (A.shape[1],) or not np.all(x0 > 0):
        raise ConfigError("x0 must be a positive vector of length n")
    check_nonempty(A, y)
    # scale so that z is O(1): the solver's tolerances are absolute
    scale = max(np.abs(y).max(), 1e-300)
    z = cp.Variable(A.shape[1], nonneg=True)
    if depth == 2:
        obj = cp.sum(-cp.entr(z) - cp.multiply(1.0 + np.log(x0 / scale), z))
    elif form == "seed":
        w = (x0 / scale) ** (1 - 2 / depth)
        obj = 2 * cp.sum(z) - depth * cp.sum(cp.multiply(w, cp.power(z, 2 / depth)))
    elif form == "divergence":
        h = (x0 / scale) ** (2 / depth - 1)
        obj = 2 * (h @ z) - depth * cp.sum(cp.power(z, 2 / depth))
    else:
        raise ConfigError(f"form must be 'divergence' or 'seed', got {form!r}")
    prob = cp.Problem(cp.Minimize(obj), [A @ z == y / scale])
    prob.solve(solver="CLARABEL")
    if prob.status not in ("optimal", "optimal_inaccurate") or z.value is None:
        raise SolverError(f"Bregman program: cvxpy/Clarabel returned status {prob.status!r}")
    zv = np.maximum(z.value, 0.0) * scale
    if np.linalg.norm(A @ zv - y) > 1e-6 * max(1.0, np.linalg.norm(y)):
        raise SolverError("Bregman program: the solution violates Az = y by more than 1e-6")
    return zv


def bpdn(A, y, delta: float) -> np.ndarray:
    """Basis pursuit denoising argmin ‖z‖₁ s.t. ‖Az − y‖₂ ≤ δ (cvxpy/Clarabel)."""
    A, y = _arrays(A, y)
    if delta < 0:
        raise ConfigError(f"delta must be >= 0, got {delta}")
    z = cp.Variable(A.shape[1])
    prob = cp.Problem(cp.Minimize(cp.norm1(z)), [cp.norm2(A @ z - y) <= delta])
    prob.solve(solver="CLARABEL")
    if prob.status not in ("optimal", "optimal_inaccurate") or z.value is None:
        raise SolverError(f"BPDN: cvxpy/Clarabel returned status {prob.status!r}")
    return np.asarray(z.value)
