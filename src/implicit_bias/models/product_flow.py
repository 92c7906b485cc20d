"""The end-to-end product flow of balanced deep factorizations, integrated directly on W (seed 003).

Arora, Cohen & Hazan (2018); Bah, Rauhut, Terstiege & Westdickenberg (2022). If the layers of
W = W_N ⋯ W_1 start balanced (W_{j+1}ᵀW_{j+1} = W_jW_jᵀ), the layer gradient flow moves the product by

    Ẇ = −A_W(∇L(W)),   A_W(Z) = Σ_{j=1}^N (WWᵀ)^{(N−j)/N} Z (WᵀW)^{(j−1)/N},

a Riemannian gradient flow on the rank-k matrices. ``ProductFlow`` is a model whose parameter is W
itself and whose ``precondition`` hook applies A_W, so the engine's ``GradientFlow`` (and ``GD``, a
discretization of it) follow this flow. Fractional powers come from the eigendecomposition of the PSD
matrices WWᵀ and WᵀW, with eigenvalues clipped at 0.

``log_volume``: the density of the Riemannian volume form of this metric (seed 003, full-rank square W
with singular values σ_1 > … > σ_n):

    v(W) = N^{n(n−1)/2} det(Σ²)^{(1−N)/(2N)} van(Σ^{2/N}),  van(Σ^{2/N}) = ∏_{i<j} (σ_i^{2/N} − σ_j^{2/N})

(v = ∞ on rank-deficient W for N ≥ 2; v is 0 where two singular values coincide). Cohen, Menon &
Veraszto (2022) observe that gradient flow on small completion problems favours solutions of large v.
"""

import dataclasses
import functools as ft

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from implicit_bias.errors import ConfigError


def psd_power(S: Float[Array, "n n"], p: float) -> Float[Array, "n n"]:
    """S^p for symmetric PSD S (eigenvalues clipped at 0; S^0 = I)."""
    lam, Q = jnp.linalg.eigh((S + S.T) / 2)
    lam = jnp.clip(lam, 0.0, None)
    powered = jnp.ones_like(lam) if p == 0 else lam**p
    return (Q * powered[None, :]) @ Q.T


def product_operator(W: Float[Array, "a b"], Z: Float[Array, "a b"], depth: int):
    """A_W(Z) = Σ_{j=1}^N (WWᵀ)^{(N−j)/N} Z (WᵀW)^{(j−1)/N}."""
    N = depth
    left, right = W @ W.T, W.T @ W
    out = jnp.zeros_like(Z)
    for j in range(1, N + 1):
        out = out + psd_power(left, (N - j) / N) @ Z @ psd_power(right, (j - 1) / N)
    return out


@ft.partial(jax.tree_util.register_dataclass, data_fields=[], meta_fields=["depth", "shape"])
@dataclasses.dataclass(frozen=True, kw_only=True)
class ProductFlow:
    """W itself as the parameter, moved by Ẇ = −A_W(∇L(W)) (the flow of a balanced depth-N product)."""

    depth: int
    shape: tuple[int, int]

    def __post_init__(self):
        if isinstance(self.depth, int) and self.depth < 1:
            raise ConfigError(f"depth must be >= 1, got {self.depth}")

    def init_params(self, key=None):
        raise ConfigError("ProductFlow has no default start: pass params0=W0 to fit")

    def __call__(self, W: Float[Array, "a b"]) -> Float[Array, "a b"]:
        return W

    def precondition(self, W, G):
        return product_operator(W, G, self.depth)


def log_volume(W, depth: int) -> float:
    """log v(W) (seed 003); +inf for a singular W when depth ≥ 2, −inf for a repeated singular value."""
    import numpy as np

    W = np.asarray(W, dtype=np.float64)
    n = W.shape[0]
    if W.shape != (n, n):
        raise ConfigError(f"the volume form is defined for square W, got shape {W.shape}")
    N = depth
    s = np.linalg.svd(W, compute_uv=False)
    if s[-1] <= 0:
        return float("inf") if N >= 2 else float(-np.inf)
    p = s ** (2.0 / N)
    gaps = (p[:, None] - p[None, :])[np.triu_indices(n, 1)]
    if np.any(gaps <= 0):
        return float("-inf")
    return float(
        n * (n - 1) / 2 * np.log(N)
        + (1.0 - N) / (2.0 * N) * np.sum(np.log(s**2))
        + np.sum(np.log(gaps))
    )
