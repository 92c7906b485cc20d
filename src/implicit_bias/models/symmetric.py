"""Symmetric factorization X = UUᵀ, U ∈ R^{n×d} (seed 002), and its diagonal case x = u ⊙ u.

Gunasekar, Woodworth, Bhojanapalli, Neyshabur & Srebro (2017). For L(X) with gradient G = ∇L(X) the
parameter gradient is ∇_U = (G + Gᵀ) U, i.e. 2 A*(r) U for symmetric measurements. So gradient flow
U̇ = −2A*(r)U induces Ẋ = −2(A*(r)X + XA*(r)), independent of U (``induced_flow``). The seed writes
U̇ = −A*(r)U (its loss is scaled differently): all of our times are the seed's divided by 2.

d = n is the overparameterized case; d < rank(X*) cannot represent the ground truth (``check_problem``
warns). Initializations: ``identity`` U₀ = α [I_n 0] (the first min(n, d) columns of αI, seed 002's
U₀ = αI), ``gaussian`` U₀ with i.i.d. N(0, α²/n) entries (so ‖U₀‖₂ ≈ α(1 + √(d/n))).
"""

import dataclasses
import functools as ft
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from implicit_bias.errors import ConfigError

INITS = ("identity", "gaussian")


class RepresentabilityWarning(UserWarning):
    """The model cannot represent the ground truth (d < rank X*): the fit can only approximate it."""


@ft.partial(jax.tree_util.register_dataclass, data_fields=["alpha"], meta_fields=["n", "d", "init"])
@dataclasses.dataclass(frozen=True, kw_only=True)
class SymmetricFactor:
    """X = UUᵀ with U ∈ R^{n×d}; U₀ = α·(identity or Gaussian)."""

    n: int
    d: int
    init: str = "identity"
    alpha: float = 1e-3

    def __post_init__(self):
        if not isinstance(self.n, int):  # rebuilt by JAX during tracing
            return
        if self.n < 1 or not 1 <= self.d:
            raise ConfigError(f"need n >= 1 and d >= 1, got n={self.n}, d={self.d}")
        if self.init not in INITS:
            raise ConfigError(f"unknown init {self.init!r}; choose one of {', '.join(INITS)}")
        if isinstance(self.alpha, (int, float)) and self.alpha < 0:
            raise ConfigError(f"alpha must be >= 0, got {self.alpha}")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    def init_params(self, key: PRNGKeyArray | None = None) -> Float[Array, "n d"]:
        if self.init == "identity":
            return self.alpha * jnp.eye(self.n, self.d)
        if key is None:
            raise ConfigError("gaussian initialization is random: pass a PRNG key")
        return self.alpha / np.sqrt(self.n) * jax.random.normal(key, (self.n, self.d))

    def __call__(self, U: Float[Array, "n d"]) -> Float[Array, "n n"]:
        return U @ U.T

    def vjp(self, U):
        """(UUᵀ, G ↦ (G + Gᵀ)U)."""
        return U @ U.T, lambda G: (G + G.T) @ U

    def check_problem(self, problem) -> None:
        """Refuse non-symmetric measurement matrices; warn when d < rank(X*) (not representable)."""
        if getattr(problem, "symmetric", True) is False:
            raise ConfigError(
                "the symmetric model X = UUᵀ needs symmetric measurement matrices A_i (it only sees "
                "their symmetric part); build the problem with symmetric measurements"
            )
        X_star = getattr(problem, "X_star", None)
        if X_star is None:
            return
        rank = int(np.linalg.matrix_rank(np.asarray(X_star), tol=1e-10))
        if self.d < rank:
            warnings.warn(
                f"d={self.d} < rank(X*)={rank}: X = UUᵀ cannot represent the ground truth",
                RepresentabilityWarning,
                stacklevel=2,
            )


def induced_flow(X: Float[Array, "n n"], G: Float[Array, "n n"]) -> Float[Array, "n n"]:
    """Ẋ = −(GX + XG) with G = 2A*(r) for our loss (seed 002: −A*(r)X − XA*(r) in its scaling)."""
    return -(G @ X + X @ G)


@ft.partial(jax.tree_util.register_dataclass, data_fields=["alpha"], meta_fields=["n"])
@dataclasses.dataclass(frozen=True, kw_only=True)
class SquaredVector:
    """x = u ⊙ u with u₀ = α·1 (seed 002's corollary: the diagonal case of UUᵀ)."""

    n: int
    alpha: float = 1e-2

    @property
    def shape(self) -> tuple[int]:
        return (self.n,)

    def init_params(self, key=None) -> Float[Array, " n"]:
        return self.alpha * jnp.ones(self.n)

    def __call__(self, u: Float[Array, " n"]) -> Float[Array, " n"]:
        return u * u

    def vjp(self, u):
        return u * u, lambda g: 2.0 * g * u
