"""Shared pieces of the seed-003 sparse experiments: the flow to its limit, with a relative loss stop.

Two integrators of the same vector field −``descent_direction`` (the engine's):
  ``engine_flow``  the engine's ``GradientFlow`` (explicit Tsit5): crosses the saddle plateau in few
                   steps and is what the benchmark times;
  ``stiff_flow``   diffrax's implicit Kvaerno5. Near the limit the flow is stiff: the residual left in
                   the directions that only the tiny off-support coordinates can fit decays at a rate
                   ~ x_off^{2−2/N}, while the support coordinates bound an explicit step by ~1/‖A‖²x_max.
                   At n = 40 Tsit5 needs > 3·10⁵ steps (N = 3, α = 0.03) where Kvaerno5 needs ~6·10³.
                   (Engine change proposed: a ``solver="kvaerno5"`` choice in ``GradientFlow``.)
"""

import functools as ft

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.errors import SolverError
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim import (
    OK,
    SOLVER_FAILED,
    STOPPED_AT_TOL,
    GradientFlow,
    Trajectory,
    descent_direction,
    fit,
    objective,
)


def loss_tol(problem, rel_tol: float) -> float:
    """rel_tol · ½‖y‖²: the stop of every flow here."""
    return float(rel_tol * 0.5 * np.sum(np.asarray(problem.y) ** 2))


def engine_flow(problem, *, rel_tol=1e-12, t1=1e9, n_saves=60, rtol=1e-8, atol=1e-12,
                max_steps=2_000_000) -> GradientFlow:  # fmt: skip
    """The engine's gradient flow on a log grid from t = 1e-2, stopped once L < rel_tol · ½‖y‖²."""
    return GradientFlow(t1=t1, n_saves=n_saves, spacing="log", t_first=1e-2, rtol=rtol, atol=atol,
                        loss_tol=loss_tol(problem, rel_tol), max_steps=max_steps)  # fmt: skip


def observer(model):
    """A structural copy of a Hadamard ``model`` (α fixed) to pass as ``observe``: one compile for all α."""
    if isinstance(model, Hadamard):
        return Hadamard(depth=model.depth, n=model.n, signed=model.signed, factors=model.factors)
    return model


def _stiff_impl(model, problem, params0, tol, t1, rtol, atol, *, observe, n_saves, max_steps):
    def vf(t, p, args):
        return jax.tree.map(jnp.negative, descent_direction(model, problem, p))

    ts = jnp.minimum(jnp.geomspace(1e-2, t1, n_saves), t1)  # clip: geomspace may round past t1
    save = diffrax.SaveAt(
        subs=[
            diffrax.SubSaveAt(ts=ts, fn=lambda t, y, a: (objective(model, problem, y), observe(y))),
            diffrax.SubSaveAt(t1=True),
        ]
    )
    event = diffrax.Event(cond_fn=lambda t, y, args, **kw: objective(model, problem, y) < tol)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vf), diffrax.Kvaerno5(), t0=0.0, t1=t1, dt0=None, y0=params0,
        saveat=save, stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps, event=event, throw=False,
    )  # fmt: skip
    losses, obs = sol.ys[0]
    final = jax.tree.map(lambda x: x[-1], sol.ys[1])
    t_end = sol.ts[1][-1]
    t = jnp.concatenate([jnp.zeros(1), jnp.where(ts <= t_end, ts, jnp.nan)])
    loss = jnp.concatenate([objective(model, problem, params0)[None], losses])
    observed = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), observe(params0), obs)
    status = jnp.where(
        sol.result == diffrax.RESULTS.successful,
        OK,
        jnp.where(sol.result == diffrax.RESULTS.event_occurred, STOPPED_AT_TOL, SOLVER_FAILED),
    )
    return t, loss, observed, final, sol.stats["num_steps"], status


_stiff = jax.jit(_stiff_impl, static_argnames=("observe", "n_saves", "max_steps"))


@ft.partial(jax.jit, static_argnames=("observe", "n_saves", "max_steps"))
def _stiff_batch(model, problems, params0, tols, t1, rtol, atol, *, observe, n_saves, max_steps):
    fn = ft.partial(_stiff_impl, observe=observe, n_saves=n_saves, max_steps=max_steps)
    return jax.vmap(fn, in_axes=(None, 0, None, 0, None, None, None))(
        model, problems, params0, tols, t1, rtol, atol
    )


def stiff_batch(model, problems, params0=None, *, rel_tol=1e-8, t1=1e12, rtol=1e-6, atol=1e-12,
                max_steps=100_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The stiff flow for many problems of one shape in one vmap: (x̃ at the end, status, steps).

    Status 2 (``SOLVER_FAILED``) marks members that ran out of ``max_steps``; nothing raises.
    """
    params0 = model.init_params() if params0 is None else params0
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *problems)
    tols = jnp.asarray([loss_tol(p, rel_tol) for p in problems])
    _, _, _, final, steps, status = _stiff_batch(
        model, stacked, params0, tols, t1, rtol, atol,
        observe=observer(model), n_saves=2, max_steps=max_steps,
    )  # fmt: skip
    x = np.asarray(jax.vmap(model)(final))
    return x, np.asarray(status), np.asarray(steps)


def stiff_flow(model, problem, params0=None, *, rel_tol=1e-12, t1=1e12, n_saves=60, rtol=1e-8,
               atol=1e-12, max_steps=200_000) -> Trajectory:  # fmt: skip
    """Gradient flow to its limit by the implicit Kvaerno5 solver; a ``Trajectory`` (n_evals = steps).

    Snapshots of x̃ = model(params) (Hadamard models) on a log grid; stops once L < rel_tol · ½‖y‖².
    """
    params0 = model.init_params() if params0 is None else params0
    obs = observer(model)
    t, loss, observed, final, steps, status = _stiff(
        model, problem, params0, loss_tol(problem, rel_tol), t1, rtol, atol,
        observe=obs, n_saves=n_saves, max_steps=max_steps,
    )  # fmt: skip
    if int(status) == SOLVER_FAILED:
        raise SolverError(
            f"the implicit flow solver failed before t1 = {t1:g} (max_steps = {max_steps} ran out or "
            "the step size collapsed); raise max_steps or loosen rel_tol"
        )
    valid = np.isfinite(np.asarray(t))
    return Trajectory(
        t=np.asarray(t)[valid],
        loss=np.asarray(loss)[valid],
        observed=jax.tree.map(lambda o: np.asarray(o)[valid], observed),
        final=final,
        n_evals=np.asarray(steps),
        status=np.asarray(status),
        diverged_step=np.asarray(-1),
        method="Kvaerno5",
    )


def limit(model, problem, params0=None, **kw) -> tuple[Trajectory, np.ndarray]:
    """(trajectory, x̃ at the end) of the stiff flow of ``model`` from ``params0`` (default α·1)."""
    traj = stiff_flow(model, problem, params0, **kw)
    return traj, np.asarray(model(traj.final))


def engine_limit(model, problem, method, params0=None) -> tuple[Trajectory, np.ndarray]:
    """The same with the engine's ``fit`` (explicit solver or GD)."""
    traj = fit(model, problem, method, params0=params0, observe=observer(model))
    return traj, np.asarray(model(traj.final))
