"""Gradient descent: the ``GD`` method and its run, chunks of steps inside ``lax.while_loop``.

GD runs entirely inside jitted loops over chunks of ``save_every`` steps, stopping at the first chunk
whose loss is not finite; the host then replays that chunk step by step to report the exact step.
"""

import dataclasses
import functools as ft
import math

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias import progress
from implicit_bias.errors import ConfigError
from implicit_bias.optim.batching import Axes, _member
from implicit_bias.optim.jit import jit
from implicit_bias.optim.objective import descent_direction, objective
from implicit_bias.optim.trajectory import DIVERGED, OK, Trajectory


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["eta", "weight_decay"],
    meta_fields=["n_steps", "save_every", "n_saves", "spacing"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class GD:
    """Gradient descent θ_{k+1} = (1 − 2ηλ) θ_k − η ∇L(θ_k) (seed 000, eq. (6); λ = ``weight_decay``).

    With λ > 0 this is GD on L(θ) + λ‖θ‖² (seed 001's full-batch contrast to SGD); 2ηλ < 1 is required.

    Snapshots every ``save_every`` steps, or at ``n_saves`` (default 200) steps spaced linearly or
    logarithmically (``spacing="log"``: small initializations sit near a saddle for a long time and
    then move fast). ``eta`` is traced: changing it, or vmapping over it, does not
    recompile; the step counts are static.
    """

    eta: float
    n_steps: int
    save_every: int | None = None
    n_saves: int | None = None
    spacing: str = "linear"
    weight_decay: float = 0.0

    def __post_init__(self):
        if isinstance(self.eta, (int, float)) and not self.eta > 0:
            raise ConfigError(f"step size eta must be > 0, got {self.eta}")
        lam = self.weight_decay
        if isinstance(lam, (int, float)) and isinstance(self.eta, (int, float)):
            if lam < 0:
                raise ConfigError(f"weight_decay must be >= 0, got {lam}")
            if 2 * self.eta * lam >= 1:
                raise ConfigError(
                    f"eta·weight_decay = {self.eta * lam:g} >= 1/2: the decay factor 1 − 2ηλ is no "
                    "longer positive"
                )
        if not isinstance(self.n_steps, int):  # rebuilt by JAX during tracing
            return
        if self.n_steps < 1:
            raise ConfigError(f"n_steps must be >= 1, got {self.n_steps}")
        if self.spacing not in ("linear", "log"):
            raise ConfigError(f"spacing must be 'linear' or 'log', got {self.spacing!r}")
        if self.save_every is not None:
            if self.spacing != "linear" or self.n_saves is not None:
                raise ConfigError("give either save_every (linear spacing) or n_saves, not both")
            if self.save_every < 1 or self.n_steps % self.save_every:
                raise ConfigError(
                    f"save_every={self.save_every} must be >= 1 and divide n_steps={self.n_steps}"
                )
        elif self.n_saves is None:
            object.__setattr__(self, "n_saves", min(200, self.n_steps))
        elif self.n_saves < 1:
            raise ConfigError(f"n_saves must be >= 1, got {self.n_saves}")

    def save_steps(self) -> np.ndarray:
        """The snapshot steps 0 = s_0 < s_1 < … < s_S = n_steps."""
        if self.save_every is not None:
            return np.arange(0, self.n_steps + 1, self.save_every)
        if self.spacing == "linear":
            inner = np.linspace(0, self.n_steps, self.n_saves + 1)
        else:
            inner = np.geomspace(1, self.n_steps, self.n_saves)
        return np.unique(np.concatenate([[0], np.round(inner).astype(np.int64), [self.n_steps]]))

    def step(self, model, problem, params):
        """One update θ ← (1 − 2ηλ)θ − η d(θ), d the (preconditioned) gradient."""
        d = descent_direction(model, problem, params)
        decay = 1.0 - 2.0 * self.eta * self.weight_decay
        return jax.tree.map(lambda x, dx: decay * x - self.eta * dx, params, d)

    def solve(self, model, problem, params0, observe, *, axes=None, label="GD"):
        """Run from ``params0``; returns (Trajectory, last finite loss of diverged runs)."""
        return _run_gd(model, problem, self, params0, observe, axes=axes, label=label)


def _nan_like(x, n):
    """An (n, *x.shape) buffer of NaN (zeros for integer leaves); x may be a ShapeDtypeStruct."""
    fill = jnp.nan if jnp.issubdtype(x.dtype, jnp.inexact) else 0
    return jnp.full((n,) + tuple(x.shape), fill, x.dtype)


def _gd_segment(model, problem, method, params, lengths, n_limit, *, observe):
    """``n_limit`` chunks of GD, chunk i being ``lengths[i]`` steps; a non-finite loss freezes the run.

    Returns (params, ok, chunks_done, losses, observed), the buffers of length ``len(lengths)``. After
    a failure ``params`` stay those at the start of the failing chunk and the buffers hold NaN from
    that chunk on. The loop bounds never depend on the run's values, so under ``vmap`` (and split
    over devices) no member waits on another's step count.
    """
    n_buf = lengths.shape[0]

    def step(_, p):
        return method.step(model, problem, p)

    def body(i, carry):
        p, ok, done, losses, obs = carry
        new = jax.lax.fori_loop(0, lengths[i], step, p)
        loss = objective(model, problem, new)
        good = ok & jnp.isfinite(loss)
        p = jax.tree.map(lambda a, b: jnp.where(good, a, b), new, p)
        losses = losses.at[i].set(jnp.where(good, loss, jnp.nan))
        obs = jax.tree.map(
            lambda buf, o: buf.at[i].set(jnp.where(good, o, buf[i])), obs, observe(new)
        )
        return p, good, done + good.astype(done.dtype), losses, obs

    carry = (
        params,
        jnp.asarray(True),
        jnp.asarray(0),
        jnp.full((n_buf,), jnp.nan),
        jax.tree.map(lambda o: _nan_like(o, n_buf), jax.eval_shape(observe, params)),
    )
    return jax.lax.fori_loop(0, n_limit, body, carry)


def _initial(model, problem, params, *, observe):
    return objective(model, problem, params), observe(params)


@jit(static_argnames=("axes", "observe"))
def _gd_segment_jit(model, problem, method, params, lengths, n_limit, *, axes, observe):
    fn = ft.partial(_gd_segment, observe=observe)
    if axes is not None:
        fn = jax.vmap(fn, in_axes=(axes.model, axes.problem, axes.method, axes.params, None, None))
    return fn(model, problem, method, params, lengths, n_limit)


@jit(static_argnames=("axes", "observe"))
def _initial_jit(model, problem, params, *, axes, observe):
    fn = ft.partial(_initial, observe=observe)
    if axes is not None:
        fn = jax.vmap(fn, in_axes=(axes.model, axes.problem, axes.params))
    return fn(model, problem, params)


@jax.jit
def _gd_one_step(model, problem, method, params):
    new = method.step(model, problem, params)
    return new, objective(model, problem, new)


def _replay(model, problem, method, params, start_step: int, max_steps: int) -> tuple[int, float]:
    """The exact step at which the loss stops being finite, replayed from the last good snapshot."""
    last = float(objective(model, problem, params))
    for j in range(1, max_steps + 1):
        params, loss = _gd_one_step(model, problem, method, params)
        if not math.isfinite(float(loss)):
            return start_step + j, last
        last = float(loss)
    return start_step + max_steps, last


def _chunks_per_segment(n_chunks: int, target: int = 25) -> int:
    """About ``target`` host-level segments per run, so a progress bar can move."""
    return max(1, math.ceil(n_chunks / target))


def _run_gd(model, problem, method: GD, params0, observe, *, axes: Axes | None, label: str):
    save_steps = method.save_steps()
    lengths = np.diff(save_steps)
    n_chunks = lengths.size
    n_buf = _chunks_per_segment(n_chunks)
    batched = axes is not None
    # snapshots are gathered on the host as NumPy arrays: no eager device ops in this loop
    loss0, obs0 = jax.tree.map(
        np.asarray, _initial_jit(model, problem, params0, axes=axes, observe=observe)
    )
    time_axis = 1 if batched else 0
    losses = [np.expand_dims(loss0, time_axis)]
    observed = [jax.tree.map(lambda o: np.expand_dims(o, time_axis), obs0)]
    shape = np.shape(loss0)
    ok = np.ones(shape, bool)
    chunks_done = np.zeros(shape, int)
    params, done = params0, 0
    with progress.task(label, total=method.n_steps) as bar:
        while done < n_chunks and ok.any():
            n_limit = min(n_buf, n_chunks - done)
            seg_lengths = np.zeros(n_buf, np.int64)
            seg_lengths[:n_limit] = lengths[done : done + n_limit]
            params, seg_ok, seg_done, seg_loss, seg_obs = _gd_segment_jit(
                model, problem, method, params, jnp.asarray(seg_lengths), n_limit,
                axes=axes, observe=observe,
            )  # fmt: skip
            chunks_done += np.where(ok, np.asarray(seg_done), 0)
            ok &= np.asarray(seg_ok)
            take = (
                (lambda x: np.asarray(x)[:, :n_limit])
                if batched
                else (lambda x: np.asarray(x)[:n_limit])
            )
            losses.append(take(seg_loss))
            observed.append(jax.tree.map(take, seg_obs))
            done += n_limit
            bar.advance(int(seg_lengths.sum()))

    k = np.arange(n_chunks + 1)
    t = np.where(k < chunks_done[..., None] + 1, save_steps.astype(float), np.nan)
    diverged_step = np.full(shape, -1)
    last_loss = np.full(shape, np.nan)
    failed = [(i,) for i in np.flatnonzero(~ok)] if batched else ([()] if not ok else [])
    for idx in failed:  # the rare diverged runs: find the exact step
        i = idx[0] if batched else None
        pick = (lambda tree, ax: _member(tree, ax, i)) if batched else (lambda tree, ax: tree)
        c = int(chunks_done[idx])
        diverged_step[idx], last_loss[idx] = _replay(
            pick(model, axes and axes.model),
            pick(problem, axes and axes.problem),
            pick(method, axes and axes.method),
            pick(params, axes and axes.params),
            int(save_steps[c]),
            int(lengths[c]),
        )
    n_evals = save_steps[np.minimum(chunks_done, n_chunks)]
    traj = Trajectory(
        t=t,
        loss=np.concatenate(losses, axis=time_axis),
        observed=jax.tree.map(lambda *xs: np.concatenate(xs, axis=time_axis), *observed),
        final=params,
        n_evals=np.asarray(n_evals),
        status=np.where(ok, OK, DIVERGED),
        diverged_step=diverged_step,
        method="GD",
    )
    return traj, last_loss
