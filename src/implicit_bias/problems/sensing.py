"""Matrix sensing: observe y_i = ⟨A_i, X*⟩, i = 1 … m, and fit L(X) = ½ Σ_i (⟨A_i, X⟩ − y_i)².

Seeds 002 (Gunasekar, Woodworth, Bhojanapalli, Neyshabur & Srebro 2017) and 003 (low-rank recovery from
Gaussian measurements). The gradient is ∇L(X) = A*(r) = Σ_i r_i A_i with r = A(X) − y.

Measurement ensembles (each A_i is scaled by 1/√m so that E‖A(X)‖² = ‖X‖_F², the RIP normalization):
  symmetric  A_i = (G_i + G_iᵀ)/2 with G_i i.i.d. standard Gaussian (seed 002, "A_i symmetric random")
  general    A_i = G_i (seed 003)
  commuting  A_i = V D_i Vᵀ with one fixed orthogonal V and Gaussian diagonal D_i (seed 002's theorem)

Ground truths (``low_rank_truth``): X* = G Gᵀ (PSD) or G H ᵀ (general) with Gaussian factors of ``rank``
columns, scaled to ‖X*‖_F = ``norm`` (default 1). Held-out measurements (``A_test``, drawn from the same
ensemble) give the test error ‖A_test(X) − y_test‖ / ‖y_test‖.
"""

import dataclasses
import functools as ft

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from implicit_bias.errors import ConfigError

ENSEMBLES = ("symmetric", "general", "commuting")


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["A", "y", "X_star", "A_test", "y_test"],
    meta_fields=["shape", "symmetric"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class MatrixSensing:
    """Measurements A (m × a × b), observations y = A(X*), held-out (A_test, y_test)."""

    A: Float[Array, "m a b"]
    y: Float[Array, " m"]
    X_star: Float[Array, "a b"]
    A_test: Float[Array, "k a b"]
    y_test: Float[Array, " k"]
    shape: tuple[int, int]
    symmetric: bool = False  # every A_i is symmetric (what the model X = UUᵀ needs)

    def measure(self, X: Float[Array, "a b"]) -> Float[Array, " m"]:
        """A(X) = (⟨A_i, X⟩)_i."""
        return jnp.einsum("kij,ij->k", self.A, X)

    def residual(self, X: Float[Array, "a b"]) -> Float[Array, " m"]:
        return self.measure(X) - self.y

    def loss(self, X: Float[Array, "a b"]) -> Float[Array, ""]:
        """½ Σ_i (⟨A_i, X⟩ − y_i)²."""
        return 0.5 * jnp.sum(self.residual(X) ** 2)

    def adjoint(self, r: Float[Array, " m"]) -> Float[Array, "a b"]:
        """A*(r) = Σ_i r_i A_i."""
        return jnp.einsum("k,kij->ij", r, self.A)

    def grad(self, X: Float[Array, "a b"]) -> Float[Array, "a b"]:
        """∇L(X) = A*(A(X) − y)."""
        return self.adjoint(self.residual(X))

    def test_error(self, X: Float[Array, "a b"]) -> Float[Array, ""]:
        """‖A_test(X) − y_test‖ / ‖y_test‖ on the held-out measurements."""
        pred = jnp.einsum("kij,ij->k", self.A_test, X)
        return jnp.linalg.norm(pred - self.y_test) / jnp.linalg.norm(self.y_test)

    @property
    def m(self) -> int:
        return int(self.A.shape[0])


def low_rank_truth(
    seed: int, n: int, rank: int, *, psd: bool = True, n_cols: int | None = None, norm: float = 1.0
) -> np.ndarray:
    """X* = G Gᵀ (``psd``) or G Hᵀ with Gaussian G (n × rank), H (n_cols × rank); ‖X*‖_F = ``norm``."""
    n_cols = n if n_cols is None else n_cols
    if psd and n_cols != n:
        raise ConfigError(f"a PSD ground truth is square: got n={n}, n_cols={n_cols}")
    if int(rank) != rank or not 1 <= rank <= min(n, n_cols):
        raise ConfigError(f"rank must be an integer in 1..{min(n, n_cols)} (≤ n), got {rank}")
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, rank))
    X = G @ G.T if psd else G @ rng.standard_normal((n_cols, rank)).T
    return norm * X / np.linalg.norm(X)


def measurement_matrices(seed: int, m: int, shape, *, ensemble: str = "symmetric", V=None):
    """m measurement matrices of one ensemble, each scaled by 1/√m (E‖A(X)‖² = ‖X‖_F²)."""
    if ensemble not in ENSEMBLES:
        raise ConfigError(f"unknown ensemble {ensemble!r}; choose one of {', '.join(ENSEMBLES)}")
    if int(m) != m or m < 1:
        raise ConfigError(f"the number of measurements m must be an integer >= 1, got {m}")
    a, b = shape
    rng = np.random.default_rng(seed)
    if ensemble == "general":
        return rng.standard_normal((m, a, b)) / np.sqrt(m)
    if a != b:
        raise ConfigError(f"{ensemble} measurements are square: got shape {shape}")
    if ensemble == "symmetric":
        G = rng.standard_normal((m, a, a))
        return (G + np.swapaxes(G, 1, 2)) / 2 / np.sqrt(m)
    V = random_orthogonal(rng, a) if V is None else np.asarray(V, dtype=np.float64)
    D = rng.standard_normal((m, a))
    return np.einsum("ik,mk,jk->mij", V, D, V) / np.sqrt(m)


