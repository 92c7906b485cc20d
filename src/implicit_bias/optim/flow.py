"""Exact gradient flow θ̇ = −∇L(θ): the ``GradientFlow`` method, integrated by diffrax."""

import dataclasses
import functools as ft

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from implicit_bias import progress
from implicit_bias.errors import ConfigError
from implicit_bias.optim.batching import Axes
from implicit_bias.optim.jit import jit
from implicit_bias.optim.objective import descent_direction, objective
from implicit_bias.optim.trajectory import OK, SOLVER_FAILED, STOPPED_AT_TOL, Trajectory


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["t1", "rtol", "atol", "loss_tol"],
    meta_fields=["n_saves", "spacing", "t_first", "solver", "max_steps", "switch_steps"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class GradientFlow:
    """Exact gradient flow θ̇ = −∇L(θ) on [0, t1] by an adaptive solver (diffrax or ROS34PW2).

    Snapshots at ``n_saves`` times, linearly or logarithmically spaced (``spacing="log"`` starts at
    ``t_first``; useful for small initializations whose flow sits near a saddle for a long time).
    ``loss_tol`` stops the solve as soon as the loss falls below it (a traced value: runs batched
    by ``fit_batch`` may each have their own); the stop is then the last snapshot: ``t[-1]`` is the
    stopping time and ``loss[-1]``, ``observed[-1]`` are those of ``final``, whatever the solver.

    ``solver``: the explicit ``"tsit5"`` (default), ``"dopri5"``, ``"dopri8"``, or the implicit
    ``"kvaerno5"`` (ESDIRK, diffrax) for stiff flows, e.g. the tail of a Hadamard flow whose
    off-support coordinates are tiny (seed 003): there it takes ~50× fewer steps than Tsit5, each
    with a Jacobian and Newton iterations, or ``"rosenbrock"``: the matrix-free ROS34PW2 method of
    ``implicit_bias.optim.stiff`` (Hessian–vector products and conjugate gradients, no d × d
    matrix), for stiff flows of many parameters. Measured (issue 13, benchmarks/bench_limit.py): on
    the sparse Hadamard flow at n = 1000 it reaches loss 1e-10 with 5.6k gradients + HVPs (N = 2,
    rtol 1e-4) where Tsit5 and GD stall above 1e-8 after 180k–360k evaluations; on short, non-stiff
    flows Tsit5 is cheaper, so it is not the default. It needs a symmetric Jacobian (a plain
    gradient flow: no ``precondition``). ``Trajectory.n_evals`` counts gradient evaluations for the
    explicit solvers, gradients + HVPs for ``"rosenbrock"`` (right-hand sides + JVPs on the mirror
    path) and steps (accepted + rejected) for ``"kvaerno5"``.

    ``"auto"`` detects stiffness by cost: it integrates with Tsit5 and, if Tsit5 has not reached t1
    (or ``loss_tol``) within ``switch_steps`` steps, continues from where Tsit5 stopped with the
    Rosenbrock solver for the rest of ``max_steps``. A flow that explicit steps resolve cheaply is
    the Tsit5 solution; a stiff one pays ``switch_steps`` explicit steps (6 gradients each) before
    the switch. (An explicit method held to h ≲ 3/λ_max(H) by stability takes ~t1·λ_max/3 steps;
    the switch fires when that exceeds the budget: LSODA's criterion in spirit, measured in cost.)
    A preconditioned model has no symmetric Jacobian: ``"auto"`` then stays with Tsit5.

    ``"mirror"``: the exact Hadamard flow in mirror coordinates (``optim/mirror.py``): for
    ``Hadamard(factors="identical")`` of depth N ≥ 2 (positive or signed, any positive start) on a
    ``Linear`` problem ½‖Ax − y‖², the flow is the m-dimensional ODE ν̇ = Ax̃(ν) − y, solved by
    ROS34PW2 carrying the bases w^{2−N} (log w² for N = 2), so α enters only through the start and
    it converges at α = 1e-30 where the parameter flow's steps collapse. ``rtol``/``atol`` bound
    each step's error in every factor as on the parameters; ``max_steps`` counts its steps.
    ``fit`` takes this path for ``"mirror"`` (ConfigError where it does not apply) and, with
    ``reduce=True`` (the default), for ``"auto"`` and ``"rosenbrock"`` wherever it applies
    (``Trajectory.path`` says so; ``reduce=False`` forces the parameter flow). It runs on the host,
    one run at a time (``fit_batch`` runs its members one after another), and fails as the other
    solvers do: ``SolverError`` naming the time and the reason.
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
    switch_steps: int = 2_000

    @property
    def splits_over_devices(self) -> bool:
        """Batches of the implicit solvers stay on one device (see ``batching._split_over_devices``)."""
        return self.solver not in _IMPLICIT

    def __post_init__(self):
        if self.spacing not in ("linear", "log"):
            raise ConfigError(f"spacing must be 'linear' or 'log', got {self.spacing!r}")
        if self.solver not in _SOLVERS:
            raise ConfigError(f"unknown solver {self.solver!r}; choose one of {sorted(_SOLVERS)}")
        if isinstance(self.t1, (int, float)) and not self.t1 > 0:
            raise ConfigError(f"t1 must be > 0, got {self.t1}")
        if isinstance(self.n_saves, int) and self.n_saves < 1:
            raise ConfigError(f"n_saves must be >= 1, got {self.n_saves}")
        if isinstance(self.switch_steps, int) and self.switch_steps < 1:
            raise ConfigError(f"switch_steps must be >= 1, got {self.switch_steps}")

    def solve(self, model, problem, params0, observe, *, axes=None, label="GradientFlow"):
        """Integrate from ``params0``; returns (Trajectory, None)."""
        if self.solver == "mirror":  # host-level: ``fit`` dispatches it before calling solve
            from implicit_bias.optim import _mirror_path

            if axes is not None:
                raise ConfigError("solver='mirror' runs one member at a time: batch it with fit_batch")
            reason = _mirror_path.why_not(model, problem, params0)
            if reason is not None:
                raise ConfigError(f"solver='mirror' does not apply: {reason}")
            return _mirror_path.run(model, problem, self, params0, observe, label=label), None
        if self.solver == "rosenbrock" and getattr(model, "precondition", None) is not None:
            raise ConfigError(
                "solver='rosenbrock' needs a plain gradient flow (symmetric Jacobian); this model "
                "preconditions its gradient: use solver='kvaerno5' or 'tsit5'"
            )
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


_SOLVERS = ("tsit5", "dopri5", "dopri8", "kvaerno5", "rosenbrock", "auto", "mirror")
_IMPLICIT = ("kvaerno5",)


def _rosenbrock_solve(model, problem, method: GradientFlow, params0, *, observe, start=None,
                      report=False):  # fmt: skip
    from implicit_bias.optim import stiff

    ts = method.save_times()
    t, losses, obs, final, status, stats = stiff.solve(
        lambda p: descent_direction(model, problem, p),
        lambda p: objective(model, problem, p),
        params0,
        ts,
        rtol=method.rtol,
        atol=method.atol,
        loss_tol=method.loss_tol,
        observe=observe,
        max_steps=method.max_steps,
        start=start,
        report=progress.flow_tick if report else None,
    )
    return Trajectory(
        t=jnp.concatenate([jnp.zeros(1), t]),
        loss=jnp.concatenate([objective(model, problem, params0)[None], losses]),
        observed=jax.tree.map(lambda o0, o: jnp.concatenate([o0[None], o]), observe(params0), obs),
        final=final,
        n_evals=stats.n_grad + stats.n_hvp,
        status=status,  # stiff's codes are the Trajectory's: 0 ok, 2 failed, 3 stopped at loss_tol
        diverged_step=jnp.asarray(-1),
        method="GradientFlow",
    )


def _flow_solve(model, problem, method: GradientFlow, params0, *, observe, report=False):
    if method.solver == "rosenbrock":
        return _rosenbrock_solve(model, problem, method, params0, observe=observe, report=report)
    if method.solver == "auto":
        return _auto_solve(model, problem, method, params0, observe=observe)
    return _diffrax_solve(model, problem, method, params0, observe=observe)[0]


def _auto_solve(model, problem, method: GradientFlow, params0, *, observe):
    """Tsit5 for up to ``switch_steps`` steps, then (if it has not finished) ROS34PW2 from there."""
    if getattr(model, "precondition", None) is not None:  # no symmetric Jacobian: explicit only
        return _diffrax_solve(model, problem, dataclasses.replace(method, solver="tsit5"),
                              params0, observe=observe)[0]  # fmt: skip
    budget = min(method.switch_steps, method.max_steps)
    explicit = dataclasses.replace(method, solver="tsit5", max_steps=budget)
    first, t_end = _diffrax_solve(model, problem, explicit, params0, observe=observe)
    running = first.status == SOLVER_FAILED  # budget spent (or step collapsed) before t1/loss_tol
    reached = jnp.sum(jnp.isfinite(first.t[1:]))  # save times Tsit5 passed (t ≤ t_end)
    rest = dataclasses.replace(method, solver="rosenbrock",
                               max_steps=max(method.max_steps - budget, 1))  # fmt: skip
    kept = jnp.arange(first.loss.shape[0] - 1) < reached
    start = (t_end, reached, jnp.where(kept, first.loss[1:], jnp.nan),
             jax.tree.map(lambda o: o[1:], first.observed), running)  # fmt: skip
    second = _rosenbrock_solve(model, problem, rest, first.final, observe=observe, start=start)

    def pick(a, b):  # the continuation where there was one; its first snapshots are Tsit5's
        return jnp.where(running, b, a)

    return Trajectory(
        t=pick(first.t, second.t),
        loss=jnp.concatenate([first.loss[:1], pick(first.loss[1:], second.loss[1:])]),
        observed=jax.tree.map(
            lambda a, b: jnp.concatenate([a[:1], pick(a[1:], b[1:])]),
            first.observed,
            second.observed,
        ),
        final=jax.tree.map(pick, first.final, second.final),
        n_evals=first.n_evals + jnp.where(running, second.n_evals, 0),
        status=pick(first.status, second.status),
        diverged_step=jnp.asarray(-1),
        method="GradientFlow",
    )


def _diffrax_solve(model, problem, method: GradientFlow, params0, *, observe):
    """(Trajectory, the time the solve ended) by a diffrax solver."""
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
    stopped = sol.result == diffrax.RESULTS.event_occurred
    # a stop at loss_tol between save times is recorded in the first slot not reached (as
    # stiff.solve does), so that t[-1] is the stopping time and loss[-1], observed[-1] are final's
    k = jnp.sum(reached)
    slot = (jnp.arange(ts.shape[0]) == k) & stopped & ~jnp.any(ts == t_end)

    def place(buf, value):
        if not jnp.issubdtype(buf.dtype, jnp.inexact):
            return jnp.where(_rows(slot, buf), value, buf)
        buf = jnp.where(_rows(reached, buf), buf, jnp.nan)  # unreached: NaN (diffrax puts inf)
        return jnp.where(_rows(slot, buf), value, buf)

    losses = place(losses, objective(model, problem, final))
    obs = jax.tree.map(place, obs, observe(final))
    t = jnp.concatenate([jnp.zeros(1), jnp.where(slot, t_end, jnp.where(reached, ts, jnp.nan))])
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
    return (
        Trajectory(
            t=t,
            loss=loss,
            observed=observed,
            final=final,
            n_evals=n_evals,
            status=status,
            diverged_step=jnp.asarray(-1),
            method="GradientFlow",
        ),
        t_end,
    )


def _rows(mask, buf):
    """``mask`` (s,) shaped to broadcast against ``buf`` (s, ...)."""
    return mask.reshape((-1,) + (1,) * (buf.ndim - 1))


@jit(static_argnames=("axes", "observe", "report"))
def _flow_solve_jit(model, problem, method, params0, *, axes, observe, report=False):
    fn = ft.partial(_flow_solve, observe=observe, report=report and axes is None)
    if axes is not None:
        fn = jax.vmap(fn, in_axes=(axes.model, axes.problem, axes.method, axes.params))
    return fn(model, problem, method, params0)


def _run_flow(model, problem, method, params0, observe, *, axes: Axes | None, label: str):
    report = axes is None and progress.active() and method.solver == "rosenbrock"
    with progress.task(label, total=method.n_saves if report else None) as bar:
        with progress.listening(bar, label):
            traj = _flow_solve_jit(model, problem, method, params0, axes=axes, observe=observe,
                                   report=report)  # fmt: skip
    return traj, None
