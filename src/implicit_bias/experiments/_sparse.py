"""Shared pieces of the seed-003 sparse experiments: the flow to its limit, with a relative loss stop.

Two integrators of the same vector field −``descent_direction`` (the engine's):
  ``engine_flow``  the engine's ``GradientFlow`` (explicit Tsit5): crosses the saddle plateau in few
                   steps and is what the benchmark times;
  ``stiff_flow``   the same with ``solver="kvaerno5"`` (implicit). Near the limit the flow is
                   stiff: the residual left in the directions that only the tiny off-support coordinates can fit decays at a rate
                   ~ x_off^{2−2/N}, while the support coordinates bound an explicit step by ~1/‖A‖²x_max.
                   At n = 40 Tsit5 needs > 3·10⁵ steps (N = 3, α = 0.03) where Kvaerno5 needs ~6·10³.
"""

import numpy as np

from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim import GradientFlow, Trajectory, fit


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


def stiff_method(problem, *, rel_tol=1e-12, t1=1e12, n_saves=60, rtol=1e-8, atol=1e-12,
                 max_steps=200_000) -> GradientFlow:  # fmt: skip
    """The engine's gradient flow with the implicit Kvaerno5 solver, log grid from t = 1e-2, stopped
    once L < rel_tol · ½‖y‖²."""
    return GradientFlow(t1=t1, n_saves=n_saves, spacing="log", t_first=1e-2, rtol=rtol, atol=atol,
                        loss_tol=loss_tol(problem, rel_tol), max_steps=max_steps,
                        solver="kvaerno5")  # fmt: skip


def stiff_flow(model, problem, params0=None, **kw) -> Trajectory:
    """Gradient flow to its limit by the implicit Kvaerno5 solver (``fit`` with ``stiff_method``);
    a SolverError if the step budget runs out. Snapshots of x̃ = model(params) on a log grid."""
    return fit(model, problem, stiff_method(problem, **kw), params0=params0,
               observe=observer(model), label="gradient flow (Kvaerno5)")  # fmt: skip


def limit(model, problem, params0=None, **kw) -> tuple[Trajectory, np.ndarray]:
    """(trajectory, x̃ at the end) of the stiff flow of ``model`` from ``params0`` (default α·1)."""
    traj = stiff_flow(model, problem, params0, **kw)
    return traj, np.asarray(model(traj.final))


def engine_limit(model, problem, method, params0=None) -> tuple[Trajectory, np.ndarray]:
    """The same with the engine's ``fit`` (explicit solver or GD)."""
    traj = fit(model, problem, method, params0=params0, observe=observer(model))
    return traj, np.asarray(model(traj.final))
