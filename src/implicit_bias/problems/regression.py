"""Least-squares regression L(W) = ½n⁻¹‖Y − X W‖² of the end-to-end matrix W ∈ R^{p×d} (seed 004).

Gidel, Bach & Lacoste-Julien (2019), "Implicit regularization of discrete gradient dynamics in linear
neural networks", NeurIPS. Data X ∈ R^{n×p}, Y ∈ R^{n×d}; the deep linear model of the seed is
W = W_1 ⋯ W_L (see ``models/spectral.py`` for how it maps onto the engine's ``DeepMatrix``).

Assumption (seed 004): with Σ_x = XᵀX/n and Σ_xy = XᵀY/n,

    Σ_x = U (D_x + B) Uᵀ,   Σ_xy = U D_xy Vᵀ,   ‖B‖₂ ≤ ε,   D_x, D_xy diagonal.

The seed states it for XᵀX and XᵀY; with the 1/(2n) loss the dynamics only see XᵀX/n and XᵀY/n, so we
state it (and define λ_i = (D_x)_ii, σ_i = (D_xy)_ii) for the normalized matrices.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from implicit_bias.errors import ConfigError


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Regression:
    """½n⁻¹‖Y − X W‖² with ∇L(W) = Σ_x W − Σ_xy. Build with ``regression(X, Y)``."""

    X: Float[Array, "n p"]
    Y: Float[Array, "n d"]
    Sigma_x: Float[Array, "p p"]  # XᵀX / n
    Sigma_xy: Float[Array, "p d"]  # XᵀY / n

    @property
    def shape(self) -> tuple[int, int]:
        """(p, d): the shape of the end-to-end W."""
        return (self.X.shape[-1], self.Y.shape[-1])

    def loss(self, W: Float[Array, "p d"]) -> Float[Array, ""]:
        """½n⁻¹‖Y − X W‖_F² (computed from the residual, exact near the noise floor)."""
        R = self.Y - self.X @ W
        return 0.5 * jnp.sum(R**2) / self.X.shape[-2]

    def grad(self, W: Float[Array, "p d"]) -> Float[Array, "p d"]:
        """∇L(W) = n⁻¹Xᵀ(XW − Y) = Σ_x W − Σ_xy."""
        return self.Sigma_x @ W - self.Sigma_xy


def regression(X, Y) -> Regression:
    """The regression problem of data X (n×p) and Y (n×d); checks shapes and finiteness."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2:
        raise ConfigError(f"X and Y must be 2-D (n×p and n×d), got shapes {X.shape} and {Y.shape}")
    if X.shape[0] != Y.shape[0]:
        raise ConfigError(
            f"X and Y must have the same number of rows n (samples), got X {X.shape} and Y {Y.shape}"
        )
    if X.shape[0] == 0 or X.shape[1] == 0 or Y.shape[1] == 0:
        raise ConfigError(f"empty data: X {X.shape}, Y {Y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise ConfigError("X and Y must be finite (found NaN or inf)")
    n = X.shape[0]
    return Regression(
        X=jnp.asarray(X),
        Y=jnp.asarray(Y),
        Sigma_x=jnp.asarray(X.T @ X / n),
        Sigma_xy=jnp.asarray(X.T @ Y / n),
    )


@dataclasses.dataclass(frozen=True)
class AlignedData:
    """Data satisfying the seed's assumption, with the quantities theory needs.

    U (p×p) and V (d×d) orthogonal; ``lam`` = diag D_x (p values), ``sigma`` = diag D_xy (min(p, d)
    values), B the symmetric perturbation of Σ_x (‖B‖₂ = ε).
    """

    problem: Regression
    U: np.ndarray
    V: np.ndarray
    lam: np.ndarray
    sigma: np.ndarray
    B: np.ndarray

    @property
    def eps(self) -> float:
        return float(np.linalg.norm(self.B, 2))


def _orthogonal(rng, n: int) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def _orthonormal_columns(rng, n: int, k: int) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((n, k)))
    return Q * np.sign(np.diag(R))


