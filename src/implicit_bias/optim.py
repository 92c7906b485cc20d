"""How parameters move: gradient descent and exact gradient flow, one entry verb, one result type.

    traj = fit(model, problem, GD(eta=1e-3, n_steps=10_000), key)
    traj = fit(model, problem, GradientFlow(t1=50.0), key)

The objective is always ``problem.loss(model(params))``. Its gradient is the model's pullback of the
problem's end-to-end gradient: ``model.vjp(params)`` (hand-written chain rule, e.g. seed 000 eq. (4))
when the model has one, ``jax.vjp`` otherwise; ``problem.grad`` when the problem has one,
``jax.grad(problem.loss)`` otherwise.

GD runs entirely inside ``lax.while_loop`` over chunks of ``save_every`` steps (``lax.scan`` inside),
stopping at the first chunk whose loss is not finite; the host then replays that chunk step by step to
report the exact step. Gradient flow is integrated by diffrax with an adaptive Runge–Kutta method.
"""

import dataclasses
import functools as ft
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree

from implicit_bias import progress
from implicit_bias.errors import ConfigError, DivergenceError, SolverError

OK, DIVERGED, SOLVER_FAILED, STOPPED_AT_TOL = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------
# the objective


def _identity(params):
    return params


def end_to_end_gradient(problem, X):
    """∇_X L(X): ``problem.grad`` if the problem writes it out, autodiff otherwise."""
    grad = getattr(problem, "grad", None)
    return grad(X) if grad is not None else jax.grad(problem.loss)(X)


def gradient(model, problem, params) -> PyTree:
    """∇_θ problem.loss(model(θ)) as the model's pullback of the end-to-end gradient."""
    vjp = getattr(model, "vjp", None)
    if vjp is not None:
        X, pullback = vjp(params)
        return pullback(end_to_end_gradient(problem, X))
    X, pullback = jax.vjp(model, params)
    return pullback(end_to_end_gradient(problem, X))[0]


def descent_direction(model, problem, params) -> PyTree:
    """∇L(θ), or ``model.precondition(θ, ∇L(θ))`` when the model defines one.

    The hook for flows that are not plain gradient flows of the parameters: different rates for
    different parameter groups (weight normalization, ṙ = −η_r ∂_r L), or a Riemannian metric (the
    end-to-end product flow of balanced factorizations). GD steps along it and gradient flow follows it.
    """
    g = gradient(model, problem, params)
    precondition = getattr(model, "precondition", None)
    return g if precondition is None else precondition(params, g)


def objective(model, problem, params) -> Float[Array, ""]:
    return problem.loss(model(params))


