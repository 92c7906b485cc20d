"""The recorder of finished runs, for the runner's sharpness rows (issue 21 §1).

Inside ``with recording() as rec:`` every ``fit`` and ``fit_batch`` that returns (and
``sgd.run_seeds``) appends its run to ``rec`` (``FitRecorder``: model, problem, method, trajectory,
label, initial parameters), keeping only runs of at most ``rec.max_params`` parameters and the first
``rec.limit`` of them (a batch member counts as one run) and counting the rest. The recorder is a
``contextvars.ContextVar``, unset by default: outside ``recording()`` a run pays one
``ContextVar.get``. ``not_recording()`` hides a fit that is a computation, not a run (the flow of
``gfs_sharpness``); ``record(…)`` hands a finished run to the active recorder. This module sits
below the methods and the dispatcher (``api``), so both can report to it.
"""

import contextlib
import contextvars
import dataclasses

import jax
import numpy as np

from implicit_bias.optim.objective import identity
from implicit_bias.optim.trajectory import Trajectory


@dataclasses.dataclass(frozen=True)
class RecordedRun:
    """One ``fit`` (``members`` = None) or the first ``members`` members of one ``fit_batch``.

    ``model``, ``problem``, ``method`` and ``params0`` are as the verb received them (lists or
    single values shared by the members; ``params0`` conformed, or stacked along a leading axis)."""

    model: object
    problem: object
    method: object
    traj: Trajectory
    label: str
    params0: object
    members: int | None = None
    observes_params: bool = True  # observe was the identity: ``traj.observed`` are the parameters


@dataclasses.dataclass
class FitRecorder:
    """The runs that ``fit``/``fit_batch`` returned while this recorder was active (``recording``).

    runs         the kept runs, in the order they finished
    n_kept       runs kept (batch members counted one by one), at most ``limit``
    n_too_large  runs not kept: more than ``max_params`` parameters
    n_over_limit runs not kept: past the first ``limit``
    """

    max_params: int = 500
    limit: int = 16
    runs: list = dataclasses.field(default_factory=list)
    n_kept: int = 0
    n_too_large: int = 0
    n_over_limit: int = 0

    def add(self, model, problem, method, traj: Trajectory, label: str, params0,
            observes_params: bool = True) -> None:  # fmt: skip
        batched = np.ndim(traj.t) == 2
        size = int(np.shape(traj.t)[0]) if batched else 1
        n = sum(int(np.size(x)) for x in jax.tree.leaves(traj.final)) // size
        if n > self.max_params:
            self.n_too_large += size
            return
        take = min(size, self.limit - self.n_kept)
        self.n_over_limit += size - take
        if take <= 0:
            return
        self.n_kept += take
        self.runs.append(RecordedRun(model, problem, method, traj, label, params0,
                                     members=take if batched else None,
                                     observes_params=observes_params))  # fmt: skip


_RECORDER: contextvars.ContextVar[FitRecorder | None] = contextvars.ContextVar(
    "implicit_bias_fit_recorder", default=None
)


@contextlib.contextmanager
def recording(recorder: FitRecorder | None = None):
    """Record every run that ``fit``/``fit_batch`` return in this context (this thread or task)
    into ``recorder`` (default: a new ``FitRecorder()``), which the ``with`` yields."""
    recorder = FitRecorder() if recorder is None else recorder
    token = _RECORDER.set(recorder)
    try:
        yield recorder
    finally:
        _RECORDER.reset(token)


@contextlib.contextmanager
def not_recording():
    """Record nothing in this context, even inside ``recording()`` (an auxiliary fit)."""
    token = _RECORDER.set(None)
    try:
        yield
    finally:
        _RECORDER.reset(token)


def active_recorder() -> FitRecorder | None:
    """The recorder of the current context, or None (the default)."""
    return _RECORDER.get()


def record(model, problem, method, traj: Trajectory, label: str, params0, observe) -> Trajectory:
    """Hand a finished run to the active recorder, if any (``fit``/``fit_batch`` do; a solver
    entry point outside them, such as ``sgd.run_seeds``, may). ``params0``: the start (a list or a
    stacked pytree for a batch); ``observe``: the observer the run used (the identity means the
    snapshots are the parameters). Returns ``traj``."""
    recorder = _RECORDER.get()
    if recorder is not None:
        recorder.add(model, problem, method, traj, label, params0, observe is identity)
    return traj
