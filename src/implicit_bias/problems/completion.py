"""Matrix completion: observe some entries of X*, fit them, measure the error on the others.

Seeds 001 and 002 (and Arora, Cohen, Hu & Luo 2019). The loss is

    L(X) = (s/2) Σ_{(i,j) ∈ I} (X_ij − y_ij)²,   s = 1, or s = 1/|I| with ``normalize=True``

(seed 001 uses (1/2N) Σ, N = |I|). ``X_star`` is the ground truth, used only by the metrics.
"""

import dataclasses
import functools as ft

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from implicit_bias.errors import ConfigError


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["rows", "cols", "y", "X_star", "scale"],
    meta_fields=["shape"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class MatrixCompletion:
    """Observed entries (rows[k], cols[k]) with values y[k] of a ``shape`` matrix."""

    rows: Int[Array, " m"]
    cols: Int[Array, " m"]
    y: Float[Array, " m"]
    X_star: Float[Array, "a b"]
    scale: float
    shape: tuple[int, int]

    def residual(self, X: Float[Array, "a b"]) -> Float[Array, " m"]:
        return X[self.rows, self.cols] - self.y

    def loss(self, X: Float[Array, "a b"]) -> Float[Array, ""]:
        """(s/2) Σ_{(i,j)∈I} (X_ij − y_ij)²."""
        return 0.5 * self.scale * jnp.sum(self.residual(X) ** 2)

    def grad(self, X: Float[Array, "a b"]) -> Float[Array, "a b"]:
        """s (X − Y) on the observed entries, 0 elsewhere."""
        return (
            jnp.zeros(self.shape, X.dtype)
            .at[self.rows, self.cols]
            .add(self.scale * self.residual(X))
        )

    def mask(self) -> Array:
        """Boolean matrix of the observed entries."""
        return jnp.zeros(self.shape, bool).at[self.rows, self.cols].set(True)

    def test_error(self, X: Float[Array, "a b"], *, on: str = "unobserved") -> Float[Array, ""]:
        """‖(X − X*) restricted‖_F / ‖X* restricted‖_F over the unobserved (or ``on="all"``) entries."""
        keep = ~self.mask() if on == "unobserved" else jnp.ones(self.shape, bool)
        diff = jnp.where(keep, X - self.X_star, 0.0)
        ref = jnp.where(keep, self.X_star, 0.0)
        return jnp.linalg.norm(diff) / jnp.maximum(jnp.linalg.norm(ref), jnp.finfo(X.dtype).tiny)

    @property
    def m(self) -> int:
        return int(self.rows.shape[0])


def from_entries(X_star, entries, *, values=None, normalize: bool = False) -> MatrixCompletion:
    """Observe the listed entries ``[(i, j), …]`` of ``X_star`` (or the given ``values`` there).

    Refuses an empty list, indices out of range and duplicated entries.
    """
    X_star = np.asarray(X_star, dtype=np.float64)
    if X_star.ndim != 2:
        raise ConfigError(f"X_star must be a matrix, got shape {X_star.shape}")
    idx = (
        np.asarray(entries, dtype=np.int64).reshape(-1, 2)
        if len(entries)
        else np.zeros((0, 2), np.int64)
    )
    if idx.shape[0] == 0:
        raise ConfigError("the observation set is empty: observe at least one entry")
    n_rows, n_cols = X_star.shape
    bad = (idx[:, 0] < 0) | (idx[:, 0] >= n_rows) | (idx[:, 1] < 0) | (idx[:, 1] >= n_cols)
    if bad.any():
        raise ConfigError(
            f"observed entries out of range for a {n_rows}×{n_cols} matrix: "
            f"{[tuple(map(int, e)) for e in idx[bad][:5]]}"
        )
    flat = idx[:, 0] * n_cols + idx[:, 1]
    uniq, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        dup = [(int(f // n_cols), int(f % n_cols)) for f in uniq[counts > 1][:5]]
        raise ConfigError(f"observed entries are duplicated: {dup}")
    y = X_star[idx[:, 0], idx[:, 1]] if values is None else np.asarray(values, dtype=np.float64)
    if y.shape != (idx.shape[0],):
        raise ConfigError(
            f"values must have one entry per observation ({idx.shape[0]}), got {y.shape}"
        )
    return MatrixCompletion(
        rows=jnp.asarray(idx[:, 0]),
        cols=jnp.asarray(idx[:, 1]),
        y=jnp.asarray(y),
        X_star=jnp.asarray(X_star),
        scale=1.0 / idx.shape[0] if normalize else 1.0,
        shape=(n_rows, n_cols),
    )


def random_entries(seed: int, shape: tuple[int, int], m: int) -> np.ndarray:
    """m distinct entries drawn uniformly without replacement, as an (m, 2) array of (i, j)."""
    n_rows, n_cols = shape
    if not 1 <= m <= n_rows * n_cols:
        raise ConfigError(
            f"m must be in 1..{n_rows * n_cols} for a {n_rows}×{n_cols} matrix, got {m}"
        )
    flat = np.random.default_rng(seed).choice(n_rows * n_cols, size=m, replace=False)
    return np.stack([flat // n_cols, flat % n_cols], axis=1)


def random_completion(seed: int, X_star, m: int, *, normalize: bool = False) -> MatrixCompletion:
    """Observe m entries of ``X_star`` chosen uniformly at random without replacement."""
    X_star = np.asarray(X_star, dtype=np.float64)
    return from_entries(X_star, random_entries(seed, X_star.shape, m), normalize=normalize)
