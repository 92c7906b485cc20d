"""``fit``'s mirror-coordinate path: a Hadamard gradient flow run as the m-dimensional ODE of ``mirror``.

For ``Hadamard(factors="identical")`` of depth N ≥ 2 (positive or signed, any positive start) on the
``Linear`` loss ½‖Ax̃ − y‖², the gradient flow θ̇ = −∇L(θ) is exactly ν̇ = Ax̃(ν) − y in the dual
variable ν = ∫r (``optim/mirror.py``), which ``mirror.mirror_flow`` integrates with ROS34PW2 carrying
the bases (accurate at any α). ``run`` turns its result into the engine's ``Trajectory``: the same
times (``GradientFlow.save_times()``), the loss and ``observe(params)`` at each snapshot, the final
parameters, the status codes of ``trajectory.py``, and ``path = PATH``.

Which runs take it (``fit`` decides, ``api.py``): ``GradientFlow(solver="mirror")`` always (a
ConfigError saying why where it does not apply), ``"auto"`` and ``"rosenbrock"`` where it applies
and ``reduce=True``; ``reduce=False`` forces the parameter flow. The explicit and implicit diffrax
solvers (``"tsit5"``, the default, ``"dopri5"``, ``"dopri8"``, ``"kvaerno5"``) name a parameter-flow
integrator and keep it. The mirror flow runs on the host, one run at a time (a jitted solve per run,
not under ``vmap``): ``fit_batch`` runs the members one after another and stacks them.
"""

import functools as ft

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias import progress
from implicit_bias.errors import ConfigError, SolverError
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim import mirror
from implicit_bias.optim.objective import objective
from implicit_bias.optim.trajectory import SOLVER_FAILED, Trajectory
from implicit_bias.problems.linear import Linear

PATH = "mirror coordinates (m-dim ODE ν̇ = Ax̃(ν) − y)"
SOLVERS = ("mirror", "auto", "rosenbrock")  # the GradientFlow solvers that take this path


def why_not(model, problem, params0) -> str | None:
    """None if the mirror path is exact for this model, problem and start; else the reason."""
    if not isinstance(model, Hadamard):
        return (
            f"the mirror flow is for Hadamard models (w^{{⊙N}} or u^{{⊙N}} − v^{{⊙N}}), got "
            f"{type(model).__name__}"
        )
    if not isinstance(problem, Linear):
        return f"the mirror flow is for the loss ½‖Ax − y‖² (Linear), got {type(problem).__name__}"
    if int(problem.A.shape[-1]) != int(model.n):
        return f"the problem's A has {problem.A.shape[-1]} columns but the model has n = {model.n}"
    try:
        mirror._check(model, problem)
        mirror.bases0(model, params0)  # shape, a positive start, w(0)^{2−N} finite
    except ConfigError as e:
        return str(e)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return "the mirror flow runs on the host: its inputs cannot be traced"
    return None


@ft.partial(jax.jit, static_argnames=("observe",))
def _snapshots(model, problem, params, reached, observe):
    """The engine's loss and ``observe`` at every snapshot; NaN where the run did not reach it."""
    safe = jnp.where(reached.reshape((-1,) + (1,) * (params.ndim - 1)), params, params[0])
    loss = jax.vmap(lambda p: objective(model, problem, p))(safe)
    obs = jax.lax.map(observe, safe)

    def mask(x):
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            return x
        return jnp.where(reached.reshape((-1,) + (1,) * (x.ndim - 1)), x, jnp.nan)

    return mask(loss), jax.tree.map(mask, obs)


def _failure(res: mirror.MirrorFlowResult, t1: float) -> str:
    return (
        f"the ODE solver failed at t = {res.t_end:.6g} before t1 = {t1:.6g} ({res.reason}; "
        f"path: {PATH}) after {res.n_steps} steps and {res.n_evals} evaluations; "
        + ("the exact flow cannot blow up in finite time: tighten rtol"
           if res.reason.startswith("blow-up") else "raise max_steps or loosen rtol/atol")  # fmt: skip
    )


def run(model, problem, method, params0, observe, *, label: str, check: bool = True) -> Trajectory:
    """The flow of ``method`` (a GradientFlow: t1, save times, rtol, atol, loss_tol, max_steps) in
    mirror coordinates, as a Trajectory. With ``check`` a failed run raises ``SolverError`` naming
    the time and the reason; otherwise it is returned with status SOLVER_FAILED."""
    ts = np.asarray(method.save_times(), dtype=np.float64)
    t1 = float(method.t1)
    with progress.task(f"{label} (mirror coordinates)", total=None):
        res = mirror.mirror_flow(model, problem, ts=ts, rtol=float(method.rtol),
                                 atol=float(method.atol), params0=params0,
                                 loss_tol=None if method.loss_tol is None else float(method.loss_tol),
                                 max_steps=int(method.max_steps), check=False)  # fmt: skip
    if check and res.status == SOLVER_FAILED:
        raise SolverError(_failure(res, t1))
    reached = np.isfinite(res.t)
    params = jnp.asarray(res.params)
    loss, observed = _snapshots(model, problem, params, jnp.asarray(reached), observe)
    return Trajectory(
        t=jnp.asarray(res.t),
        loss=loss,
        observed=observed,
        final=jnp.asarray(res.final_params),
        n_evals=jnp.asarray(res.n_evals),  # right-hand sides + JVPs, as the Rosenbrock flow's
        status=jnp.asarray(res.status),  # the mirror flow's codes are the Trajectory's
        diverged_step=jnp.asarray(-1),
        method="GradientFlow",
        path=PATH,
    )


def run_batch(models, problems, methods, params0s, observe, *, label: str) -> Trajectory:
    """Members one after another (a failed member keeps status SOLVER_FAILED, as a batch does),
    stacked into one batched Trajectory of NumPy arrays (NaN-padded where a member stopped early)."""
    progress.note(f"{label}: using the exact {PATH} for all {len(models)} runs, one by one")
    trajs = [
        run(m, p, meth, x, observe, label=f"{label} [{i}]", check=False)
        for i, (m, p, meth, x) in enumerate(zip(models, problems, methods, params0s))
    ]
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trajs)
