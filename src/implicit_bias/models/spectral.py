"""The seed's deep linear model W = W_1 ⋯ W_L on the engine's DeepMatrix, and its spectral initialization.

Seed 004 (Gidel, Bach & Lacoste-Julien 2019) writes ŷ(x) = W_Lᵀ ⋯ W_1ᵀ x and the loss ½n⁻¹‖Y − X W_1 ⋯ W_L‖²
with W_l ∈ R^{r_{l−1}×r_l}, r_0 = p, r_L = d. The engine's ``DeepMatrix`` computes W_N ⋯ W_1 with
W_j ∈ R^{n_j×n_{j−1}}. The map is a reversal, no transposes:

    engine factor j  =  seed factor L + 1 − j,      engine widths (n_0, …, n_L) = (r_L, …, r_0) = (d, …, p),

so that the engine's product W_L^e ⋯ W_1^e equals the seed's W_1 ⋯ W_L ∈ R^{p×d}, which is what
``problems.regression.Regression`` takes. ``to_engine`` / ``from_engine`` convert factor lists.
This module is the one place where the seed's order appears: ``deep_linear`` and ``spectral_init``
return the engine's order W = W_N ⋯ W_1, params (W_1, …, W_N), like every deep model (docs/engine.md).
"""

import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.models.deep_matrix import DeepMatrix, widths_of


def deep_linear(widths) -> DeepMatrix:
    """The seed's model with widths (r_0 = p, r_1, …, r_L = d) as an engine DeepMatrix (reversed widths).

    Thin hidden widths (r_l < min(p, d)) constrain the rank; wide ones overparameterize; L = 1 is the
    plain linear model. Pass the initial factors to ``fit`` as ``params0`` (e.g. ``spectral_init``).
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) < 2 or any(w < 1 for w in widths):
        raise ConfigError(
            f"widths must be (p, r_1, …, r_{{L−1}}, d), at least 2 positive integers, got {widths}"
        )
    return DeepMatrix(depth=len(widths) - 1, widths=widths[::-1], init="gaussian")


def to_engine(seed_factors) -> tuple:
    """(W_1, …, W_L) in the seed's order → the engine's params (checks that the widths chain)."""
    params = tuple(seed_factors)[::-1]
    widths_of(params)  # ConfigError if W_l's columns do not match W_{l+1}'s rows
    return params


def from_engine(params) -> tuple:
    """The engine's params → (W_1, …, W_L) in the seed's order."""
    return tuple(params)[::-1]


def check_widths(widths, p: int, d: int) -> None:
    """The model's ends must match the data: r_0 = p (features), r_L = d (outputs)."""
    if widths[0] != p or widths[-1] != d:
        raise ConfigError(
            f"widths {tuple(widths)} cannot chain with the data: need r_0 = p = {p} and r_L = d = {d}"
        )


def _rect_diag(values, shape) -> np.ndarray:
    D = np.zeros(shape)
    k = min(shape[0], shape[1], len(values))
    D[np.arange(k), np.arange(k)] = values[:k]
    return D


def spectral_init(U, V, delta, widths, *, Q=None) -> tuple:
    """The seed's spectral initialization, returned as engine params.

    Seed 004, "Detailed theorems" (L = 2, hidden width r):
        W_1(0) = U diag(e^{−δ_1}, …) Q ∈ R^{p×r},   W_2(0) = Q⁻¹ diag(e^{−δ_1}, …) Vᵀ ∈ R^{r×d},
    diag(·) rectangular, so W_1(0)W_2(0) = U diag(e^{−2δ_i}) Vᵀ. For depth L ≥ 3 we use the balanced
    extension W_1 = U D Q_1, W_l = Q_{l−1}⁻¹ D Q_l, W_L = Q_{L−1}⁻¹ D Vᵀ with D = diag(e^{−2δ_i/L}), so
    the product is again U diag(e^{−2δ_i}) Vᵀ (Q_l = I by default; L = 2 reproduces the seed's form).
    ``Q``: one invertible r×r matrix (L = 2) or a list of L − 1 of them. Note (finding, see
    docs/seed004.md): the flow keeps the closed form only for orthogonal Q; a non-orthogonal Q changes
    the dynamics of the product.
    """
    U, V = np.asarray(U, dtype=np.float64), np.asarray(V, dtype=np.float64)
    widths = tuple(int(w) for w in widths)
    L = len(widths) - 1
    if L < 1:
        raise ConfigError(f"widths must have at least 2 entries (p, d), got {widths}")
    p, d = widths[0], widths[-1]
    if U.shape != (p, p) or V.shape != (d, d):
        raise ConfigError(
            f"U must be {p}×{p} and V {d}×{d} for widths {widths}, got {U.shape}, {V.shape}"
        )
    r = min(widths)
    delta = np.asarray(delta, dtype=np.float64)
    delta = np.full(r, float(delta)) if delta.ndim == 0 else delta
    if delta.ndim != 1 or delta.size < r:
        raise ConfigError(
            f"delta must be a number or at least min(widths) = {r} numbers, got {delta.shape}"
        )
    delta = delta[:r]
    a = np.exp(-2.0 * delta / L)
    if L == 1:
        return (U @ _rect_diag(a, (p, d)) @ V.T,)
    if Q is None:
        Qs = [np.eye(widths[l]) for l in range(1, L)]
    else:
        Qs = (
            [np.asarray(Q, dtype=np.float64)]
            if L == 2 and np.ndim(Q) == 2
            else [np.asarray(q) for q in Q]
        )
    if len(Qs) != L - 1:
        raise ConfigError(f"need {L - 1} matrices Q_l for depth {L}, got {len(Qs)}")
    for l, q in enumerate(Qs, start=1):
        if q.shape != (widths[l], widths[l]) or abs(np.linalg.det(q)) < 1e-12:
            raise ConfigError(
                f"Q_{l} must be an invertible {widths[l]}×{widths[l]} matrix, got shape {q.shape}"
            )
    factors = [U @ _rect_diag(a, (p, widths[1])) @ Qs[0]]
    for l in range(1, L - 1):
        factors.append(np.linalg.inv(Qs[l - 1]) @ _rect_diag(a, (widths[l], widths[l + 1])) @ Qs[l])
    factors.append(np.linalg.inv(Qs[-1]) @ _rect_diag(a, (widths[L - 1], d)) @ V.T)
    return to_engine(factors)
