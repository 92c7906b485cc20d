"""Theorems on gradient descent for deep matrix factorization (seed 000).

Chou, Gieshoff, Maly & Rauhut (2024), "Gradient descent for deep matrix factorization: dynamics and
implicit bias towards low rank", Applied and Computational Harmonic Analysis 68, 101595.
Equation and theorem numbers follow the seed's slides.
"""

import functools

import numpy as np
import scipy.integrate
import scipy.optimize

from implicit_bias.errors import ConfigError


def _M(alpha: float, scale: float, N: int) -> float:
    if N < 1:
        raise ConfigError(f"depth N must be >= 1, got {N}")
    return max(alpha, scale ** (1.0 / N))


def step_bound_scalar(lam: float, alpha: float, N: int) -> float:
    """Thm 2.1: the scalar recursion (7) converges for 0 < η below

    1 / (2N M^{2N−2})       if λ ≥ 0,
    1 / ((3N−2) M^{2N−2})   if λ < 0,         M = max(α, |λ|^{1/N}).
    """
    M = _M(alpha, abs(lam), N)
    factor = 2 * N if lam >= 0 else 3 * N - 2
    return 1.0 / (factor * M ** (2 * N - 2))


def step_bound_identical(W_hat, alpha: float, N: int) -> float:
    """Eq. (8), Thm 2.2: 0 < η < 1 / ((3N−2) M^{2N−2}) with M = max(α, ‖Ŵ‖₂^{1/N})."""
    M = _M(alpha, float(np.linalg.norm(np.asarray(W_hat), 2)), N)
    return 1.0 / ((3 * N - 2) * M ** (2 * N - 2))


def c_root(N: int) -> float:
    """The largest real root c ∈ (1, 2) of 1 = (c − 1) c^{N−1} (Thm 3.1); N = 2 gives the golden ratio."""
    if N < 2:
        raise ConfigError(f"Thm 3.1 (and c) needs depth N >= 2, got N={N}")
    return float(scipy.optimize.brentq(lambda c: (c - 1) * c ** (N - 1) - 1, 1.0, 2.0, xtol=1e-15))


def step_bound_perturbed(W_hat, alpha: float, N: int) -> float:
    """Eq. (10), Thm 3.1: 0 < η < 1 / (9N (cM)^{2N−2}) with M = max(α, ‖Ŵ‖₂^{1/N})."""
    M = _M(alpha, float(np.linalg.norm(np.asarray(W_hat), 2)), N)
    return 1.0 / (9 * N * (c_root(N) * M) ** (2 * N - 2))


def perturbation_condition(alpha: float, beta: float, N: int) -> tuple[bool, float]:
    """Thm 3.1's hypothesis 0 < β/(c − 1) < α; returns (holds, β/(c − 1))."""
    ratio = beta / (c_root(N) - 1)
    return (0 < ratio < alpha), ratio


def eigh(W_hat) -> tuple[np.ndarray, np.ndarray]:
    """Ŵ = V Λ Vᵀ with eigenvalues in decreasing order."""
    lam, V = np.linalg.eigh(np.asarray(W_hat, dtype=np.float64))
    order = np.argsort(lam)[::-1]
    return lam[order], V[:, order]


def limit_identical(W_hat) -> np.ndarray:
    """Thm 2.2: from W_j(0) = αI and η below (8), W^{(k)} → V Λ₊ Vᵀ (negative eigenvalues go to 0)."""
    lam, V = eigh(W_hat)
    return (V * np.maximum(lam, 0.0)) @ V.T


def limit_perturbed(W_hat) -> np.ndarray:
    """Thm 3.1: from the perturbed initialization (9), β/(c−1) < α and η below (10), W^{(k)} → Ŵ."""
    return np.asarray(W_hat, dtype=np.float64)


def scalar_recursion(d0, lam, eta, N: int, n_steps: int, save_steps=None) -> np.ndarray:
    """Eq. (7): d_{k+1} = d_k − η d_k^{N−1} (d_k^N − λ), elementwise (d0, λ, η broadcast together).

    Returns d at the steps ``save_steps`` (default: every step 0 … n_steps), stacked on axis 0.
    A plain NumPy loop: the independent oracle for matrix GD from the identical initialization.
    """
    lam = np.asarray(lam, dtype=np.float64)
    eta = np.asarray(eta, dtype=np.float64)
    d = np.broadcast_to(
        np.asarray(d0, dtype=np.float64), np.broadcast_shapes(np.shape(d0), lam.shape)
    ).copy()
    keep = np.arange(n_steps + 1) if save_steps is None else np.asarray(save_steps)
    out = np.empty((keep.size,) + d.shape)
    slot = 0
    with np.errstate(
        over="ignore", invalid="ignore"
    ):  # a diverging run becomes inf/NaN, no warning
        for k in range(n_steps + 1):
            if slot < keep.size and keep[slot] == k:
                out[slot] = d
                slot += 1
            if k < n_steps:
                d = d - eta * d ** (N - 1) * (d**N - lam)
    return out


