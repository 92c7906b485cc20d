"""The result of every method: ``Trajectory`` (snapshots, final parameters, status) and its status codes."""

import dataclasses
import functools as ft

import jax
import numpy as np
from jaxtyping import Array, Float, PyTree

from implicit_bias.errors import DivergenceError

OK, DIVERGED, SOLVER_FAILED, STOPPED_AT_TOL = 0, 1, 2, 3


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
        return truncate(one)

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


def truncate(traj: Trajectory) -> Trajectory:
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


_truncate = truncate  # the old private name
