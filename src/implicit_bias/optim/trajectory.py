"""The result of every method: ``Trajectory`` (snapshots, final parameters, status) and its status codes."""

import dataclasses
import functools as ft

import jax
import numpy as np
from jaxtyping import Array, Float, PyTree

from implicit_bias.errors import DivergenceError

OK, DIVERGED, SOLVER_FAILED, STOPPED_AT_TOL = 0, 1, 2, 3

_sharpness_along = None  # optim.sharpness.sharpness_along, registered by that module on import


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

    def to_frame(self, *, max_columns: int = 64):
        """One pandas row per snapshot: ``t``, ``loss`` and the observed values.

        Each observed leaf with at most ``max_columns`` numbers per snapshot is spread over columns
        named after its path and index (``observed``, ``observed[0, 1]``, ``observed[2][0, 0]``, …);
        a larger leaf is one column holding an array per row. A batched trajectory gets a ``member``
        column (one block of rows per member, padding after a divergence dropped).
        """
        import pandas as pd

        if np.ndim(self.t) == 2:
            frames = []
            for i in range(np.shape(self.t)[0]):
                frame = self.member(i).to_frame(max_columns=max_columns)
                frames.append(frame.assign(member=i))
            return pd.concat(frames, ignore_index=True)
        columns = {"t": np.asarray(self.t), "loss": np.asarray(self.loss)}
        n = columns["t"].shape[0]
        for path, leaf in jax.tree_util.tree_flatten_with_path(self.observed)[0]:
            name = "observed" + jax.tree_util.keystr(path)
            values = np.asarray(leaf)
            per_row = values[0].size if values.ndim > 0 and values.shape[0] else 0
            if values.ndim == 1:
                columns[name] = values
            elif per_row <= max_columns:
                for index in np.ndindex(values.shape[1:]):
                    columns[f"{name}[{', '.join(map(str, index))}]"] = values[
                        (slice(None),) + index
                    ]
            else:
                columns[name] = list(values)
        columns = {k: v for k, v in columns.items() if len(v) == n}
        return pd.DataFrame(columns)

    def plot(self, *, title: str | None = None):
        """The standard figure: the loss over t (log scale) and, when the observed value is one
        matrix or vector per snapshot, its singular values (or entries) over t. Returns the Figure."""
        import matplotlib.pyplot as plt

        if np.ndim(self.t) == 2:
            raise ValueError("plot one member of a batched trajectory: traj.member(i).plot()")
        t, loss = np.asarray(self.t), np.asarray(self.loss)
        leaves = jax.tree.leaves(self.observed)
        obs = np.asarray(leaves[0]) if len(leaves) == 1 else None
        panels = 2 if obs is not None and obs.ndim in (2, 3) else 1
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), squeeze=False)
        ax = axes[0, 0]
        positive = loss > 0
        ax.semilogy(t[positive], loss[positive]) if positive.any() else ax.plot(t, loss)
        ax.set(xlabel="step" if self.method in ("GD", "SGD") else "time t", ylabel="loss",
               title=f"{self.method} ({self.path})")  # fmt: skip
        if panels == 2:
            ax = axes[0, 1]
            if obs.ndim == 3:
                ax.plot(t, np.linalg.svd(obs, compute_uv=False))
                ax.set(
                    xlabel=axes[0, 0].get_xlabel(), ylabel="singular values of the observed matrix"
                )
            else:
                ax.plot(t, obs)
                ax.set(xlabel=axes[0, 0].get_xlabel(), ylabel="observed entries")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig

    def saddles(self, model, problem, **kw):
        """The plateaus of this run, each refined to its critical point and certified by its
        Hessian index (``implicit_bias.optim.saddles.saddles``; keywords go there)."""
        from implicit_bias.optim.saddles import saddles

        return saddles(self, model, problem, **kw)

    def sharpness(self, model, problem, k: int = 1, every: int = 1):
        """λ_1 ≥ … ≥ λ_k of ∇²L(θ) at every ``every``-th snapshot (and the last) of this run, which
        must have observed the parameters: ``optim.sharpness.sharpness_along`` (exact float64
        Hessian up to ``DENSE_MAX`` parameters, Lanczos above); returns its ``Sharpness``.

        ``optim.sharpness`` registers that function here when it is imported (the ``optim``
        package imports it): even a lazy import of it from this module would close the circle
        trajectory → sharpness → api (``gfs_sharpness`` runs ``fit``) → trajectory that
        ``tests/test_imports.py`` forbids."""
        if _sharpness_along is None:  # pragma: no cover - the optim package registers it
            raise RuntimeError("import implicit_bias.optim.sharpness first")
        return _sharpness_along(model, problem, self, k=k, every=every)

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
