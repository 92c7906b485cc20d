"""Hadamard (diagonal-network) parametrizations of a vector, seed 003 (Chou, Maly & Rauhut 2022).

    positive   x̃ = w^{(N)} ⊙ ⋯ ⊙ w^{(1)}              (``factors="distinct"``, params (N, n))
               x̃ = w^{⊙N}                              (``factors="identical"``, params (1, n))
    signed     x̂ = ⊙_k u^{(k)} − ⊙_k v^{(k)}          (params (2, N, n))
               x̂ = u^{⊙N} − v^{⊙N}                     (params (2, 1, n))

With identical initialization the N factors stay equal under gradient flow and x̃ = w^{⊙N} (seed 003,
"Simplification for identical initialization"). Note the time scale: each distinct factor moves by
ẇ^{(k)} = −w^{N−1} ⊙ g, while the reduced model's w moves by ẇ = −N w^{N−1} ⊙ g (g = Aᵀ(Ax̃ − y)); the
paths agree up to t ↦ Nt and the limits agree (tests hold the gradients to this factor N). Everything
else here, and the seed's theorems, use the reduced model's flow.

``WeightNormalized`` is w = r v/‖v‖, x̃ = w^{⊙N}, with the two-time-scale flow ṙ = −η_r ∂_r L̃,
v̇ = −∇_v L̃, r(0) = r₀, v(0) = 1/√n (Chou, Rauhut & Ward 2023), through the engine's ``precondition``.
"""

import dataclasses
import functools as ft
import numbers

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from implicit_bias.errors import ConfigError


def _num(x) -> bool:
    return isinstance(x, numbers.Real)


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["alpha"],
    meta_fields=["depth", "n", "signed", "factors"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class Hadamard:
    """Depth-N Hadamard product model of a vector in R^n, positive or signed, initialized at α·1."""

    depth: int
    n: int
    signed: bool = False
    factors: str = "identical"
    alpha: float = 1e-3

    def __post_init__(self):
        if not _num(self.depth):  # rebuilt by JAX during tracing
            return
        if int(self.depth) != self.depth or self.depth < 1:
            raise ConfigError(f"depth N must be an integer >= 1, got {self.depth!r}")
        if int(self.n) != self.n or self.n < 1:
            raise ConfigError(f"n must be an integer >= 1, got {self.n!r}")
        if self.factors not in ("identical", "distinct"):
            raise ConfigError(f"factors must be 'identical' or 'distinct', got {self.factors!r}")
        if _num(self.alpha) and not self.alpha > 0:
            raise ConfigError(f"initialization scale alpha must be > 0, got {self.alpha}")

    @property
    def shape(self) -> tuple[int]:
        return (self.n,)

    @property
    def n_factors(self) -> int:
        return 1 if self.factors == "identical" else self.depth

    def param_shape(self) -> tuple[int, ...]:
        core = (self.n_factors, self.n)
        return (2, *core) if self.signed else core

    def init_params(self, key=None) -> Float[Array, "..."]:
        """Every factor (u, v, w) equal to α·1 (seed 003's w₀ = u₀ = v₀ = α1)."""
        return jnp.full(self.param_shape(), self.alpha, dtype=jnp.float64)

    def from_init(self, w0) -> Float[Array, "..."]:
        """Params from a given positive initial factor vector w0 (n,) or full array; checks positivity."""
        w0 = jnp.asarray(w0, dtype=jnp.float64)
        full = jnp.broadcast_to(w0, self.param_shape())
        if not bool(jnp.all(full > 0)):
            raise ConfigError("the initialization must be positive (every entry > 0)")
        return full

    def __call__(self, params) -> Float[Array, " n"]:
        power = self.depth // self.n_factors  # N for w^{⊙N}, 1 for ⊙_k w^{(k)}
        part = jnp.prod(params, axis=-2) ** power
        return part[0] - part[1] if self.signed else part


def x_tilde0(model: Hadamard, params0) -> Float[Array, " n"]:
    """The initial product(s): x̃(0), or for the signed model (u^{⊙N}(0), v^{⊙N}(0)) stacked (2, n)."""
    power = model.depth // model.n_factors
    return jnp.prod(params0, axis=-2) ** power


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["r0", "eta_r"],
    meta_fields=["depth", "n"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class WeightNormalized:
    """x̃ = (r v/‖v‖)^{⊙N}; params (r, v); the flow is ṙ = −η_r ∂_r L̃, v̇ = −∇_v L̃ (seed 003)."""

    depth: int
    n: int
    r0: float = 1.0
    eta_r: float = 0.1

    def __post_init__(self):
        if not _num(self.depth):
            return
        if int(self.depth) != self.depth or self.depth < 1:
            raise ConfigError(f"depth N must be an integer >= 1, got {self.depth!r}")
        if _num(self.r0) and not self.r0 > 0:
            raise ConfigError(f"r0 must be > 0, got {self.r0}")
        if _num(self.eta_r) and not self.eta_r > 0:
            raise ConfigError(f"eta_r (the rate of the magnitude r) must be > 0, got {self.eta_r}")

    @property
    def shape(self) -> tuple[int]:
        return (self.n,)

    def init_params(self, key=None):
        """(r(0), v(0)) = (r₀, 1/√n · 1)."""
        return (jnp.asarray(self.r0, dtype=jnp.float64), jnp.full((self.n,), self.n**-0.5))

    def __call__(self, params) -> Float[Array, " n"]:
        r, v = params
        return (r * v / jnp.linalg.norm(v)) ** self.depth

    def precondition(self, params, g):
        """The two time scales: the r-component of the gradient times η_r."""
        gr, gv = g
        return (self.eta_r * gr, gv)
