"""Predictions for sparse recovery by Hadamard factorizations (seed 003).

Chou, Maly & Rauhut (2022), "More is less: inducing sparsity via overparameterization", Information
and Inference 12(3) (Theorems on the positive and the general case, the Bregman limit, the compressed
sensing corollary); Chou, Rauhut & Ward (2023), "Robust implicit regularization via weight
normalization" (the magnification factor ρ).

β₁ and β_min are computed from the actual initial point: β₁ = ‖x̃(0)‖₁ (signed: ‖u^{⊙N}(0)‖₁ +
‖v^{⊙N}(0)‖₁) and β_min = min_k x̃_k(0) (signed: the smallest entry of u^{⊙N}(0), v^{⊙N}(0)). For
w(0) = α1 that is β₁ = nα^N, β_min = α^N (signed: 2nα^N, α^N); for weight normalization
(w(0) = r₀ 1/√n) β₁ = r₀^N n^{1−N/2}, β_min = r₀^N n^{−N/2}. The slides' shorthand (α√N, α;
r₀^N√n, r₀^N) does not follow from the initializations they state.
"""

import numpy as np

from implicit_bias.baselines.l1 import basis_pursuit, weighted_l1_dual
from implicit_bias.errors import ConfigError


def Q_value(A, y, *, nonneg: bool) -> float:
    """Q = min_{z ∈ S₊} ‖z‖₁ (positive case) or min_{Az=y} ‖z‖₁ (signed case), by linear programming."""
    return float(np.abs(basis_pursuit(A, y, nonneg=nonneg)).sum())


def Q_dual(A, y, *, nonneg: bool) -> tuple[float, np.ndarray]:
    """(Q, λ): Q as in ``Q_value`` and an optimal dual λ of the ℓ1 program (see ``stop_slack``)."""
    z, lam = weighted_l1_dual(A, y, nonneg=nonneg)
    return float(np.abs(z).sum()), lam


LP_FEAS_TOL = 1e-7  # HiGHS's default primal and dual feasibility tolerance


def stop_slack(lam, A, y, x) -> float:
    """|λᵀ(Ax − y)| + 1e-7·‖x‖₁: how far the ℓ1 minimum over {Az = y + r} (r the residual the flow left
    at its stop) can lie from Q. Weak duality (exact for the lower side) gives ‖z‖₁ ≥ Q + λᵀr for every
    such z; HiGHS returns λ dual feasible up to LP_FEAS_TOL, which costs at most LP_FEAS_TOL·‖z‖₁.
    The slack of every ‖x̃_∞‖₁ vs Q comparison made at a stopped flow."""
    x = np.asarray(x)
    r = np.asarray(A) @ x - np.asarray(y)
    return float(abs(np.dot(lam, r)) + LP_FEAS_TOL * np.abs(x).sum())


def betas(x_init) -> tuple[float, float]:
    """(β₁, β_min) of the initial product(s): x̃(0) (n,) or the signed pair (u^{⊙N}(0), v^{⊙N}(0)) (2, n)."""
    x_init = np.asarray(x_init, dtype=np.float64)
    if not np.all(x_init > 0):
        raise ConfigError("the initial products must be positive")
    return float(x_init.sum()), float(x_init.min())


def epsilon(beta1: float, beta_min: float, Q: float, depth: int) -> float:
    """ε of Chou, Maly & Rauhut (2022), Thm. (positive case) and Thm. (general case); needs β₁ < Q.

    N = 2: ε = log(β₁/β_min) / log(Q/β₁);
    N > 2: ε = (N/2) (β₁^{1−2/N} − β_min^{1−2/N}) / (Q^{1−2/N} − β₁^{1−2/N}).
    Returns inf when β₁ ≥ Q (the theorem says nothing).
    """
    if depth < 2:
        raise ConfigError(f"the ε bound needs depth N >= 2, got {depth}")
    if beta1 >= Q:
        return float("inf")
    if depth == 2:
        return float(np.log(beta1 / beta_min) / np.log(Q / beta1))
    p = 1 - 2 / depth
    return float(depth / 2 * (beta1**p - beta_min**p) / (Q**p - beta1**p))


def epsilon_simplified(beta1: float, Q: float, depth: int) -> float:
    """N (β₁/Q)^{1−2/N}: seed 003's note to the positive-case theorem, ε ≤ N(β₁/Q)^{1−2/N} when N > 2
    and β₁^{1−2/N} ≤ Q^{1−2/N}/2 (``simplified_applies``; the value is a bound only there)."""
    if depth <= 2:
        raise ConfigError(f"the simplified bound is for depth N > 2, got {depth}")
    return float(depth * (beta1 / Q) ** (1 - 2 / depth))


def simplified_applies(beta1: float, Q: float, depth: int) -> bool:
    """The hypothesis of the simplified bound: N > 2 and β₁^{1−2/N} ≤ Q^{1−2/N}/2."""
    if depth <= 2:
        return False
    p = 1 - 2 / depth
    return bool(beta1**p <= Q**p / 2)


def l1_gap(x_inf, Q: float) -> float:
    """(‖x̃_∞‖₁ − Q)/Q: the quantity the ε bound controls."""
    return float((np.abs(np.asarray(x_inf)).sum() - Q) / Q)


def c_N(depth: int) -> float:
    """c_2 = 1, c_N = (N/2)^{N/(N−2)} (Chou, Rauhut & Ward 2023)."""
    return 1.0 if depth == 2 else float((depth / 2) ** (depth / (depth - 2)))


