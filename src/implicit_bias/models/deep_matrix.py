"""Deep matrix factorization W = W_N ⋯ W_1 (a deep linear network), any depth N ≥ 1 and any widths.

Seed 000 (Chou, Gieshoff, Maly & Rauhut 2024), eqs. (4)–(6) and (9); seed 003 (Bah, Rauhut, Terstiege &
Westdickenberg 2022) for balanced initializations. Widths ``(n_0, n_1, …, n_N)`` give W_j ∈ R^{n_j × n_{j−1}}.
"""

import dataclasses
import functools as ft
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from implicit_bias.errors import ConfigError

INITS = ("identical", "perturbed", "gaussian", "orthogonal", "balanced")

# Below this size a matmul written as broadcast-multiply-sum fuses into one XLA loop and runs ~10×
# faster than a BLAS call on CPU (measured in benchmarks/bench_gd.py: 4×4 at ~4M vs ~0.4M steps/s).
_SMALL = 12


def mm(A: Float[Array, "a b"], B: Float[Array, "b c"]) -> Float[Array, "a c"]:
    """A @ B, written as a fused loop for tiny matrices and as a BLAS call otherwise."""
    if max(A.shape[-2:] + B.shape[-1:]) <= _SMALL:
        return (jnp.swapaxes(A, -1, -2)[..., :, :, None] * B[..., :, None, :]).sum(-3)
    return A @ B


def _mm_pair(A1, B1, A2, B2):
    """(A1 @ B1, A2 @ B2) in one batched call when all four are equal-shape squares."""
    if A1.shape == B1.shape == A2.shape == B2.shape and A1.shape[-1] > _SMALL:
        # stack on axis -3 so that a vmapped (and device-sharded) batch axis stays in front
        C = jnp.stack([A1, A2], axis=-3) @ jnp.stack([B1, B2], axis=-3)
        return C[..., 0, :, :], C[..., 1, :, :]
    return mm(A1, B1), mm(A2, B2)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real)


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["alpha", "beta"],
    meta_fields=["depth", "widths", "init"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepMatrix:
    """W = W_N ⋯ W_1 with N = ``depth`` factors; ``widths = (n_0, …, n_N)`` or square ``n``.

    Initializations (``init``):
      identical   W_j(0) = α I for all j (eq. (5) with W₀ = I; any W₀ via ``identical_init``)
      perturbed   W_1(0) = (α − β) I, W_j(0) = α I for j ≥ 2 (eq. (9)), 0 < β < α
      gaussian    entries of W_j(0) i.i.d. N(0, α²)
      orthogonal  W_j(0) = α Q_j with Q_j random (semi-)orthogonal
      balanced    W_j(0) split from the SVD of a random product of spectral norm α (see ``balanced_init``)
    """

    depth: int
    widths: tuple[int, ...]
    init: str = "identical"
    alpha: float = 0.1
    beta: float = 0.0

    def __init__(self, *, depth, n=None, widths=None, init="identical", alpha=0.1, beta=0.0):
        if widths is None:
            if n is None:
                raise ConfigError("DeepMatrix needs either n (square factors) or widths")
            widths = (n,) * (depth + 1) if _is_number(depth) else None
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "widths", tuple(widths) if widths is not None else None)
        object.__setattr__(self, "init", init)
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "beta", beta)
        self._validate()

    def _validate(self) -> None:
        if not _is_number(self.depth):  # rebuilt by JAX during tracing: nothing to check
            return
        if int(self.depth) != self.depth or self.depth < 1:
            raise ConfigError(f"depth must be an integer >= 1, got {self.depth!r}")
        if len(self.widths) != self.depth + 1 or any(int(w) < 1 for w in self.widths):
            raise ConfigError(
                f"widths must be {self.depth + 1} positive integers (n_0, ..., n_N) for depth "
                f"{self.depth}, got {self.widths!r}"
            )
        if self.init not in INITS:
            raise ConfigError(f"unknown init {self.init!r}; choose one of {', '.join(INITS)}")
        square = len(set(self.widths)) == 1
        if self.init in ("identical", "perturbed") and not square:
            raise ConfigError(
                f"{self.init} initialization (a multiple of the identity) needs equal widths, "
                f"got widths={self.widths}"
            )
        if _is_number(self.alpha) and self.alpha < 0:
            raise ConfigError(f"alpha must be >= 0, got {self.alpha}")
        if self.init == "perturbed" and _is_number(self.alpha) and _is_number(self.beta):
            if not 0 < self.beta < self.alpha:
                raise ConfigError(
                    f"perturbed initialization (eq. 9) needs 0 < beta < alpha, "
                    f"got alpha={self.alpha}, beta={self.beta}"
                )

    @property
    def shape(self) -> tuple[int, int]:
        """Shape (n_N, n_0) of the end-to-end matrix."""
        return (self.widths[-1], self.widths[0])

    def init_params(self, key: PRNGKeyArray | None = None) -> tuple[Float[Array, "a b"], ...]:
        """The initial factors (W_1, …, W_N)."""
        n, N, a = self.widths[0], self.depth, self.alpha
        if self.init == "identical":
            return identical_init(a, N, n)
        if self.init == "perturbed":
            return perturbed_init(a, self.beta, N, n)
        if key is None:
            raise ConfigError(f"{self.init} initialization is random: pass a PRNG key")
        if self.init == "gaussian":
            return gaussian_init(key, self.widths, a)
        if self.init == "orthogonal":
            return orthogonal_init(key, self.widths, a)
        k1, k2 = jax.random.split(key)
        G = jax.random.normal(k1, self.shape)
        return balanced_init(a * G / jnp.linalg.norm(G, 2), N, key=k2)

    def __call__(self, params) -> Float[Array, "n_out n_in"]:
        """W = W_N ⋯ W_1."""
        return product(params)

    def vjp(self, params):
        """(W, pullback) with pullback(G)_j = (W_N ⋯ W_{j+1})ᵀ G (W_{j−1} ⋯ W_1)ᵀ (seed 000, eq. (4)).

        Written out rather than taken from autodiff: it reuses the prefix products P_j = W_j ⋯ W_1 and
        pairs the two matmuls of each backward step into one call (tests hold it to ``jax.vjp``).
        """
        prefix = [params[0]]
        for W in params[1:]:
            prefix.append(mm(W, prefix[-1]))

        def pullback(G):
            grads = [None] * len(params)
            S = G  # S_j = (W_N ⋯ W_{j+1})ᵀ G
            for j in range(len(params) - 1, 0, -1):
                grads[j], S = _mm_pair(S, prefix[j - 1].T, params[j].T, S)
            grads[0] = S
            return tuple(grads)

        return prefix[-1], pullback


