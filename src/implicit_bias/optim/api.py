"""The entry verbs ``fit`` and ``fit_batch``: shape checks, the exact reductions, divergence handling.

    traj = fit(model, problem, GD(eta=1e-3, n_steps=10_000), key)
    traj = fit(model, problem, GradientFlow(t1=50.0), key)

Any method with ``solve(model, problem, params0, observe, *, axes, label) -> (Trajectory, last_loss)``
works here (GD, GradientFlow, SGD). The methods never import this module.

Paths (``Trajectory.path`` names the one that ran): with ``reduce=True`` the exact reductions come
first: seed 000's diagonal dynamics (``reduction.py``) for GD and GradientFlow, and the Hadamard flow
in mirror coordinates (``_mirror_path.py``) for ``GradientFlow(solver="mirror" | "auto" |
"rosenbrock")`` on ``Hadamard(factors="identical")`` and a ``Linear`` problem; otherwise the method's
own solve on the parameters ("full").

Every returned run is handed to ``recorder.record`` (the runner's sharpness rows; a no-op outside
``recorder.recording()``). The recorder's names stay importable from here.
"""

import jax
import numpy as np

from implicit_bias import progress
from implicit_bias.errors import ConfigError, DivergenceError, SolverError
from implicit_bias.optim import _mirror_path as mirror_path, reduction
from implicit_bias.optim.batching import solve_batch
from implicit_bias.optim.flow import GradientFlow
from implicit_bias.optim.objective import identity
from implicit_bias.optim.recorder import (  # noqa: F401  (re-exported: ``api.recording`` etc.)
    FitRecorder as FitRecorder,
    RecordedRun as RecordedRun,
    active_recorder as active_recorder,
    not_recording as not_recording,
    record as record,
    recording as recording,
)
from implicit_bias.optim.trajectory import DIVERGED, SOLVER_FAILED, Trajectory, truncate


def _describe(tree) -> str:
    """'a tuple of 3 arrays shaped (4, 4), (4, 4), (4, 4)' for a pytree of arrays (or shape structs)."""
    if hasattr(tree, "shape") and hasattr(tree, "dtype"):
        return f"an array of shape {tuple(tree.shape)}"
    leaves = jax.tree.leaves(tree)
    shapes = ", ".join(str(tuple(x.shape)) for x in leaves[:6]) + (", …" if len(leaves) > 6 else "")
    kind = type(tree).__name__
    return f"a {kind} of {len(leaves)} arrays shaped {shapes}"


def _plain(tree) -> bool:
    if isinstance(tree, tuple):
        return all(_plain(x) for x in tree)
    if isinstance(tree, dict):
        return all(_plain(x) for x in tree.values())
    return hasattr(tree, "shape") and hasattr(tree, "dtype")


def _expected(model):
    """The pytree of shapes ``model.init_params`` returns, or None if it cannot be traced."""
    init = getattr(model, "init_params", None)
    if init is None:
        return None
    try:
        return jax.eval_shape(init, jax.random.key(0))
    except Exception:  # an init that cannot be traced: nothing to compare with
        return None


def conform_params(model, params0):
    """``params0`` in the container the model's ``init_params`` builds (any sequence of factors
    becomes the tuple (W_1, …, W_N) that DeepMatrix expects); a ConfigError names the expected
    structure when it cannot be."""
    if _plain(params0):  # arrays and tuples/dicts of arrays are used as they are
        return params0
    expected = _expected(model)
    if expected is None:
        return params0
    want = jax.tree.structure(expected)
    if jax.tree.structure(params0) == want:
        return params0
    if (
        isinstance(expected, tuple)
        and not hasattr(params0, "dtype")
        and not isinstance(params0, dict)
    ):
        try:
            candidate = tuple(params0)
        except TypeError:
            candidate = None
        if candidate is not None and jax.tree.structure(candidate) == want:
            return candidate
    raise ConfigError(
        f"params0 does not have the structure {type(model).__name__} expects: it wants "
        f"{_describe(expected)} (as model.init_params returns), got {_describe(params0)}"
    )