def magnification(r0: float, r_inf: float, eta_r: float) -> float:
    """ρ = (r₀/r_∞) exp((r_∞² − r₀²)/η_r) (Chou, Rauhut & Ward 2023, Thm. "magnification")."""
    return float(r0 / r_inf * np.exp((r_inf**2 - r0**2) / eta_r))


def r_infinity(x_inf, depth: int) -> float:
    """r_∞ = ‖x̃_∞^{⊙1/N}‖₂."""
    return float(np.linalg.norm(np.maximum(np.asarray(x_inf), 0.0) ** (1 / depth)))


def epsilon_weightnorm(beta1, beta_min, Q, depth, rho) -> float:
    """ε(ρ^{−N}β₁, ρ^{−N}β_min): the weight-normalization bound ‖x̃_∞‖₁ − Q ≤ εQ (needs c_N β₁ < Q).

    Evaluated in logs (ρ^N overflows for small η_r). For N = 2 this is log(β₁/β_min)/log(ρ^N Q/β₁);
    for N > 2, (N/2)(β₁^p − β_min^p)/(ρ^{N−2} Q^p − β₁^p), p = 1 − 2/N (the seed prints the denominator
    garbled as "N−2β₁^{1−2/N} …"; dividing numerator and denominator of ε(ρ^{−N}β₁, ρ^{−N}β_min) by
    ρ^{−(N−2)} gives this form).
    """
    if c_N(depth) * beta1 >= Q:
        return float("inf")
    log_rho = float(np.log(rho))
    if depth == 2:
        return float(np.log(beta1 / beta_min) / (depth * log_rho + np.log(Q / beta1)))
    p = 1 - 2 / depth
    log_den = (depth - 2) * log_rho + p * np.log(Q)
    if log_den > 700:
        return 0.0
    return float(depth / 2 * (beta1**p - beta_min**p) / (np.exp(log_den) - beta1**p))


def invariant_residual(A, x_hat, alpha: float) -> float:
    """Relative distance of arcsinh(x̂/(2α²)) from rowspace(A) (N = 2, signed, u(0) = v(0) = α1).

    Under the flow u̇ = −2u⊙g, v̇ = 2v⊙g (g = Aᵀr): u = α e^{−2∫g}, v = α e^{2∫g}, so
    x̂ = u² − v² = −2α² sinh(4∫g) and arcsinh(x̂/(2α²)) = −4Aᵀ∫r ∈ rowspace(A).
    Returns ‖P_⊥ a‖/‖a‖ with a = arcsinh(x̂/(2α²)) and P_⊥ the projector onto null(A).
    """
    A = np.asarray(A, dtype=np.float64)
    a = np.arcsinh(np.asarray(x_hat, dtype=np.float64) / (2 * alpha**2))
    Qr, _ = np.linalg.qr(A.T)
    perp = a - Qr @ (Qr.T @ a)
    return float(np.linalg.norm(perp) / max(np.linalg.norm(a), 1e-300))


def sigma_s(x, s: int) -> float:
    """σ_s(x)₁ = min over s-sparse z of ‖x − z‖₁: the ℓ1 norm of all but the s largest |x_k|."""
    a = np.sort(np.abs(np.asarray(x)))[::-1]
    return float(a[s:].sum())


def largest_support(x, s: int) -> np.ndarray:
    """The indices of the s largest |x_k| (the set S of σ_s(x)₁ = ‖x_{S^c}‖₁)."""
    return np.sort(np.argsort(-np.abs(np.asarray(x)), kind="stable")[:s])


def cs_bound(x, s: int, eps_abs: float, rho: float) -> float:
    """The compressed-sensing corollary's right side (1+ρ)/(1−ρ) (2σ_s(x)₁ + ε).

    Chou, Maly & Rauhut (2022), Corollary: ‖x̂_∞ − x‖₁ ≤ (1+ρ)/(1−ρ)(2σ_s(x)₁ + ε), with ρ ∈ (0, 1)
    the null-space-property constant of A; ``eps_abs`` is the absolute ℓ1 excess ‖x̂_∞‖₁ − Q = εQ.
    """
    if not 0 < rho < 1:
        raise ConfigError(f"the NSP constant rho must be in (0, 1), got {rho}")
    return float((1 + rho) / (1 - rho) * (2 * sigma_s(x, s) + eps_abs))


def weights(x_init, depth: int, kind: str) -> np.ndarray:
    """Candidate weighted-ℓ1 weights h for a general positive initialization x̃(0) = w(0)^{⊙N}.

    "uniform"    h = 1
    "seed"       h = w(0)^{⊙(2/N − 1)} as printed in seed 003 (w(0) the factor)
    "product"    h = x̃(0)^{⊙(2/N − 1)} (= w(0)^{⊙(2 − N)}): the linear term of D_F(z, x̃(0)), N > 2
    "log"        h = log(1/x̃(0)): the linear term of the N = 2 objective z log(z/x̃(0)) − z
    """
    x_init = np.asarray(x_init, dtype=np.float64)
    w0 = x_init ** (1 / depth)
    if kind == "uniform":
        return np.ones_like(x_init)
    if kind == "seed":
        return w0 ** (2 / depth - 1)
    if kind == "product":
        return x_init ** (2 / depth - 1)
    if kind == "log":
        if np.any(x_init >= 1):
            raise ConfigError("log weights need x̃(0) < 1")
        return np.log(1 / x_init)
    raise ConfigError(f"unknown weights {kind!r}; choose uniform, seed, product or log")