def product(params) -> Float[Array, "n_out n_in"]:
    """W = W_N ⋯ W_1 of the factors (W_1, …, W_N); also a ready-made ``observe`` for ``fit``."""
    return ft.reduce(lambda W, W_next: mm(W_next, W), params)


def identical_init(alpha: float, depth: int, n: int, W0=None) -> tuple[Float[Array, "n n"], ...]:
    """W_j(0) = α W₀ for every layer (seed 000, eq. (5)); W₀ = I by default."""
    # NumPy, not jnp: built on the host, with no eager device dispatch per run (it is stacked there)
    W0 = np.eye(n) if W0 is None else np.asarray(W0, dtype=np.float64)
    if W0.shape != (n, n):
        raise ConfigError(f"W0 must be {n}×{n}, got {W0.shape}")
    return tuple(alpha * W0 for _ in range(depth))


def perturbed_init(
    alpha: float, beta: float, depth: int, n: int
) -> tuple[Float[Array, "n n"], ...]:
    """W_1(0) = (α − β) I and W_j(0) = α I for j ≥ 2 (seed 000, eq. (9))."""
    eye = np.eye(n)
    return ((alpha - beta) * eye,) + tuple(alpha * eye for _ in range(depth - 1))


def gaussian_init(key: PRNGKeyArray, widths, scale: float) -> tuple[Float[Array, "a b"], ...]:
    """Entries of W_j i.i.d. N(0, scale²)."""
    keys = jax.random.split(key, len(widths) - 1)
    return tuple(
        scale * jax.random.normal(k, (widths[j + 1], widths[j])) for j, k in enumerate(keys)
    )


def orthogonal_init(key: PRNGKeyArray, widths, scale: float) -> tuple[Float[Array, "a b"], ...]:
    """W_j = scale · Q_j with Q_j a Haar-random (semi-)orthogonal n_j × n_{j−1} matrix."""
    keys = jax.random.split(key, len(widths) - 1)
    init = jax.nn.initializers.orthogonal()
    return tuple(scale * init(k, (widths[j + 1], widths[j])) for j, k in enumerate(keys))


def balanced_init(target, depth: int, *, key: PRNGKeyArray | None = None):
    """Balanced factors whose product is ``target`` (Bah, Rauhut, Terstiege & Westdickenberg 2022).

    With target = U Σ Vᵀ (economy SVD, r = min(n_out, n_in)) and random orthogonal Q_j (identity
    without a key): W_1 = Q_1 Σ^{1/N} Vᵀ, W_j = Q_j Σ^{1/N} Q_{j−1}ᵀ, W_N = U Σ^{1/N} Q_{N−1}ᵀ, so that
    W_{j+1}ᵀ W_{j+1} = W_j W_jᵀ for every j.
    """
    target = jnp.asarray(target)
    U, s, Vt = jnp.linalg.svd(target, full_matrices=False)
    r = s.shape[0]
    root = jnp.diag(s ** (1.0 / depth))
    if depth == 1:
        return (target,)
    if key is None:
        Qs = [jnp.eye(r)] * (depth - 1)
    else:
        init = jax.nn.initializers.orthogonal()
        Qs = [init(k, (r, r)) for k in jax.random.split(key, depth - 1)]
    factors = [Qs[0] @ root @ Vt]
    for j in range(1, depth - 1):
        factors.append(Qs[j] @ root @ Qs[j - 1].T)
    factors.append(U @ root @ Qs[-1].T)
    return tuple(factors)


def widths_of(params) -> tuple[int, ...]:
    """(n_0, …, n_N) read off the factors, checking that they chain."""
    widths = [params[0].shape[-1]]
    for j, W in enumerate(params):
        if W.shape[-1] != widths[-1]:
            raise ConfigError(
                f"factor W_{j + 1} has shape {W.shape} but the previous factor outputs {widths[-1]}: "
                "widths cannot chain"
            )
        widths.append(W.shape[-2])
    return tuple(widths)


def as_numpy(params) -> list[np.ndarray]:
    return [np.asarray(W) for W in params]
