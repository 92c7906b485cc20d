"""Underdetermined linear measurements y = Ax (+ noise) of a sparse vector, loss ½‖Az − y‖² (seed 003).

Chou, Maly & Rauhut (2022), "More is less: inducing sparsity via overparameterization"; the
sparse-recovery part of seed 003. A ∈ R^{m×n} Gaussian (entries N(0, 1/m), or columns normalized to
unit ℓ2 norm), x s-sparse, non-negative or signed.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from implicit_bias.errors import ConfigError


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Linear:
    """L(z) = ½‖Az − y‖² with ∇L(z) = Aᵀ(Az − y). Build with ``linear(A, y)``."""

    A: Float[Array, "m n"]
    y: Float[Array, " m"]

    @property
    def shape(self) -> tuple[int]:
        """(n,): the shape of the estimate z."""
        return (self.A.shape[-1],)

    def loss(self, z: Float[Array, " n"]) -> Float[Array, ""]:
        r = self.A @ z - self.y
        return 0.5 * jnp.sum(r**2)

    def grad(self, z: Float[Array, " n"]) -> Float[Array, " n"]:
        return self.A.T @ (self.A @ z - self.y)


def linear(A, y) -> Linear:
    """The problem ½‖Az − y‖² of a matrix A (m×n) and measurements y (m); checks shapes and finiteness."""
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if A.ndim != 2 or y.ndim != 1:
        raise ConfigError(f"A must be 2-D (m×n) and y 1-D (m), got shapes {A.shape} and {y.shape}")
    if A.shape[0] != y.shape[0]:
        raise ConfigError(
            f"A has {A.shape[0]} rows (measurements) but y has {y.shape[0]} entries: they must match"
        )
    if A.size == 0:
        raise ConfigError(f"empty measurement matrix A {A.shape}")
    if not (np.isfinite(A).all() and np.isfinite(y).all()):
        raise ConfigError("A and y must be finite (found NaN or inf)")
    return Linear(A=jnp.asarray(A), y=jnp.asarray(y))


@dataclasses.dataclass(frozen=True)
class SparseData:
    """A sparse-recovery instance: the problem, the NumPy arrays and the ground truth x (noise-free Ax)."""

    problem: Linear
    A: np.ndarray
    y: np.ndarray
    x: np.ndarray
    noise: np.ndarray


def gaussian_matrix(rng, m: int, n: int, *, normalize: bool = False) -> np.ndarray:
    """A with i.i.d. N(0, 1/m) entries, or with unit-norm columns when ``normalize``."""
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    if normalize:
        A /= np.linalg.norm(A, axis=0, keepdims=True)
    return A


def sparse_vector(rng, n: int, s: int, *, signed: bool = False) -> np.ndarray:
    """x with s nonzeros at random positions: |x_i| ~ 1 + |N(0,1)| (random signs when ``signed``)."""
    x = np.zeros(n)
    support = rng.choice(n, size=s, replace=False)
    mags = 1.0 + np.abs(rng.standard_normal(s))
    x[support] = mags * (rng.choice([-1.0, 1.0], size=s) if signed else 1.0)
    return x


def make_sparse(
    *,
    m: int,
    n: int,
    s: int,
    signed: bool = False,
    noise: float = 0.0,
    normalize: bool = False,
    seed: int = 0,
) -> SparseData:
    """A Gaussian m×n A, an s-sparse x and y = Ax + noise·ξ with ξ uniform on the unit sphere.

    ``noise`` is the ℓ2 norm of the added noise vector (so ‖y − Ax‖₂ = noise exactly).
    """
    if not (1 <= m and 1 <= n and 0 <= s <= n):
        raise ConfigError(f"need m, n >= 1 and 0 <= s <= n, got m={m}, n={n}, s={s}")
    if noise < 0:
        raise ConfigError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    A = gaussian_matrix(rng, m, n, normalize=normalize)
    x = sparse_vector(rng, n, s, signed=signed)
    xi = rng.standard_normal(m)
    e = noise * xi / np.linalg.norm(xi)
    y = A @ x + e
    return SparseData(problem=linear(A, y), A=A, y=y, x=x, noise=e)