# ---------------------------------------------------------------------------------------------
# methods


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


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["t1", "rtol", "atol", "loss_tol"],
    meta_fields=["n_saves", "spacing", "t_first", "solver", "max_steps"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class GradientFlow:
    """Exact gradient flow θ̇ = −∇L(θ) on [0, t1] by an adaptive Runge–Kutta solver (diffrax).

    Snapshots at ``n_saves`` times, linearly or logarithmically spaced (``spacing="log"`` starts at
    ``t_first``; useful for small initializations whose flow sits near a saddle for a long time).
    ``loss_tol`` stops the solve as soon as the loss falls below it (a traced value: runs batched
    by ``fit_batch`` may each have their own).

    ``solver``: the explicit ``"tsit5"`` (default), ``"dopri5"``, ``"dopri8"``, or the implicit
    ``"kvaerno5"`` (ESDIRK, diffrax) for stiff flows, e.g. the tail of a Hadamard flow whose
    off-support coordinates are tiny (seed 003): there it takes ~50× fewer steps than Tsit5, each
    with a Jacobian and Newton iterations. ``Trajectory.n_evals`` counts gradient evaluations for the
    explicit solvers and steps (accepted + rejected) for the implicit one.
    """

    t1: float
    n_saves: int = 200
    rtol: float = 1e-8
    atol: float = 1e-10
    spacing: str = "linear"
    t_first: float | None = None
    solver: str = "tsit5"
    max_steps: int = 1_000_000
    loss_tol: float | None = None

    def __post_init__(self):
        if self.spacing not in ("linear", "log"):
            raise ConfigError(f"spacing must be 'linear' or 'log', got {self.spacing!r}")
        if self.solver not in _SOLVERS:
            raise ConfigError(f"unknown solver {self.solver!r}; choose one of {sorted(_SOLVERS)}")
        if isinstance(self.t1, (int, float)) and not self.t1 > 0:
            raise ConfigError(f"t1 must be > 0, got {self.t1}")
        if isinstance(self.n_saves, int) and self.n_saves < 1:
            raise ConfigError(f"n_saves must be >= 1, got {self.n_saves}")

    def solve(self, model, problem, params0, observe, *, axes=None, label="GradientFlow"):
        """Integrate from ``params0``; returns (Trajectory, None)."""
        return _run_flow(model, problem, self, params0, observe, axes=axes, label=label)

    def save_times(self) -> Float[Array, " s"]:
        if self.spacing == "linear":
            return jnp.linspace(0.0, self.t1, self.n_saves + 1)[1:]
        t_first = self.t_first if self.t_first is not None else self.t1 * 1e-4
        ts = jnp.geomspace(t_first, self.t1, self.n_saves)
        # geomspace can land a rounding error past t1, which diffrax rejects: clip, end exactly at t1
        return jnp.minimum(ts, self.t1).at[-1].set(self.t1)


def _solver(name: str):
    import diffrax

    return {
        "tsit5": diffrax.Tsit5,
        "dopri5": diffrax.Dopri5,
        "dopri8": diffrax.Dopri8,
        "kvaerno5": diffrax.Kvaerno5,
    }[name]()


_SOLVERS = ("tsit5", "dopri5", "dopri8", "kvaerno5")
_IMPLICIT = ("kvaerno5",)


# ---------------------------------------------------------------------------------------------
# the result


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["t", "loss", "observed", "final", "n_evals", "status", "diverged_step"],
    meta_fields=["method", "path"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class Trajectory:
    """Snapshots of one run (or of a batch, with a leading batch axis on every array).

    t         step counts (GD) or times (flow) of the snapshots, starting at 0
    loss      the loss at each snapshot
    observed  ``observe(params)`` at each snapshot (the params themselves by default)
    final     the parameters at the end (the last finite ones if the run diverged)
    n_evals   gradient evaluations spent
    status    0 ok, 1 diverged (NaN/inf), 2 solver failure, 3 stopped at ``loss_tol``
    path      which code path ran, e.g. the exact diagonal reduction of seed 000 eq. (7)
    """

    t: Float[Array, " s"]
    loss: Float[Array, " s"]
    observed: PyTree
    final: PyTree
    n_evals: Array
    status: Array
    diverged_step: Array
    method: str = "GD"
    path: str = "full"

    @property
    def ok(self) -> bool:
        return bool(np.all(np.isin(np.asarray(self.status), (OK, STOPPED_AT_TOL))))

    def __len__(self) -> int:
        return self.t.shape[-1]

    def member(self, i: int) -> "Trajectory":
        """Member i of a batched trajectory, with NaN padding after a divergence removed."""
        one = jax.tree.map(lambda x: x[i], self)
        return _truncate(one)

    def divergence_error(self) -> "DivergenceError | None":
        """For an unbatched trajectory: the DivergenceError describing it, or None if it did not diverge."""
        if int(self.status) != DIVERGED:
            return None
        step = int(self.diverged_step)
        finite = np.asarray(self.loss)[np.isfinite(np.asarray(self.loss))]
        last = float(finite[-1]) if finite.size else float("nan")
        return DivergenceError(
            f"{self.method} diverged at step {step}: the loss became NaN or inf (last finite "
            f"snapshot loss {last:.6g}). Lower the step size; the snapshots up to the divergence are kept.",
            step=step,
            last_loss=last,
            trajectory=self,
        )


def _truncate(traj: Trajectory) -> Trajectory:
    valid = np.isfinite(np.asarray(traj.t))
    if valid.all():
        return traj
    n = int(valid.sum())
    return dataclasses.replace(
        traj,
        t=traj.t[:n],
        loss=traj.loss[:n],
        observed=jax.tree.map(lambda x: x[:n], traj.observed),
    )


# ---------------------------------------------------------------------------------------------
# batching


class Axes(NamedTuple):
    """vmap axes (0 or None) of model, problem, method and params0 in a batched run."""

    model: int | None = None
    problem: int | None = None
    method: int | None = None
    params: int | None = 0


def _member(tree, axis, i):
    return tree if axis is None else jax.tree.map(lambda x: x[i], tree)


def _split_over_devices(trees: list, size: int) -> tuple[list, int]:
    """Pad the batch to a multiple of the local CPU devices and shard its leading axis over them.

    On a CPU each XLA host device runs in its own thread, so a vmapped batch split over the devices
    uses every core (2× on two cores). Elsewhere, or with one device, the trees are returned as they are.
    """
    devices = jax.local_devices()
    if len(devices) < 2 or devices[0].platform != "cpu" or size < 2:
        return trees, size
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    padded = -(-size // len(devices)) * len(devices)
    sharding = NamedSharding(Mesh(np.array(devices), ("batch",)), PartitionSpec("batch"))

    def place(x):
        x = np.asarray(x)  # pad on the host: eager device ops on sharded arrays compile each time
        if padded > size:
            x = np.concatenate([x, np.repeat(x[:1], padded - size, axis=0)])
        return jax.device_put(x, sharding)

    return [None if t is None else jax.tree.map(place, t) for t in trees], padded


# ---------------------------------------------------------------------------------------------
# GD: pure, traceable pieces


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


@ft.partial(jax.jit, static_argnames=("axes", "observe"))
def _gd_segment_jit(model, problem, method, params, lengths, n_limit, *, axes, observe):
    fn = ft.partial(_gd_segment, observe=observe)
    if axes is not None:
        fn = jax.vmap(fn, in_axes=(axes.model, axes.problem, axes.method, axes.params, None, None))
    return fn(model, problem, method, params, lengths, n_limit)


@ft.partial(jax.jit, static_argnames=("axes", "observe"))
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


# ---------------------------------------------------------------------------------------------
# gradient flow


def _flow_solve(model, problem, method: GradientFlow, params0, *, observe):
    import diffrax

    def vector_field(t, p, args):
        return jax.tree.map(jnp.negative, descent_direction(model, problem, p))

    ts = method.save_times()
    save = diffrax.SaveAt(
        subs=[
            diffrax.SubSaveAt(
                ts=ts, fn=lambda t, y, args: (objective(model, problem, y), observe(y))
            ),
            diffrax.SubSaveAt(t1=True),
        ]
    )
    event = None
    if method.loss_tol is not None:
        event = diffrax.Event(
            cond_fn=lambda t, y, args, **kw: objective(model, problem, y) < method.loss_tol
        )
    solver = _solver(method.solver)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field),
        solver,
        t0=0.0,
        t1=method.t1,
        dt0=None,
        y0=params0,
        saveat=save,
        stepsize_controller=diffrax.PIDController(rtol=method.rtol, atol=method.atol),
        max_steps=method.max_steps,
        event=event,
        throw=False,
    )
    losses, obs = sol.ys[0]
    t_end = sol.ts[1][-1]
    final = jax.tree.map(lambda x: x[-1], sol.ys[1])
    reached = ts <= t_end
    t = jnp.concatenate([jnp.zeros(1), jnp.where(reached, ts, jnp.nan)])
    loss = jnp.concatenate([objective(model, problem, params0)[None], losses])
    observed = jax.tree.map(lambda o0, o: jnp.concatenate([o0[None], o]), observe(params0), obs)
    if method.solver in _IMPLICIT:  # Newton iterations per stage vary: count steps
        n_evals = sol.stats["num_steps"]
    else:  # f(y0), two evaluations to pick the first step, then (stages − FSAL) per attempted step
        tab = solver.tableau
        n_evals = 3 + sol.stats["num_steps"] * (tab.num_stages - int(bool(tab.fsal)))
    status = jnp.where(
        sol.result == diffrax.RESULTS.successful,
        OK,
        jnp.where(sol.result == diffrax.RESULTS.event_occurred, STOPPED_AT_TOL, SOLVER_FAILED),
    )
    return Trajectory(
        t=t,
        loss=loss,
        observed=observed,
        final=final,
        n_evals=n_evals,
        status=status,
        diverged_step=jnp.asarray(-1),
        method="GradientFlow",
    )


@ft.partial(jax.jit, static_argnames=("axes", "observe"))
def _flow_solve_jit(model, problem, method, params0, *, axes, observe):
    fn = ft.partial(_flow_solve, observe=observe)
    if axes is not None:
        fn = jax.vmap(fn, in_axes=(axes.model, axes.problem, axes.method, axes.params))
    return fn(model, problem, method, params0)


def _run_flow(model, problem, method, params0, observe, *, axes: Axes | None, label: str):
    with progress.task(label, total=None):
        traj = _flow_solve_jit(model, problem, method, params0, axes=axes, observe=observe)
    return traj, None


# ---------------------------------------------------------------------------------------------
# entry points


def _check_shapes(model, problem, params0) -> None:
    try:
        out = jax.eval_shape(model, params0)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"the initial parameters do not fit the model: {e}") from None
    shape = getattr(problem, "shape", None)
    if shape is not None and tuple(out.shape) != tuple(shape):
        raise ConfigError(
            f"the model produces a {tuple(out.shape)} estimate but the problem observes "
            f"a {tuple(shape)} target"
        )