def _check_shapes(model, problem, params0) -> None:
    try:
        out = jax.eval_shape(model, params0)
    except (TypeError, ValueError) as e:
        expected = _expected(model)
        want = (
            f" ({type(model).__name__} wants {_describe(expected)})" if expected is not None else ""
        )
        raise ConfigError(
            f"the initial parameters do not fit the model{want}: {str(e).splitlines()[0]}"
        ) from None
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
    eq. (7); for ``GradientFlow(solver="auto" or "rosenbrock")`` the Hadamard flow in mirror
    coordinates, ``optim/mirror.py``); ``Trajectory.path`` says which path ran, and ``reduce=False``
    forces the flow on the parameters. ``GradientFlow(solver="mirror")`` takes the mirror path or
    raises ConfigError saying why it does not apply. On NaN/inf, GD stops and raises
    ``DivergenceError`` (step, last finite loss, partial trajectory), or returns the truncated
    trajectory with ``on_divergence="return"``.
    """
    if on_divergence not in ("raise", "return"):
        raise ConfigError(f"on_divergence must be 'raise' or 'return', got {on_divergence!r}")
    if params0 is None:
        params0 = model.init_params(key)
    params0 = conform_params(model, params0)
    _check_shapes(model, problem, params0)
    observe = observe or identity
    label = label or type(method).__name__
    if _mirror_wanted(method, reduce, model, problem, [params0]):
        progress.note(f"{label}: using the exact {mirror_path.PATH}")
        traj = mirror_path.run(model, problem, method, params0, observe, label=label)
        traj = _finish(traj, None, on_divergence)
        return record(model, problem, method, traj, label, params0, observe)
    if reduce:
        reduced = reduction.try_reduce(model, problem, method, params0, observe, label=label)
        if reduced is not None:
            traj = _finish(*reduced, on_divergence)
            return record(model, problem, method, traj, label, params0, observe)
    traj, last_loss = method.solve(model, problem, params0, observe, axes=None, label=label)
    traj = _finish(traj, last_loss, on_divergence)
    return record(model, problem, method, traj, label, params0, observe)


def _mirror_wanted(method, reduce: bool, models, problems, params0s) -> bool:
    """Whether the run (or every member of a batch) takes the mirror-coordinate path; ConfigError
    for ``solver="mirror"`` where it cannot (with ``reduce=False``, or a member it does not fit)."""
    first = method[0] if isinstance(method, list) else method
    if not isinstance(first, GradientFlow) or first.solver not in mirror_path.SOLVERS:
        return False
    explicit = first.solver == "mirror"
    if not reduce:
        if explicit:
            raise ConfigError(
                "solver='mirror' is the exact mirror-coordinate path, which reduce=False turns off: "
                "choose a parameter-flow solver (e.g. 'rosenbrock') or leave reduce on"
            )
        return False
    models, problems = ([x] if not isinstance(x, list) else x for x in (models, problems))
    n = max(len(models), len(problems), len(params0s))
    pick = lambda v, i: v[i] if len(v) > 1 else v[0]  # noqa: E731
    for i in range(n):
        reason = mirror_path.why_not(pick(models, i), pick(problems, i), pick(params0s, i))
        if reason is not None:
            if explicit:
                member = f" (member {i})" if n > 1 else ""
                raise ConfigError(f"solver='mirror' does not apply{member}: {reason}")
            return False
    return True


def _unstack(tree) -> list:
    """The members of an already stacked pytree (leading axis B)."""
    size = jax.tree.leaves(tree)[0].shape[0]
    return [jax.tree.map(lambda x, i=i: x[i], tree) for i in range(size)]


def _finish(traj: Trajectory, last_loss, on_divergence: str) -> Trajectory:
    traj = truncate(traj)
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
            f"the ODE solver failed after its snapshot at t = {float(traj.t[-1]):.6g}, before t1 "
            "(the step budget max_steps ran out or the step size collapsed); raise max_steps or "
            "loosen rtol/atol"
        )
    return traj


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
    exact reduction is used when it applies to every member. The mirror-coordinate path (as in
    ``fit``, when it applies to every member) is a host-level solve: its members run one after
    another (each a compiled solve of the m-dimensional dual ODE; one compilation for the batch)
    and are stacked; a member whose solve fails keeps status 2, as in a vmapped batch.
    """
    observe = observe or identity
    first = lambda x: x[0] if isinstance(x, list) else x  # noqa: E731
    if params0 is None:
        n = next((len(v) for v in (keys, model) if isinstance(v, list)), None)
        if n is None:
            raise ConfigError("fit_batch needs params0, a list of keys or a list of models")
        pick = lambda v, i: v[i] if isinstance(v, list) else v  # noqa: E731
        params0 = [pick(model, i).init_params(pick(keys, i)) for i in range(n)]
    lengths = {len(v) for v in (model, problem, method, params0) if isinstance(v, list)}
    if 0 in lengths:
        raise ConfigError("cannot batch over an empty list")
    if len(lengths) > 1:
        raise ConfigError(
            "batched arguments must all have one length, got lists of lengths "
            f"{sorted(lengths)} among model, problem, method and params0"
        )
    if isinstance(first(method), GradientFlow) and first(method).solver in mirror_path.SOLVERS:
        members = params0 if isinstance(params0, list) else _unstack(params0)
        if _mirror_wanted(method, reduce, model, problem, members):
            n = len(members)
            each = lambda v: v if isinstance(v, list) else [v] * n  # noqa: E731
            label = label or f"GradientFlow ×{n}"
            traj = mirror_path.run_batch(each(model), each(problem), each(method), members,
                                         observe, label=label)  # fmt: skip
            return record(model, problem, method, traj, label, params0, observe)
    if reduce and lengths and isinstance(params0, list):
        n = next(iter(lengths))
        each = lambda v: v if isinstance(v, list) else [v] * n  # noqa: E731
        reduced = reduction.try_reduce_batch(
            each(model), each(problem), method, each(params0), observe, label=label or "GD"
        )
        if reduced is not None:
            return record(model, problem, method, reduced, label or "GD", params0, observe)
    if isinstance(params0, list):
        one = params0[0]
    else:  # an already stacked pytree
        one = jax.tree.map(lambda x: x[0], params0)
    _check_shapes(first(model), first(problem), one)
    traj = solve_batch(model, problem, method, params0, observe, label=label)
    if active_recorder() is not None:
        size = int(np.shape(traj.t)[0])
        label = label or f"{type(first(method)).__name__} ×{size}"
        record(model, problem, method, traj, label, params0, observe)
    return traj
