"""How parameters move: one entry verb (``fit``, ``fit_batch``), three methods, one result type.

    traj = fit(model, problem, GD(eta=1e-3, n_steps=10_000), key)
    traj = fit(model, problem, GradientFlow(t1=50.0), key)
    traj = fit(model, problem, SGD(eta=0.05, lam=1e-3, n_steps=10**6, seed=0), key)

One file per concern; imports point one way (top to bottom, never back up):

    objective.py   the objective ``problem.loss(model(θ))`` and its gradient (the model's pullback)
    trajectory.py  ``Trajectory`` and the status codes
    batching.py    vmap axes, stacking lists of members, splitting a batch over the CPU devices
    gd.py          ``GD``: gradient descent, chunks of steps inside jitted loops
    flow.py        ``GradientFlow``: exact gradient flow by diffrax (or stiff.py's Rosenbrock)
    stiff.py       the matrix-free ROS34PW2 Rosenbrock solver (HVPs + CG stage solves)
    mirror.py      the Hadamard flow in mirror coordinates: the m-dimensional ODE ν̇ = Ax̃(ν) − y
    _mirror_path.py  ``fit``'s glue from ``GradientFlow`` to ``mirror`` (where it is exact)
    saddles.py     ``saddles(traj, model, problem)``: the plateaus of a run, refined and certified
    sgd.py         ``SGD``: seed 001's SGD with weight decay on matrix completion
    sharpness.py   λ_max(∇²L) along a run (dense Hessian / Lanczos) and the GFS sharpness
    reduction.py   exact reductions (seed 000, eq. (7)): a matrix run that is really a scalar run
    api.py         ``fit`` / ``fit_batch``: shape checks, reductions, divergence handling

The methods never import ``api``; ``api`` imports them.
"""

from implicit_bias.optim.api import fit as fit, fit_batch as fit_batch
from implicit_bias.optim.batching import Axes as Axes
from implicit_bias.optim.flow import GradientFlow as GradientFlow
from implicit_bias.optim.gd import GD as GD
from implicit_bias.optim.objective import (
    descent_direction as descent_direction,
    end_to_end_gradient as end_to_end_gradient,
    gradient as gradient,
    identity as identity,
    objective as objective,
)
from implicit_bias.optim.sgd import SGD as SGD
from implicit_bias.optim.sharpness import (
    gfs_sharpness as gfs_sharpness,
    sharpness_along as sharpness_along,
)
from implicit_bias.optim.trajectory import (
    DIVERGED as DIVERGED,
    OK as OK,
    SOLVER_FAILED as SOLVER_FAILED,
    STOPPED_AT_TOL as STOPPED_AT_TOL,
    Trajectory as Trajectory,
)

__all__ = [
    "DIVERGED",
    "OK",
    "SOLVER_FAILED",
    "STOPPED_AT_TOL",
    "SGD",
    "Axes",
    "GD",
    "GradientFlow",
    "Trajectory",
    "descent_direction",
    "end_to_end_gradient",
    "fit",
    "fit_batch",
    "gfs_sharpness",
    "gradient",
    "identity",
    "objective",
    "sharpness_along",
]