def fit(
    model,
    problem,
    method,
    key=None,
    *,
    params0=None,
    observe=None,
    reduce: bool = True,
    on_divergence: str = "raise",
    label: str | None = None,
) -> Trajectory:
    """Minimise ``problem.loss(model(params))`` with ``method`` (GD or GradientFlow) from ``params0``.

    ``params0`` defaults to ``model.init_params(key)``. ``observe(params)`` is recorded at every
    snapshot (default: the params; define it once at module level so that jit caches it). With
    ``reduce=True`` an exact reduction is used where one applies (seed 000's diagonal dynamics,
    eq. (7)); ``Trajectory.path`` says which path ran. On NaN/inf, GD stops and raises
    ``DivergenceError`` (step, last finite loss, partial trajectory), or returns the truncated
    trajectory with ``on_divergence="return"``.
    """
    from implicit_bias import reduction

    if on_divergence not in ("raise", "return"):
        raise ConfigError(f"on_divergence must be 'raise' or 'return', got {on_divergence!r}")
    if params0 is None:
        params0 = model.init_params(key)
    _check_shapes(model, problem, params0)
    observe = observe or _identity
    label = label or type(method).__name__
    if reduce:
        reduced = reduction.try_reduce(model, problem, method, params0, observe, label=label)
        if reduced is not None:
            return _finish(*reduced, on_divergence)
    traj, last_loss = method.solve(model, problem, params0, observe, axes=None, label=label)
    return _finish(traj, last_loss, on_divergence)


