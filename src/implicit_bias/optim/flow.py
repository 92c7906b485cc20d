"""Exact gradient flow θ̇ = −∇L(θ): the ``GradientFlow`` method, integrated by diffrax."""

import dataclasses
import functools as ft

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from implicit_bias import progress
from implicit_bias.errors import ConfigError
from implicit_bias.optim.batching import Axes
from implicit_bias.optim.objective import descent_direction, objective
from implicit_bias.optim.trajectory import OK, SOLVER_FAILED, STOPPED_AT_TOL, Trajectory


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
    with a Jacobian and Newton iterations, or ``"rosenbrock"``: the matrix-free ROS34PW2 method of
    ``implicit_bias.stiff`` (Hessian–vector products and conjugate gradients, no d × d matrix), for
    stiff flows of many parameters. Measured (issue 13, benchmarks/bench_limit.py): on the sparse
    Hadamard flow at n = 1000 it reaches loss 1e-10 with 5.6k gradients + HVPs (N = 2, rtol 1e-4)
    where Tsit5 and GD stall above 1e-8 after 180k–360k evaluations; on short, non-stiff flows Tsit5 is cheaper, so it
    is not the default. It needs a symmetric Jacobian (a plain gradient flow: no ``precondition``).
    ``Trajectory.n_evals`` counts gradient evaluations for the explicit solvers, gradients + HVPs
    for ``"rosenbrock"`` and steps (accepted + rejected) for ``"kvaerno5"``.
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

    def solve(self, model, problem, params0, observe, *, axes=None, label="GradientFlow"):
        """Integrate from ``params0``; returns (Trajectory, None)."""
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


_SOLVERS = ("tsit5", "dopri5", "dopri8", "kvaerno5", "rosenbrock")
_IMPLICIT = ("kvaerno5",)


def _rosenbrock_solve(model, problem, method: GradientFlow, params0, *, observe):
    from implicit_bias import stiff

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


def _flow_solve(model, problem, method: GradientFlow, params0, *, observe):
    import diffrax

    if method.solver == "rosenbrock":
        return _rosenbrock_solve(model, problem, method, params0, observe=observe)

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
