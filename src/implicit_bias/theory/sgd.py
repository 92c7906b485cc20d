"""Seed 001 (Wang & Jacot): balancedness, approximate rank, the region B_r, and rank jumps.

For A_θ = W_L ⋯ W_1 the seed defines B_r as the parameters that are, for every layer ℓ,

    approximately balanced   ‖W_ℓᵀW_ℓ − W_{ℓ−1}W_{ℓ−1}ᵀ‖_F² ≤ ε₁            (ℓ = 2, …, L)
    approximately rank r     Σ_i f_α(s_i(W_ℓᵀW_ℓ)) ≤ r + ε₂
    bounded                  ‖W_ℓ‖_F² ≤ C

with f_α concave, increasing, f_α(0) = 0 and f_α(x) = 1 for x > α "with some mild assumptions": the
seed leaves the exact form open. The default here is f_α(x) = min(x/α, 1); others are pluggable (a
name from ``F_ALPHA`` or any callable (x, α) ↦ f_α(x)). The seed's claims: B_r is closed under SGD
(θ_t ∈ B_r ⇒ θ_{t+1} ∈ B_r), SGD enters B_r with positive probability, so the approximate rank only
jumps down; at a critical point in B_r, Σ_i f_α(s_i(A)^{2/L}) ≤ r + ε₂ (the seed's Lemma).
"""

import dataclasses
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from implicit_bias.errors import ConfigError


def f_linear(x, alpha):
    """min(x/α, 1): the default f_α (concave, increasing, 0 at 0, 1 above α)."""
    return jnp.minimum(x / alpha, 1.0)


def f_sqrt(x, alpha):
    """min(√(x/α), 1): concave, increasing, 0 at 0, 1 above α; steeper near 0 than ``f_linear``."""
    return jnp.minimum(jnp.sqrt(jnp.maximum(x, 0.0) / alpha), 1.0)


def f_smooth(x, alpha):
    """1 − (1 − x/α)² on [0, α], 1 above: concave, increasing, C¹ at α."""
    u = jnp.clip(x / alpha, 0.0, 1.0)
    return 1.0 - (1.0 - u) ** 2


F_ALPHA: dict[str, Callable] = {"linear": f_linear, "sqrt": f_sqrt, "smooth": f_smooth}


def _f(f) -> Callable:
    if callable(f):
        return f
    if f not in F_ALPHA:
        raise ConfigError(
            f"unknown f_alpha {f!r}; choose one of {sorted(F_ALPHA)} or pass a callable"
        )
    return F_ALPHA[f]


def balancedness(params) -> Float[Array, " Lm1"]:
    """‖W_ℓᵀW_ℓ − W_{ℓ−1}W_{ℓ−1}ᵀ‖_F² for ℓ = 2, …, L (seed 001, condition 1 of B_r)."""
    if len(params) < 2:
        return jnp.zeros(0)
    return jnp.stack(
        [
            jnp.sum((params[l].T @ params[l] - params[l - 1] @ params[l - 1].T) ** 2)
            for l in range(1, len(params))
        ]
    )


def approx_rank(params, alpha: float, f="linear") -> Float[Array, " L"]:
    """Σ_i f_α(s_i(W_ℓᵀW_ℓ)) per layer ℓ (seed 001, condition 2 of B_r); s_i(W_ℓᵀW_ℓ) = s_i(W_ℓ)²."""
    fa = _f(f)
    return jnp.stack([jnp.sum(fa(jnp.linalg.svd(W, compute_uv=False) ** 2, alpha)) for W in params])


def norms2(params) -> Float[Array, " L"]:
    """‖W_ℓ‖_F² per layer (seed 001, condition 3 of B_r)."""
    return jnp.stack([jnp.sum(W**2) for W in params])


def end_to_end_approx_rank(A, depth: int, alpha: float, f="linear") -> Float[Array, ""]:
    """Σ_i f_α(s_i(A)^{2/L}): the seed's Lemma bounds it by r + ε₂ at a critical point in B_r."""
    s = jnp.linalg.svd(A, compute_uv=False)
    return jnp.sum(_f(f)(s ** (2.0 / depth), alpha))