def _finish(traj: Trajectory, last_loss, on_divergence: str) -> Trajectory:
    traj = _truncate(traj)
    status = int(traj.status)
    if status == DIVERGED:
        step = int(traj.diverged_step)
        msg = (
            f"{traj.method} diverged at step {step}: the loss became NaN or inf "
            f"(last finite loss {float(last_loss):.6g} at step {step - 1}). Lower the step size; "
            "the snapshots up to the divergence are kept."
        )
        if on_divergence == "raise":
            raise DivergenceError(msg, step=step, last_loss=float(last_loss), trajectory=traj)
        progress.note(msg)
    elif status == SOLVER_FAILED:
        raise SolverError(
            "the ODE solver failed before t1 (the step budget max_steps ran out or the step size "
            "collapsed); raise max_steps or loosen rtol/atol"
        )
    return traj


def _stack(x):
    """A list of pytrees becomes one pytree with a leading axis (axis 0); anything else is shared."""
    if isinstance(x, list):
        if not x:
            raise ConfigError("cannot batch over an empty list")
        # stacked on the host: one transfer, no per-batch-size compilation of a stack op
        return jax.tree.map(lambda *xs: np.stack([np.asarray(v) for v in xs]), *x), 0, len(x)
    return x, None, None


def fit_batch(
    model,
    problem,
    method,
    *,
    params0=None,
    keys=None,
    observe=None,
    reduce: bool = True,
    label: str | None = None,
) -> Trajectory:
    """Many runs in one ``vmap``: each of model, problem, method, params0 and keys may be a list.

    Lists are stacked along a new leading axis (all of one length B and one structure: models that
    differ in ``alpha`` only, GD methods that differ in ``eta`` only, problems of one shape);
    single values are shared. Returns a batched Trajectory (leading axis B); diverged members have
    ``status == 1`` and NaN-padded snapshots, and ``traj.member(i)`` gives run i. With ``reduce`` the
    exact reduction is used when it applies to every member.
    """
    observe = observe or _identity
    first = lambda x: x[0] if isinstance(x, list) else x  # noqa: E731
    if params0 is None:
        n = next((len(v) for v in (keys, model) if isinstance(v, list)), None)
        if n is None:
            raise ConfigError("fit_batch needs params0, a list of keys or a list of models")
        pick = lambda v, i: v[i] if isinstance(v, list) else v  # noqa: E731
        params0 = [pick(model, i).init_params(pick(keys, i)) for i in range(n)]
    lengths = {len(v) for v in (model, problem, method, params0) if isinstance(v, list)}
    if len(lengths) > 1:
        raise ConfigError(
            "batched arguments must all have one length, got lists of lengths "
            f"{sorted(lengths)} among model, problem, method and params0"
        )
    if reduce and lengths and isinstance(params0, list):
        from implicit_bias import reduction

        n = lengths.pop()
        each = lambda v: v if isinstance(v, list) else [v] * n  # noqa: E731
        reduced = reduction.try_reduce_batch(
            each(model), each(problem), method, each(params0), observe, label=label or "GD"
        )
        if reduced is not None:
            return reduced
    model_s, model_ax, n_model = _stack(model)
    problem_s, problem_ax, n_problem = _stack(problem)
    method_s, method_ax, n_method = _stack(method)
    params_s, _, n_params = _stack(params0 if isinstance(params0, list) else params0)
    if n_params is None:  # an already stacked pytree
        n_params = jax.tree.leaves(params_s)[0].shape[0]
    sizes = {n for n in (n_model, n_problem, n_method, n_params) if n is not None}
    if len(sizes) != 1:
        raise ConfigError(
            "batched arguments must all have one length, got "
            f"model={n_model}, problem={n_problem}, method={n_method}, params0={n_params}"
        )
    _check_shapes(first(model), first(problem), jax.tree.map(lambda x: x[0], params_s))
    size = sizes.pop()
    axes = Axes(model=model_ax, problem=problem_ax, method=method_ax, params=0)
    batched = [t if ax == 0 else None for t, ax in zip((model_s, problem_s, method_s), axes[:3])]
    (model_b, problem_b, method_b, params_s), padded = _split_over_devices(
        batched + [params_s], size
    )
    model_s = model_b if model_ax == 0 else model_s
    problem_s = problem_b if problem_ax == 0 else problem_s
    method_s = method_b if method_ax == 0 else method_s
    label = label or f"{type(first(method)).__name__} ×{size}"
    traj, _ = method_s.solve(model_s, problem_s, params_s, observe, axes=axes, label=label)
    # one transfer to the host: slicing members out of device arrays would compile per member
    return jax.tree.map(lambda x: np.asarray(x)[:size], traj)
