"""Exact reductions: when a matrix run is really a run on a few scalars, run the scalars.

Seed 000 (Chou, Gieshoff, Maly & Rauhut 2024), §2: for a symmetric target Ŵ = V Λ Vᵀ and square factors
that start diagonal in the basis V (identical init αI, eq. (5); the perturbed init (9); any α_j I), every
iterate stays diagonal in V: W_j^{(k)} = V D_j^{(k)} Vᵀ. The diagonals follow GD (or gradient flow) on
the scalar problems ½(∏_j d_{j,i} − λ_i)², which for identical layers is eq. (7):

    d_{k+1} = d_k − η d_k^{N−1} (d_k^N − λ).

``try_reduce`` recognises that case, runs the n scalar problems with the same method (same code
path, same step size or tolerances), and rebuilds the factors V D_j Vᵀ at every snapshot.
"""

import dataclasses
import functools as ft

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias import progress
from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.optim.batching import solve_batch
from implicit_bias.optim.flow import GradientFlow
from implicit_bias.optim.gd import GD
from implicit_bias.optim.objective import identity
from implicit_bias.problems.full import FullObservation

PATH = "diagonal reduction (seed 000, eq. 7)"


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DiagonalTarget:
    """The scalar problems ½ Σ_i (x_i − λ_i)² on the eigenvalues λ of Ŵ."""

    lam: jax.Array

    def loss(self, x):
        return 0.5 * jnp.sum((x - self.lam) ** 2)

    def grad(self, x):
        return x - self.lam


@ft.partial(jax.tree_util.register_dataclass, data_fields=[], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class DiagonalLayers:
    """x = d_N ⊙ ⋯ ⊙ d_1 for D = (d_1, …, d_N) stacked as an (N, n) array."""

    def __call__(self, D):
        return jnp.prod(D, axis=0)

    def vjp(self, D):
        # ∂x/∂d_j = ∏_{l≠j} d_l, from exclusive prefix and suffix products (no division by zero)
        ones = jnp.ones_like(D[:1])
        before = jnp.cumprod(jnp.concatenate([ones, D[:-1]]), axis=0)
        after = jnp.cumprod(jnp.concatenate([ones, D[:0:-1]]), axis=0)[::-1]
        return before[-1] * D[-1], lambda G: before * after * G[None, :]


def _diagonal_in(V: np.ndarray, W: np.ndarray, tol: float = 1e-12) -> np.ndarray | None:
    D = V.T @ W @ V
    off = D - np.diag(np.diag(D))
    scale = max(np.abs(D).max(), 1e-300)
    return np.diag(D) if np.abs(off).max() <= tol * scale else None


def applies(model, problem, params0) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(λ, V, D0) if the diagonal reduction is exact for this model, problem and start; else None."""
    if not isinstance(model, DeepMatrix) or not isinstance(problem, FullObservation):
        return None
    if len(set(model.widths)) != 1 or model.depth < 1:
        return None
    try:
        W_hat = np.asarray(problem.W_hat)
        params = [np.asarray(W) for W in params0]
    except jax.errors.TracerArrayConversionError:
        return None
    if W_hat.ndim != 2 or not np.allclose(W_hat, W_hat.T, rtol=0, atol=1e-14 * np.abs(W_hat).max()):
        return None
    lam, V = np.linalg.eigh(W_hat)
    diags = [_diagonal_in(V, W) for W in params]
    if any(d is None for d in diags):
        return None
    return lam, V, np.stack(diags)


def _factors(V, Dk):
    """(V diag(d_1) Vᵀ, …, V diag(d_N) Vᵀ) for one snapshot Dk of shape (N, n)."""
    return tuple((V * Dk[j][None, :]) @ V.T for j in range(Dk.shape[0]))


@ft.partial(jax.jit, static_argnames=("observe", "batched"))
def _rebuild(V, D, final, observe, batched=False):
    """``observe`` of the factors V diag(d_j) Vᵀ at every snapshot, and the final factors."""

    def one(V, D, final):
        D = jnp.nan_to_num(D)  # snapshots after a divergence are NaN; they are cut off later
        return jax.lax.map(lambda Dk: observe(_factors(V, Dk)), D), _factors(V, final)

    return jax.vmap(one)(V, D, final) if batched else one(V, D, final)


def try_reduce(model, problem, method, params0, observe, *, label: str):
    """Run the exact diagonal reduction if it applies; returns (Trajectory, last_loss) or None."""
    if not isinstance(method, (GD, GradientFlow)):
        return None
    found = applies(model, problem, params0)
    if found is None:
        return None
    lam, V, D0 = found
    progress.note(
        f"{label}: using the exact {PATH}: {lam.size} scalar problems of depth {model.depth}"
    )
    small, target = DiagonalLayers(), DiagonalTarget(lam=jnp.asarray(lam))
    traj, last_loss = method.solve(small, target, jnp.asarray(D0), identity, label=label)
    observed, final = _rebuild(jnp.asarray(V), traj.observed, traj.final, observe)
    traj = dataclasses.replace(traj, observed=observed, final=final, path=PATH)
    return traj, last_loss


def try_reduce_batch(models, problems, method, params0s, observe, *, label: str):
    """The batched version for ``fit_batch``: lists of members; a batched Trajectory or None.

    Applies only if the reduction is exact for every member.
    """
    first = method[0] if isinstance(method, list) else method
    if not isinstance(first, (GD, GradientFlow)):
        return None
    found = [applies(m, p, x) for m, p, x in zip(models, problems, params0s)]
    if any(f is None for f in found):
        return None
    progress.note(f"{label}: using the exact {PATH} for all {len(found)} runs")
    traj = solve_batch(
        DiagonalLayers(),
        [DiagonalTarget(lam=jnp.asarray(lam)) for lam, _, _ in found],
        method,
        [jnp.asarray(D0) for _, _, D0 in found],
        identity,
        label=label,
    )
    Vs = np.stack([V for _, V, _ in found])
    observed, final = _rebuild(Vs, traj.observed, traj.final, observe, batched=True)
    observed, final = jax.tree.map(np.asarray, (observed, final))
    return dataclasses.replace(traj, observed=observed, final=final, path=PATH)