def end_to_end_sv(A, depth: int) -> Float[Array, " k"]:
    """s_i(A)^{2/L}: at a balanced point these equal s_i(W_ℓᵀW_ℓ) for every layer ℓ."""
    return jnp.linalg.svd(A, compute_uv=False) ** (2.0 / depth)


def check_region(r, eps1, eps2, C) -> None:
    """Refuse r, ε₁, ε₂, C ≤ 0 (B_r is defined for positive constants)."""
    for name, v in (("r", r), ("eps1", eps1), ("eps2", eps2), ("C", C)):
        if not np.isfinite(v) or v <= 0:
            raise ConfigError(f"B_r needs {name} > 0, got {name}={v}")


def in_region(
    balance, rank, norm2, *, r: float, eps1: float, eps2: float, C: float
) -> Bool[Array, "..."]:
    """θ ∈ B_r from the per-layer metrics (last axis = layers; leading axes = snapshots, seeds)."""
    check_region(r, eps1, eps2, C)
    balance, rank, norm2 = (np.asarray(x) for x in (balance, rank, norm2))
    ok_bal = np.all(balance <= eps1, axis=-1) if balance.shape[-1] else True
    return ok_bal & np.all(rank <= r + eps2, axis=-1) & np.all(norm2 <= C, axis=-1)


def rank_level(rank, eps2: float) -> np.ndarray:
    """The smallest integer r ≥ 0 with approximate rank ≤ r + ε₂ (rank: per-layer, last axis; max taken).

    Non-finite ranks (a diverged run) give −1.
    """
    if not eps2 > 0:
        raise ConfigError(f"eps2 must be > 0, got {eps2}")
    worst = np.asarray(rank, float).max(axis=-1)
    finite = np.isfinite(worst)
    level = np.maximum(np.ceil(np.where(finite, worst, 0.0) - eps2 - 1e-12), 0)
    return np.where(finite, level, -1).astype(int)


def detect_jumps(t, level) -> list[dict]:
    """Times at which an integer trajectory ``level`` (e.g. ``rank_level``) changes, classified.

    Returns ``[{t, from, to, kind}]`` with kind "down" (level falls) or "up" (level rises); ``t`` is
    the first snapshot at the new level.
    """
    t, level = np.asarray(t), np.asarray(level)
    if t.shape != level.shape or t.ndim != 1:
        raise ConfigError(f"t and level must be 1-d of one length, got {t.shape} and {level.shape}")
    change = np.flatnonzero(np.diff(level) != 0) + 1
    return [
        {
            "t": float(t[k]),
            "from": int(level[k - 1]),
            "to": int(level[k]),
            "kind": "down" if level[k] < level[k - 1] else "up",
        }
        for k in change
    ]


def count_jumps(level) -> tuple[np.ndarray, np.ndarray]:
    """(down, up): numbers of falls and rises of ``level`` along the last axis (any leading axes)."""
    d = np.diff(np.asarray(level), axis=-1)
    return (d < 0).sum(-1), (d > 0).sum(-1)


def first_time(t, flag) -> np.ndarray:
    """The first t at which ``flag`` holds along the last axis (inf where it never does)."""
    flag = np.asarray(flag, bool)
    t = np.broadcast_to(np.asarray(t, float), flag.shape)
    k = np.argmax(flag, axis=-1)
    out = np.take_along_axis(t, k[..., None], axis=-1)[..., 0]
    return np.where(flag.any(-1), out, np.inf)


def leaves_after_entering(flag) -> np.ndarray:
    """Per run (last axis = time): True where the run is in the region at some snapshot and out later."""
    flag = np.asarray(flag, bool)
    entered = np.maximum.accumulate(flag, axis=-1)
    return np.any(entered & ~flag, axis=-1)


def metrics(params, *, alpha: float, f="linear") -> dict:
    """The per-snapshot metrics of seed 001 for one parameter tuple (jit/vmap friendly)."""
    A = params[-1]
    for W in params[-2::-1]:
        A = A @ W
    return {
        "A": A,
        "s": jnp.linalg.svd(A, compute_uv=False),
        "balance": balancedness(params),
        "rank": approx_rank(params, alpha, f),
        "norm2": norms2(params),
    }


