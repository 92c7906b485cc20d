"""Sharpness λ_max(∇²L(θ)) along a run, and the sharpness of the gradient-flow limit ("GFS sharpness").

    s = sharpness_along(model, problem, traj, k=2)        # s.t, s.values[:, 0] = λ_max at the snapshots
    g = gfs_sharpness(model, problem, params)              # g.value[0] = λ_max at the flow's limit

``sharpness_along`` needs a trajectory that observed the parameters (``observe=identity``, the default).
With at most ``DENSE_MAX`` parameters it forms the exact Hessian ∇²L in float64 (``jax.hessian`` of the
flattened objective, vmapped over the snapshots in chunks, one jitted call per chunk) and takes its
top k eigenvalues by LAPACK's ``dsyevr`` (those k only); above, Lanczos (``objective.sharpness``: SciPy's ``eigsh`` on
Hessian–vector products) snapshot by snapshot. A batched trajectory (leading axis B) gives values of
shape (B, S, k), NaN at the padding after a divergence.

Measured cost per snapshot (float64, after compilation, 200 snapshots; ``tests/test_sharpness.py``
prints it; 2026-12-05 on 2 cores shared with other jobs, load ~8, so an idle core is faster): the
scalar network of depth 3 (3 parameters) ≈ 40 µs; DeepMatrix depth 3 on 4×4 (48 parameters)
≈ 0.5 ms; 6×6 completion of depth 3 (108 parameters) ≈ 3 ms — cheap enough to record at every
snapshot of a small run. Compilation (once per model structure and chunk size) ≈ 0.3–1.5 s.

``gfs_sharpness`` runs the exact gradient flow θ̇ = −∇L(θ) from ``params`` (``fit`` with
``GradientFlow``, a stiff-safe solver: Kvaerno5 up to ``DENSE_MAX`` parameters, the matrix-free
``"auto"`` — Tsit5 switching to Rosenbrock — above) until the loss falls below
``loss_tol`` or ``t1``, and returns λ_max at the end with the flow's final loss and gradient norm,
so that a caller can tell whether the limit was reached (Kreisler, Nacson, Soudry & Carmon, ICML
2023: GD decreases this quantity monotonically on scalar networks).

``hessian_top_k_each`` takes many (model, problem, point) triples at once (a sweep task's configs);
the runner's rows built from these are ``optim.sharpness_rows``.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from implicit_bias.errors import ConfigError
from implicit_bias.optim import trajectory as _trajectory
from implicit_bias.optim.batching import _stack as _batch_stack
from implicit_bias.optim.jit import jit
from implicit_bias.optim.objective import gradient, objective, sharpness as lanczos_sharpness

DENSE_MAX = 2000  # parameters: the exact Hessian (≤ 32 MB in float64) up to here, Lanczos above


@dataclasses.dataclass(frozen=True)
class Sharpness:
    """The top-k Hessian eigenvalues at a trajectory's snapshots.

    t       the snapshot times (steps for GD) that were evaluated, shape (S,) or (B, S)
    values  λ_1 ≥ … ≥ λ_k at each, shape (S, k) or (B, S, k); NaN where the snapshot is padding
    method  "dense" (exact Hessian, eigvalsh) or "lanczos" (eigsh on HVPs)
    """

    t: np.ndarray
    values: np.ndarray
    method: str

    @property
    def max(self) -> np.ndarray:
        """λ_max at each snapshot."""
        return self.values[..., 0]


def _hessian(model, problem, p):
    """∇²L at one point ``p`` (a pytree), flattened, made exactly symmetric (autodiff's H is
    symmetric only to round-off)."""
    flat, unravel = ravel_pytree(p)
    H = jax.hessian(lambda x: objective(model, problem, unravel(x)))(flat)
    return 0.5 * (H + H.T)


@jit
def _dense_hessians(model, problem, stacked):
    """The exact Hessian at each member of ``stacked`` (a pytree with a leading axis), in one
    jitted vmap. The eigenvalues are taken on the host: LAPACK's ``syevd`` through NumPy was 3–20×
    faster than ``jnp.linalg.eigvalsh`` on the CPU for these sizes (measured at n = 108)."""
    return jax.vmap(lambda p: _hessian(model, problem, p))(stacked)


def _one_blas_thread():
    """LAPACK on one thread: small eigenproblems gain nothing from threads, and on a loaded machine
    (XLA's threads running beside) threaded ``syevd`` at n = 108 took 50 ms instead of 0.9 ms
    (measured). ``threadpoolctl`` where installed, else nothing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _top_k_eigenvalues(H: np.ndarray, k: int) -> np.ndarray:
    """The k largest eigenvalues of each symmetric matrix in ``H`` (P, n, n), largest first: LAPACK's
    ``dsyevr`` asked for those k only (index range n − k + 1 … n), one matrix at a time on one
    thread. For 155 matrices of 48 × 48 (a sweep task's Hessians) 7.1 ms against 10.8 ms for
    NumPy's batched ``eigvalsh`` of every eigenvalue (measured, 1 core)."""
    from scipy.linalg import lapack

    P, n = H.shape[0], H.shape[-1]
    out = np.empty((P, k))
    with _one_blas_thread():
        for i in range(P):
            w, _, m, _, info = lapack.dsyevr(H[i], compute_v=0, range="I", il=n - k + 1, iu=n)
            if info != 0 or m != k:  # pragma: no cover - LAPACK failed: the full solver
                w = np.linalg.eigvalsh(H[i])[n - k :]
            out[i] = w[:k][::-1]
    return out


def _jittable(x) -> bool:
    """Whether ``x`` can be passed to a jitted function (a pytree of arrays and numbers)."""
    return all(isinstance(leaf, (jax.Array, np.ndarray, int, float, complex, np.generic))
               for leaf in jax.tree.leaves(x))  # fmt: skip


def hessian_top_k(model, problem, params, k: int = 1) -> np.ndarray:
    """λ_1 ≥ … ≥ λ_k of ∇²L at each point of ``params`` (a list of pytrees, or one pytree stacked
    along a leading axis): (P, k), NaN at a non-finite point. Dense up to ``DENSE_MAX`` parameters,
    else Lanczos."""
    if isinstance(params, list):
        params = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *params)
    params = jax.tree.map(np.asarray, params)
    leaves = jax.tree.leaves(params)
    P = leaves[0].shape[0]
    n = sum(int(np.prod(x.shape[1:])) for x in leaves)
    if not 1 <= k <= n:
        raise ConfigError(f"k must be between 1 and the parameter count {n}, got {k}")
    out = np.full((P, k), np.nan)
    finite = np.all([np.all(np.isfinite(x.reshape(P, -1)), axis=1) for x in leaves], axis=0)
    rows = np.flatnonzero(finite)
    if n <= DENSE_MAX:
        # a model or problem that is not a pytree cannot be a jit argument: close over it instead
        dense = (
            _dense_hessians
            if _jittable(model) and _jittable(problem)
            else _dense_hessians.__wrapped__
        )
        chunk = int(max(1, min(4096, 2**27 // (8 * n * n), rows.size)))
        for s in range(0, rows.size, chunk):
            idx = rows[s : s + chunk]
            take = np.concatenate([idx, np.repeat(idx[:1], chunk - idx.size)])  # one chunk size
            block = jax.tree.map(lambda x: jnp.asarray(x[take]), params)
            H = np.asarray(dense(model, problem, block))[: idx.size]
            good = np.all(np.isfinite(H), axis=(1, 2))  # finite params, overflowing Hessian: NaN
            out[idx[good]] = _top_k_eigenvalues(H[good], k)
        return out
    for i in rows:
        one = jax.tree.map(lambda x: jnp.asarray(x[i]), params)
        out[i] = lanczos_sharpness(model, problem, one, k=k)
    return out


def sharpness_along(model, problem, traj, k: int = 1, every: int = 1) -> Sharpness:
    """λ_1 ≥ … ≥ λ_k of ∇²L at every ``every``-th snapshot of ``traj`` (and always the last one).

    ``traj`` must have observed the parameters (``fit``'s default ``observe``); a batched trajectory
    (leading axis B, one model and problem shared by the members) gives (B, S, k).
    """
    if every < 1:
        raise ConfigError(f"every must be >= 1, got {every}")
    t = np.asarray(traj.t)
    batched = t.ndim == 2
    obs = traj.observed
    final_struct = jax.tree.structure(traj.final)
    if jax.tree.structure(obs) != final_struct:
        raise ConfigError(
            "sharpness_along needs the parameters at the snapshots: run fit with the default "
            "observe (the parameters), not a custom observer"
        )
    S = t.shape[-1]
    pick = np.unique(np.concatenate([np.arange(0, S, every), [S - 1]]))
    if batched:
        B = t.shape[0]
        stacked = jax.tree.map(lambda x: np.asarray(x)[:, pick].reshape((-1,) + x.shape[2:]), obs)
        vals = hessian_top_k(model, problem, stacked, k=k).reshape(B, pick.size, k)
        vals[~np.isfinite(t[:, pick])] = np.nan
        t_out = t[:, pick]
    else:
        stacked = jax.tree.map(lambda x: np.asarray(x)[pick], obs)
        vals = hessian_top_k(model, problem, stacked, k=k)
        t_out = t[pick]
    n = sum(int(np.prod(np.shape(x)[(2 if batched else 1) :])) for x in jax.tree.leaves(obs))
    return Sharpness(t=t_out, values=vals, method="dense" if n <= DENSE_MAX else "lanczos")


_trajectory._sharpness_along = sharpness_along  # Trajectory.sharpness (see its docstring)


@dataclasses.dataclass(frozen=True)
class GFSSharpness:
    """The sharpness of the gradient-flow solution from a point.

    value      λ_1 ≥ … ≥ λ_k of ∇²L at the flow's end point
    loss       the flow's final loss (compare with ``loss_tol``: the limit was reached if below)
    grad_norm  ‖∇L‖ at the end point
    t          the flow time at the end (the stopping time when ``loss_tol`` was hit)
    reached    loss ≤ loss_tol, or ‖∇L‖ ≤ grad_tol (a critical point with positive loss)
    params     the end point
    """

    value: np.ndarray
    loss: float
    grad_norm: float
    t: float
    reached: bool
    params: object


def gfs_sharpness(model, problem, params, *, k: int = 1, t1: float = 1e4, loss_tol: float = 1e-24,
                  grad_tol: float = 1e-12, solver: str | None = None, rtol: float = 1e-10,
                  atol: float = 1e-12, max_steps: int = 200_000) -> GFSSharpness:  # fmt: skip
    """λ_max (top k) at the limit of the exact gradient flow started at ``params`` (the "GFS
    sharpness" of Kreisler et al. 2023), with the flow's final loss and gradient norm.

    The flow runs by ``fit(model, problem, GradientFlow(t1, loss_tol, solver))`` from ``params``
    (``solver`` default: the implicit, stiff-safe "kvaerno5" up to ``DENSE_MAX`` parameters or for a
    preconditioned model, the matrix-free "auto" above). Near a
    minimizer of a loss that is zero there, the distance to the minimizer set is O(√loss), and so is
    the error of λ_max: ``loss_tol`` = 1e-24 puts it at round-off.
    """
    from implicit_bias.optim.api import fit, not_recording
    from implicit_bias.optim.flow import GradientFlow

    if solver is None:  # measured on the scalar network: "auto" ran to t1 past loss_tol, tsit5
        # stalled at loss ~1e-20 (its atol), kvaerno5 stopped at loss_tol (5e-25, t = 7)
        n = sum(int(np.size(x)) for x in jax.tree.leaves(params))
        matrix_free = n > DENSE_MAX and getattr(model, "precondition", None) is None
        solver = "auto" if matrix_free else "kvaerno5"
    method = GradientFlow(t1=t1, n_saves=2, spacing="log", t_first=min(1.0, t1 / 2), rtol=rtol,
                          atol=atol, solver=solver, loss_tol=loss_tol, max_steps=max_steps)  # fmt: skip
    with not_recording():  # a computation, not one of the caller's runs (runner's sharpness rows)
        traj = fit(model, problem, method, params0=params)
    end = traj.final
    loss = float(objective(model, problem, end))
    g = ravel_pytree(gradient(model, problem, end))[0]
    grad_norm = float(jnp.linalg.norm(g))
    value = hessian_top_k(model, problem, [end], k=k)[0]
    reached = bool(loss <= loss_tol or grad_norm <= grad_tol)
    return GFSSharpness(value=value, loss=loss, grad_norm=grad_norm, t=float(np.asarray(traj.t)[-1]),
                        reached=reached, params=end)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# many (model, problem, point) triples at once (a sweep task's batch: ``sharpness_rows``)


@jit
def _dense_hessians_each(models, problems, stacked):
    """The exact Hessian at each point of ``stacked``, each with its own model and problem (all
    three stacked along one leading axis): ``_dense_hessians`` vmapped over the pairs too."""
    return jax.vmap(_hessian)(models, problems, stacked)


def _stack(items: list):
    """Pytrees with one structure, stacked along a new leading axis (``batching._stack``)."""
    return _batch_stack(items)[0]


def hessian_top_k_each(models: list, problems: list, points: list, k: int = 1) -> np.ndarray:
    """λ_1 ≥ … ≥ λ_k of ∇²L_i at θ_i for each triple (model_i, problem_i, θ_i): (P, k), NaN at a
    non-finite point. The models (and the problems) must share one pytree structure (a batch of
    configs of one experiment); exact dense Hessians in jitted chunks of one shape, as
    ``hessian_top_k``, up to ``DENSE_MAX`` parameters."""
    P = len(points)
    flat = [np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(p)]) for p in points]
    n = flat[0].size
    if n > DENSE_MAX:
        raise ConfigError(f"hessian_top_k_each is dense only: {n} > DENSE_MAX = {DENSE_MAX} parameters")
    if not 1 <= k <= n:
        raise ConfigError(f"k must be between 1 and the parameter count {n}, got {k}")
    out = np.full((P, k), np.nan)
    finite = np.flatnonzero([np.all(np.isfinite(f)) for f in flat])
    # a triple that recurs (a grid's members that share α and the problem start at one point) is
    # computed once: the same bytes in, the same Hessian out
    key = lambda i: b"".join(np.ascontiguousarray(x).tobytes() for x in  # noqa: E731
                             jax.tree.leaves((models[i], problems[i])) + [flat[i]])  # fmt: skip
    first: dict[bytes, int] = {}
    same = {i: first.setdefault(key(i), i) for i in finite}
    rows = np.array(sorted(set(same.values())), dtype=int)
    chunk = int(max(1, min(4096, 2**27 // (8 * n * n), rows.size)))
    for s in range(0, rows.size, chunk):
        idx = rows[s : s + chunk]
        take = np.concatenate([idx, np.repeat(idx[:1], chunk - idx.size)])  # one chunk size
        H = _dense_hessians_each(
            _stack([models[i] for i in take]),
            _stack([problems[i] for i in take]),
            _stack([points[i] for i in take]),
        )
        H = np.asarray(H)[: idx.size]
        good = np.all(np.isfinite(H), axis=(1, 2))
        out[idx[good]] = _top_k_eigenvalues(H[good], k)
    for i, j in same.items():
        out[i] = out[j]
    return out
