"""Which path ``fit(…, GradientFlow)`` takes, and where every flow solver records a ``loss_tol`` stop.

* Hadamard with identical factors on a Linear problem: ``solver="rosenbrock"``/``"auto"``/``"mirror"``
  run the exact flow in mirror coordinates (``Trajectory.path``), and it matches the parameter flow
  (``reduce=False``: ROS34PW2 on the parameters at a 100× tighter rtol) at every snapshot;
* where the mirror map does not exist (distinct factors, weight normalization, GD) the old path runs,
  and ``solver="mirror"`` says why it cannot; a failed mirror solve is a SolverError naming its time;
* after a stop at ``loss_tol``, for each of tsit5, dopri5, dopri8, kvaerno5, auto, rosenbrock and
  mirror (and batched): ``t[-1]`` is the stopping time and ``loss[-1]``, ``observed[-1]`` are those
  of ``final``.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

import implicit_bias  # noqa: F401  (float64)
from implicit_bias.errors import ConfigError, SolverError
from implicit_bias.models.hadamard import Hadamard, WeightNormalized
from implicit_bias.optim import GD, STOPPED_AT_TOL, GradientFlow, fit, fit_batch, objective
from implicit_bias.optim._mirror_path import PATH, why_not
from implicit_bias.problems.linear import make_sparse

N_SAVES = 12  # as tests/test_mirror.py: the mirror solve compiles once per (N, signed) for both
RTOL = 1e-7  # the mirror path
RTOL_ORACLE = 1e-9  # the parameter flow it is held to


def _data(signed):
    return make_sparse(m=8, n=20, s=3, signed=signed, seed=1)


def _flow(N, alpha, **kw):
    unit = 1.0 if N == 2 else alpha ** (2.0 - N)  # the escape time scales with α^{2−N}
    return GradientFlow(t1=100.0 * unit, t_first=0.1 * unit, n_saves=N_SAVES, spacing="log", **kw)


@pytest.mark.parametrize(("N", "signed"), [(2, False), (3, True)])  # (2, True), (3, False): below
def test_fit_takes_the_mirror_path_and_matches_the_parameter_flow(N, signed):
    data = _data(signed)
    model = Hadamard(depth=N, n=20, signed=signed, alpha=1e-2)
    traj = fit(model, data.problem, _flow(N, 1e-2, rtol=RTOL, atol=0.0, solver="rosenbrock"))
    assert traj.path == PATH and traj.method == "GradientFlow" and traj.ok
    # loss_tol 0: never stops (a float, so that the compiled solve is the loss_tol test's)
    ref = fit(model, data.problem, _flow(N, 1e-2, rtol=RTOL_ORACLE, atol=1e-14, loss_tol=0.0,
                                         solver="rosenbrock"), reduce=False)  # fmt: skip
    assert ref.path == "full"
    np.testing.assert_array_equal(np.asarray(traj.t), np.asarray(ref.t))
    x = np.stack([np.asarray(model(p)) for p in traj.observed])
    x_ref = np.stack([np.asarray(model(p)) for p in ref.observed])
    # each mirror step's error is ≤ rtol relative in every factor, ≈ N·rtol in x̃ = w^N, accumulated
    # over a few transitions: test_mirror.py measures ≤ 4.3·rtol·max|x̃| against LSODA at 1e-11,
    # and the oracle's global error is ≤ its rtol (tests/test_stiff.py: constant ≤ 1), 1/100 of
    # this one's; so 20·rtol·max(1, |x̃|) leaves a margin of ~4 (measured here ≤ 3.5·rtol·max|x̃|)
    tol = 20 * RTOL * max(1.0, np.abs(x_ref).max())
    assert np.max(np.abs(x - x_ref)) <= tol
    np.testing.assert_allclose(np.asarray(model(traj.final)), x_ref[-1], rtol=0, atol=tol)
    np.testing.assert_allclose(np.asarray(traj.loss), np.asarray(ref.loss), rtol=0, atol=2 * tol)
    # the same loss at the same params (vmapped vs not: ~1e-16 of ‖y‖ in the residual r ~ 1e-12)
    np.testing.assert_allclose(np.asarray(traj.loss[-1]),
                               float(objective(model, data.problem, traj.final)), rtol=1e-9,
                               atol=1e-20)  # fmt: skip
    # the mirror flow needs far fewer evaluations than the parameter flow even on this easy start
    assert int(traj.n_evals) < int(ref.n_evals)


def _total(p):
    return jnp.sum(p)


def test_the_mirror_solvers_share_one_path_and_batch_member_by_member():
    data = _data(False)
    model = Hadamard(depth=2, n=20, alpha=1e-2)
    a = fit(model, data.problem, _flow(2, 1e-2, rtol=RTOL, atol=0.0, solver="mirror"))
    b = fit(model, data.problem, _flow(2, 1e-2, rtol=RTOL, atol=0.0, solver="auto"),
            observe=_total)  # fmt: skip
    assert a.path == b.path == PATH
    np.testing.assert_array_equal(np.asarray(b.observed), np.asarray(jnp.sum(a.observed, axis=(1, 2))))
    other = make_sparse(m=8, n=20, s=3, signed=False, seed=2).problem
    method = _flow(2, 1e-2, rtol=RTOL, atol=0.0, solver="rosenbrock")
    batch = fit_batch(model, [data.problem, other], method, params0=[model.init_params()] * 2)
    assert batch.path == PATH and np.asarray(batch.t).shape == (2, N_SAVES + 1)
    np.testing.assert_array_equal(np.asarray(batch.member(0).final), np.asarray(a.final))
    single = fit(model, other, method)
    np.testing.assert_array_equal(np.asarray(batch.member(1).observed), np.asarray(single.observed))


def test_where_the_mirror_map_does_not_exist_the_parameter_flow_runs():
    data = _data(False)
    short = GradientFlow(t1=0.5, n_saves=2, solver="rosenbrock")
    distinct = Hadamard(depth=2, n=20, factors="distinct", alpha=0.3)
    assert fit(distinct, data.problem, short).path == "full"
    wn = WeightNormalized(depth=2, n=20)
    with pytest.raises(ConfigError, match="plain gradient flow"):  # the parameter flow's refusal
        fit(wn, data.problem, short)
    hadamard = Hadamard(depth=2, n=20, alpha=0.3)
    assert fit(hadamard, data.problem, GD(eta=1e-3, n_steps=10)).path == "full"
    # (the diffrax solvers, tsit5 the default, keep the parameter flow: tested with loss_tol below)
    # the reasons, as solver="mirror" reports them
    assert "identical factors" in why_not(distinct, data.problem, distinct.init_params())
    assert "Hadamard" in why_not(wn, data.problem, wn.init_params())
    assert "positive" in why_not(hadamard, data.problem, -hadamard.init_params())
    assert "depth N >= 2" in why_not(Hadamard(depth=1, n=20), data.problem, hadamard.init_params())
    assert why_not(hadamard, data.problem, hadamard.init_params()) is None
    mirror = GradientFlow(t1=0.5, n_saves=2, solver="mirror")
    with pytest.raises(ConfigError, match="identical factors"):
        fit(distinct, data.problem, mirror)
    with pytest.raises(ConfigError, match="Hadamard"):
        fit(wn, data.problem, mirror)
    with pytest.raises(ConfigError, match="reduce=False"):
        fit(hadamard, data.problem, mirror, reduce=False)
    with pytest.raises(ConfigError, match=r"member 1.*identical factors"):
        fit_batch([hadamard, distinct], data.problem, mirror, params0=[hadamard.init_params()] * 2)


def test_a_failed_mirror_solve_is_a_solver_error_naming_its_time():
    data = _data(False)
    model = Hadamard(depth=2, n=20, alpha=1e-2)
    method = _flow(2, 1e-2, rtol=RTOL, atol=0.0, solver="mirror", max_steps=5)
    with pytest.raises(SolverError, match=r"solver failed at t = \S+ before t1 .*max_steps spent"):
        fit(model, data.problem, method)
    batch = fit_batch(model, data.problem, method, params0=[model.init_params()])
    assert int(batch.status[0]) == 2  # a batch keeps a failed member, as the vmapped solvers do


# ---------------------------------------------------------------------------------------------
# the loss_tol stop: t[-1] is the stopping time and loss[-1], observed[-1] are final's


LOSS_TOL = 3e-9  # from α = 0.5, reached at t ≈ 55, between the save times 53.4 and 100
# test 1's save times and solver settings (only traced values differ): the compiled solves are shared
STOP = _flow(2, 1e-2, rtol=1e-6, atol=1e-9, loss_tol=LOSS_TOL)


def _check_stop(traj, model, problem, loss_tol=LOSS_TOL):
    t, loss = np.asarray(traj.t), np.asarray(traj.loss)
    assert int(traj.status) == STOPPED_AT_TOL
    assert np.all(np.isfinite(t)) and np.all(np.diff(t) > 0)
    saves = np.concatenate([[0.0], np.asarray(STOP.save_times())])
    # the snapshots before the stop at their save times (up to the rounding of geomspace under jit);
    # the stop at or before the first save time not passed, and before t1
    np.testing.assert_allclose(t[:-1], saves[: len(t) - 1], rtol=1e-14)
    assert t[-1] <= saves[len(t) - 1] * (1 + 1e-14) and t[-1] < STOP.t1
    final_loss = float(objective(model, problem, traj.final))
    assert final_loss < loss_tol <= loss[-2]
    np.testing.assert_allclose(loss[-1], final_loss, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(traj.observed[-1]), np.asarray(traj.final), rtol=1e-12)


@pytest.mark.parametrize(
    ("solver", "extra"),
    [
        ("dopri5", {}),
        ("dopri8", {}),
        ("kvaerno5", {}),
        ("auto", {"switch_steps": 3}),  # stops inside the Rosenbrock continuation
        ("rosenbrock", {}),
        ("mirror", {}),
    ],  # tsit5 (and "auto" stopping inside Tsit5's budget, the same code): batched, below
)
def test_a_loss_tol_stop_is_the_last_snapshot(solver, extra):
    data = _data(False)
    model = Hadamard(depth=2, n=20, alpha=0.5)
    method = dataclasses.replace(STOP, solver=solver, **extra)
    traj = fit(model, data.problem, method, reduce=solver == "mirror")
    assert (traj.path == PATH) == (solver == "mirror")
    _check_stop(traj, model, data.problem)


def test_a_loss_tol_stop_is_the_last_snapshot_of_each_batch_member():
    """Tsit5 under vmap, members stopping at different times (loss_tol is traced)."""
    data = _data(False)
    model = Hadamard(depth=2, n=20, alpha=0.5)
    methods = [dataclasses.replace(STOP, solver="tsit5", loss_tol=tol) for tol in (LOSS_TOL, 1e-6)]
    batch = fit_batch(model, data.problem, methods, params0=[model.init_params()] * 2)
    assert batch.path == "full"
    for i, method in enumerate(methods):
        _check_stop(batch.member(i), model, data.problem, method.loss_tol)