def random_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def from_matrices(
    A, X_star, *, A_test=None, symmetric: bool | None = None, y=None
) -> MatrixSensing:
    """A sensing problem from explicit measurement matrices (and optional held-out ones).

    ``symmetric=True`` demands symmetric A_i (the model X = UUᵀ only sees their symmetric part);
    ``None`` records whether they are.
    """
    A = np.asarray(A, dtype=np.float64)
    X_star = np.asarray(X_star, dtype=np.float64)
    if X_star.ndim != 2:
        raise ConfigError(f"X_star must be a matrix, got shape {X_star.shape}")
    if A.ndim != 3 or A.shape[1:] != X_star.shape or A.shape[0] < 1:
        raise ConfigError(
            f"A must have shape (m, {X_star.shape[0]}, {X_star.shape[1]}) with m >= 1, got {A.shape}"
        )
    is_sym = A.shape[1] == A.shape[2] and np.allclose(A, np.swapaxes(A, 1, 2), atol=1e-12)
    if symmetric and not is_sym:
        bad = int(np.argmax(np.abs(A - np.swapaxes(A, 1, 2)).reshape(A.shape[0], -1).max(1)))
        raise ConfigError(
            f"the symmetric model X = UUᵀ needs symmetric measurement matrices, but A_{bad} is not "
            "symmetric; symmetrize them ((A + Aᵀ)/2 gives the same measurements of a symmetric X)"
        )
    A_test = A[:1] if A_test is None else np.asarray(A_test, dtype=np.float64)
    if A_test.ndim != 3 or A_test.shape[1:] != X_star.shape:
        raise ConfigError(f"A_test must have shape (k, {X_star.shape}), got {A_test.shape}")
    y = np.einsum("kij,ij->k", A, X_star) if y is None else np.asarray(y, dtype=np.float64)
    return MatrixSensing(
        A=jnp.asarray(A),
        y=jnp.asarray(y),
        X_star=jnp.asarray(X_star),
        A_test=jnp.asarray(A_test),
        y_test=jnp.asarray(np.einsum("kij,ij->k", A_test, X_star)),
        shape=X_star.shape,
        symmetric=bool(is_sym),
    )


def random_sensing(
    seed: int, X_star, m: int, *, ensemble: str = "symmetric", m_test: int = 100, V=None
) -> MatrixSensing:
    """m measurements of ``X_star`` from ``ensemble`` and ``m_test`` held-out ones (independent draws)."""
    X_star = np.asarray(X_star, dtype=np.float64)
    A = measurement_matrices(seed, m, X_star.shape, ensemble=ensemble, V=V)
    A_test = measurement_matrices(seed + 10_000_019, m_test, X_star.shape, ensemble=ensemble, V=V)
    return from_matrices(A, X_star, A_test=A_test)


def completion_as_sensing(X_star, entries, *, symmetric: bool = False) -> MatrixSensing:
    """Observing entries (i, j) as sensing with A = e_i e_jᵀ (or (e_i e_jᵀ + e_j e_iᵀ)/2 if symmetric).

    Same index checks as ``problems.completion.from_entries``; for the symmetric version (i, j) and
    (j, i) are the same observation.
    """
    from implicit_bias.problems.completion import from_entries

    X_star = np.asarray(X_star, dtype=np.float64)
    idx = np.asarray(entries, dtype=np.int64).reshape(-1, 2)
    if symmetric:
        idx = np.sort(idx, axis=1)
    from_entries(X_star, idx)  # validates range, duplicates and emptiness
    A = np.zeros((idx.shape[0],) + X_star.shape)
    A[np.arange(idx.shape[0]), idx[:, 0], idx[:, 1]] = 1.0
    if symmetric:
        A = (A + np.swapaxes(A, 1, 2)) / 2
    return from_matrices(A, X_star, symmetric=symmetric or None)


@ft.partial(jax.tree_util.register_dataclass, data_fields=["A", "y"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class VectorSensing:
    """Vector least squares L(x) = ½‖Ax − y‖² (the diagonal case of sensing; seed 002's corollary)."""

    A: Float[Array, "m n"]
    y: Float[Array, " m"]

    def loss(self, x: Float[Array, " n"]) -> Float[Array, ""]:
        return 0.5 * jnp.sum((self.A @ x - self.y) ** 2)

    def grad(self, x: Float[Array, " n"]) -> Float[Array, " n"]:
        return self.A.T @ (self.A @ x - self.y)

    @property
    def shape(self) -> tuple[int]:
        return (int(self.A.shape[1]),)