def test_errors(A, problem) -> np.ndarray:
    """Relative error on the unobserved entries, for a stack of estimates A[..., a, b] (NumPy)."""
    mask = np.asarray(problem.mask())
    X_star = np.asarray(problem.X_star)
    diff = np.where(~mask, np.asarray(A) - X_star, 0.0)
    ref = np.linalg.norm(np.where(~mask, X_star, 0.0))
    return np.sqrt((diff**2).sum((-1, -2))) / max(ref, np.finfo(float).tiny)


@dataclasses.dataclass(frozen=True)
class Observer:
    """``observe`` for ``fit``/``SGD.solve``: ``metrics(params, alpha, f)`` at each snapshot (hashable)."""

    alpha: float
    f: str | Callable = "linear"
    keep_params: bool = False  # also record the factors (for restarts from checkpoints)

    def __call__(self, params) -> dict:
        out = metrics(params, alpha=self.alpha, f=self.f)
        return out | {"params": tuple(params)} if self.keep_params else out


# ---------------------------------------------------------------------------------------------
# B_r membership at every step (evaluated inside the jitted SGD loop)


def sq_singular_values(W) -> Float[Array, " k"]:
    """s_i(W)² = eigenvalues of WᵀW; closed form for 2×2 (λ = τ/2 ± √(τ²/4 − δ)), else ``eigvalsh``."""
    M = W.T @ W
    if M.shape == (2, 2):
        half = 0.5 * (M[0, 0] + M[1, 1])
        det = M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]
        root = jnp.sqrt(jnp.maximum(half**2 - det, 0.0))
        return jnp.maximum(jnp.stack([half + root, half - root]), 0.0)
    return jnp.maximum(jnp.linalg.eigvalsh(M)[::-1], 0.0)


@dataclasses.dataclass(frozen=True)
class Region:
    """The constants of B_r (seed 001): ε₁ (balancedness), ε₂ (approximate-rank slack), C (‖W_ℓ‖_F²),
    α and f_α of the approximate rank; ``r`` is the region watched for entries and exits (hashable,
    static under jit)."""

    r: int
    eps1: float
    eps2: float
    C: float
    alpha: float
    f: str = "linear"

    def __post_init__(self):
        check_region(max(self.r, 1e-300), self.eps1, self.eps2, self.C)
        _f(self.f)


# which condition of B_r fails (a bit mask; 0 = θ ∈ B_r)
WHY_BALANCE, WHY_RANK, WHY_BOUND = 1, 2, 4


def region_state(params, region: Region) -> tuple[Float[Array, ""], Array]:
    """(b_level, why): b_level = the smallest integer r ≥ 0 with θ ∈ B_r, +inf when θ is in no B_r
    (unbalanced beyond ε₁ or some ‖W_ℓ‖_F² > C); why = the bit mask of the conditions of
    B_{region.r} that fail (``WHY_BALANCE | WHY_RANK | WHY_BOUND``). Jit/vmap friendly."""
    fa = _f(region.f)
    rank = jnp.stack([jnp.sum(fa(sq_singular_values(W), region.alpha)) for W in params])
    level = jnp.maximum(jnp.ceil(jnp.max(rank) - region.eps2 - 1e-12), 0.0)
    bal = balancedness(params)
    bounded = jnp.all(norms2(params) <= region.C)
    balanced = jnp.all(bal <= region.eps1) if bal.shape[0] else jnp.asarray(True)
    ok = bounded & balanced & jnp.isfinite(level)
    why = (
        WHY_BALANCE * (~balanced).astype(int)
        + WHY_RANK * (~(level <= region.r)).astype(int)
        + WHY_BOUND * (~bounded).astype(int)
    )
    return jnp.where(ok, level, jnp.inf), why


def b_level(params, region: Region) -> Float[Array, ""]:
    """The smallest integer r ≥ 0 with θ ∈ B_r (+inf: in no B_r). θ ∈ B_r ⇔ b_level(θ) ≤ r, so
    "B_r is closed under SGD for every r" ⇔ b_level never increases."""
    return region_state(params, region)[0]

