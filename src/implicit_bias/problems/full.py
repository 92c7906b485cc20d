"""Full observation of a matrix: L(W) = ½‖W − Ŵ‖_F² (seed 000, eq. (3)).

Chou, Gieshoff, Maly & Rauhut (2024), "Gradient descent for deep matrix factorization: dynamics and
implicit bias towards low rank", ACHA 68. If the inputs x_i span R^{n_0}, the deep linear regression
(1) has the same minimizers as this problem (2).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from implicit_bias.errors import ConfigError


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FullObservation:
    """Observe every entry of the target Ŵ; the loss is ½‖W − Ŵ‖_F²."""

    W_hat: Float[Array, "n_out n_in"]

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.W_hat.shape)

    def loss(self, W: Float[Array, "n_out n_in"]) -> Float[Array, ""]:
        """½‖W − Ŵ‖_F², eq. (3)."""
        return 0.5 * jnp.sum((W - self.W_hat) ** 2)

    def grad(self, W: Float[Array, "n_out n_in"]) -> Float[Array, "n_out n_in"]:
        """∇L(W) = W − Ŵ, eq. (3)."""
        return W - self.W_hat


def random_orthogonal(seed: int, n: int) -> np.ndarray:
    """A fixed orthogonal V: Q of the QR factorization of a Gaussian matrix, signs fixed by diag(R) > 0."""
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def symmetric_with_spectrum(spectrum, *, seed: int = 0, V=None) -> FullObservation:
    """Ŵ = V diag(spectrum) Vᵀ with a fixed orthogonal V (``random_orthogonal(seed, n)`` by default).

    Seed 000 prints a 4×4 matrix for Λ = diag(10, 7, 5, −5), but that matrix's eigenvalues are about
    −5.32, −5.00, 6.00, 8.99; we build Ŵ from the spectrum instead, so the spectrum is exact.
    """
    lam = np.asarray(spectrum, dtype=np.float64)
    if lam.ndim != 1 or lam.size == 0:
        raise ConfigError(f"spectrum must be a non-empty list of numbers, got {spectrum!r}")
    n = lam.size
    V = random_orthogonal(seed, n) if V is None else np.asarray(V, dtype=np.float64)
    if V.shape != (n, n) or not np.allclose(V.T @ V, np.eye(n), atol=1e-10):
        raise ConfigError(f"V must be an orthogonal {n}×{n} matrix")
    W_hat = (V * lam) @ V.T
    return FullObservation(W_hat=jnp.asarray((W_hat + W_hat.T) / 2))


def random_target(seed: int, shape: tuple[int, int], *, rank: int | None = None) -> FullObservation:
    """A general (non-symmetric) Gaussian target, optionally of a given rank, scaled to ‖Ŵ‖₂ = 1."""
    rng = np.random.default_rng(seed)
    n_out, n_in = shape
    if rank is None:
        W = rng.standard_normal(shape)
    else:
        if not 1 <= rank <= min(shape):
            raise ConfigError(f"rank must be in 1..{min(shape)}, got {rank}")
        W = rng.standard_normal((n_out, rank)) @ rng.standard_normal((rank, n_in))
    return FullObservation(W_hat=jnp.asarray(W / np.linalg.norm(W, 2)))