def aligned(
    *,
    sigma,
    lam,
    d: int | None = None,
    n: int | None = None,
    eps: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> AlignedData:
    """Data with Σ_x = U(D_x + B)Uᵀ and Σ_xy = U D_xy Vᵀ exactly, ‖B‖₂ = ε (seed 004's assumption).

    ``lam`` = diag D_x (length p, positive), ``sigma`` = diag D_xy (length min(p, d)); d defaults to p.
    Construction: O ∈ R^{n×p} with orthonormal columns, S = D_x + B ≻ 0,
    X = √n O S^{1/2} Uᵀ and Y = √n O S^{−1/2} D_xy Vᵀ + R with OᵀR = 0 (R: ``noise``-sized residual
    that the model cannot fit). Then XᵀX/n = U S Uᵀ and XᵀY/n = U D_xy Vᵀ.
    """
    lam = np.asarray(lam, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if lam.ndim != 1 or lam.size == 0 or not np.all(lam > 0):
        raise ConfigError(f"lam (the diagonal of D_x) must be positive numbers, got {lam!r}")
    p = lam.size
    d = p if d is None else int(d)
    r = min(p, d)
    if sigma.shape != (r,):
        raise ConfigError(
            f"sigma (the diagonal of D_xy, p×d) must have min(p, d) = {r} entries, got {sigma.shape}"
        )
    if eps < 0 or eps >= lam.min():
        raise ConfigError(
            f"eps must satisfy 0 <= eps < min(lam) = {lam.min():g} so that D_x + B stays positive "
            f"definite, got eps={eps}"
        )
    n = p + d if n is None else int(n)
    if n < p + (d if noise > 0 else 0):
        raise ConfigError(f"n must be >= p (+ d with noise) = {p + (d if noise else 0)}, got n={n}")
    rng = np.random.default_rng(seed)
    U, V = _orthogonal(rng, p), _orthogonal(rng, d)
    B = np.zeros((p, p))
    if eps > 0:
        G = rng.standard_normal((p, p))
        B = (G + G.T) / 2
        B *= eps / np.linalg.norm(B, 2)
    S = np.diag(lam) + B
    evals, evecs = np.linalg.eigh(S)
    S_half = (evecs * np.sqrt(evals)) @ evecs.T
    S_mhalf = (evecs / np.sqrt(evals)) @ evecs.T
    D_xy = np.zeros((p, d))
    D_xy[np.arange(r), np.arange(r)] = sigma
    O_full = _orthonormal_columns(rng, n, min(n, p + d))
    O = O_full[:, :p]
    X = np.sqrt(n) * O @ S_half @ U.T
    Y = np.sqrt(n) * O @ S_mhalf @ D_xy @ V.T
    if noise > 0:
        Y = Y + noise * O_full[:, p : p + d] @ rng.standard_normal((d, d))
    return AlignedData(problem=regression(X, Y), U=U, V=V, lam=lam, sigma=sigma, B=B)


def autoencoder(*, lam, n: int | None = None, seed: int = 0) -> AlignedData:
    """The linear autoencoder Y = X with Σ_x = U diag(λ) Uᵀ: then Σ_xy = Σ_x, V = U and σ_i = λ_i."""
    lam = np.asarray(lam, dtype=np.float64)
    if lam.ndim != 1 or lam.size == 0 or not np.all(lam > 0):
        raise ConfigError(f"lam must be positive numbers, got {lam!r}")
    p = lam.size
    n = p if n is None else int(n)
    if n < p:
        raise ConfigError(f"n must be >= p = {p}, got {n}")
    rng = np.random.default_rng(seed)
    U = _orthogonal(rng, p)
    O = _orthonormal_columns(rng, n, p)
    X = np.sqrt(n) * (O * np.sqrt(lam)) @ U.T
    return AlignedData(
        problem=regression(X, X), U=U, V=U, lam=lam, sigma=lam.copy(), B=np.zeros((p, p))
    )


def general(*, n: int, p: int, d: int, rank: int | None = None, noise: float = 0.1, seed: int = 0):
    """General data: Gaussian X, Y = X W_true + noise·Gaussian, W_true Gaussian of the given rank."""
    if min(n, p, d) < 1:
        raise ConfigError(f"n, p, d must be >= 1, got n={n}, p={p}, d={d}")
    rng = np.random.default_rng(seed)
    rank = min(p, d) if rank is None else rank
    if not 1 <= rank <= min(p, d):
        raise ConfigError(f"rank must be in 1..min(p, d) = {min(p, d)}, got {rank}")
    X = rng.standard_normal((n, p))
    W_true = rng.standard_normal((p, rank)) @ rng.standard_normal((rank, d)) / np.sqrt(rank)
    Y = X @ W_true + noise * rng.standard_normal((n, d))
    return regression(X, Y)