@functools.lru_cache(maxsize=4096)  # a sweep asks again for each seed (same λ, α, N, level)
def flow_time_to_reach(lam: float, alpha: float, N: int, level: float) -> float:
    """Time for the scalar gradient flow ḋ = −d^{N−1}(d^N − λ), d(0) = α, to reach d^N = level.

    Separable ODE: t = ∫_α^{level^{1/N}} ds / (s^{N−1}(λ − s^N)), by quadrature. Needs 0 < α^N < level < λ.
    Pass floats (the cache keys on the arguments).
    """
    if not (0 < alpha**N < level < lam):
        raise ValueError(f"need 0 < alpha^N < level < lambda, got {alpha**N}, {level}, {lam}")
    b = level ** (1.0 / N)
    val, _ = scipy.integrate.quad(
        lambda s: 1.0 / (s ** (N - 1) * (lam - s**N)), alpha, b, limit=500, epsabs=0, epsrel=1e-12
    )
    return float(val)


def best_rank_k_effective_ranks(W_hat) -> np.ndarray:
    """Effective ranks ‖Ŵ_k‖_*/‖Ŵ_k‖₂ of the best rank-k approximations Ŵ_k, k = 1 … n (seed 000, §4)."""
    s = np.linalg.svd(np.asarray(W_hat, dtype=np.float64), compute_uv=False)
    s = s[s > s[0] * 1e-12]
    return np.cumsum(s) / s[0]


def perturbed_product(d, alpha: float, beta: float, N: int):
    """W's eigenvalue d·a^{N−1} on the perturbed flow (9), where a² − d² = κ² = α² − (α − β)² (conserved).

    From W_1(0) = (α − β)I, W_j(0) = αI (j ≥ 2), each eigencomponent of the flow has layer 1 at d and
    layers 2 … N at one common value a > 0 (their gradients agree), and d/dt (a² − d²) = 0, so
    a = √(d² + κ²): the product is P(d) = d (d² + κ²)^{(N−1)/2}, increasing in d.
    """
    kappa2 = alpha**2 - (alpha - beta) ** 2
    d = np.asarray(d, dtype=np.float64)
    return d * (d**2 + kappa2) ** ((N - 1) / 2)


def flow_time_perturbed(lam: float, alpha: float, beta: float, N: int, level: float) -> float:
    """Time for the flow from the perturbed initialization (9) to bring W's eigenvalue for λ to ``level``.

    With a = √(d² + κ²) (``perturbed_product``) the flow of layer 1, ḋ = −a^{N−1}(d a^{N−1} − λ), is a
    separable scalar ODE: t = ∫_{α−β}^{d*} dd / (−(d² + κ²)^{(N−1)/2}(P(d) − λ)), P(d*) = level, by
    quadrature. ``level`` must lie strictly between the start P(α − β) and λ (for λ < 0, level = 0 is
    the time at which the eigenvalue changes sign). β = 0 gives ``flow_time_to_reach``.
    """
    if N < 2 or not 0 <= beta < alpha:
        raise ValueError(
            f"need N >= 2 and 0 <= beta < alpha, got N={N}, alpha={alpha}, beta={beta}"
        )
    d0 = alpha - beta
    p0 = float(perturbed_product(d0, alpha, beta, N))
    if not (min(p0, lam) < level < max(p0, lam)):
        raise ValueError(f"level {level} must lie strictly between the start {p0} and lambda {lam}")
    kappa2 = alpha**2 - d0**2
    hi = max(abs(d0), abs(level) ** (1.0 / N) + alpha) + 1.0
    d_star = scipy.optimize.brentq(
        lambda d: float(perturbed_product(d, alpha, beta, N)) - level,
        -hi,
        hi,
        xtol=1e-15,
        rtol=1e-15,
    )

    def rate(d):
        a_pow = (d * d + kappa2) ** ((N - 1) / 2)
        return -a_pow * (d * a_pow - lam)

    val, _ = scipy.integrate.quad(
        lambda d: 1.0 / rate(d), d0, d_star, limit=500, epsabs=0, epsrel=1e-12
    )
    return float(val)
