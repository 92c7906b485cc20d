"""The Hadamard flows in mirror coordinates (implicit_bias.optim.mirror) against the parameter flow.

* the formulas: along ν̇ = r the parameters w(ν) (mirror_to_params) move exactly by −∇L(w), the
  engine's gradient (jax.jvp, float64 round-off), N = 2, 3, 4, positive and signed, non-uniform w(0);
* the simulation: x̃ of mirror_flow at 12 save times equals the parameter flow (SciPy's LSODA on
  ẇ = −N w^{N−1} ⊙ Aᵀr, rtol 1e-11, an independent integrator) to 20·rtol·max(1, |x̃|) at
  rtol = 1e-7, N = 2, 3, positive and signed, α = 1e-2 and 1e-3, non-uniform w(0): each step's
  error is ≤ rtol relative in every factor, so ≈ N·rtol in x̃ = w^N, accumulated over a few
  transitions; measured ≤ 4.3·rtol·max|x̃| (N = 3 signed, α = 1e-2), so 20× leaves a margin of 5;
  a wrong exponent N(N−1) in place of N(N−2) misses by > 1e4 times the tolerance;
* small α: converges at α = 1e-16 and 1e-30, N = 2 and 3 (x̃(0) = α^N does not underflow: 1e-48,
  1e-90 for N = 3). The Rosenbrock parameter flow converges too at N = 2 (benchmarks/README.md),
  but fails at N = 3: its step must shrink to O(1) at the escape time t ≈ α^{2−N}/(N(N−2)|Aᵀy|_i)
  ~ 1e15, below its collapse threshold 1e-14·t;
* the limit approaches the minimum-ℓ1 solution as α falls, at the measured rates α^{2(1−|s|)} for
  N = 2 (s the dual certificate of the limit path, theory.limit_path) and α^N for N = 3.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import implicit_bias  # noqa: F401  (float64)
from implicit_bias.baselines.l1 import basis_pursuit
from implicit_bias.errors import ConfigError, SolverError
from implicit_bias.models.hadamard import Hadamard, WeightNormalized
from implicit_bias.optim import GradientFlow, _mirror_path as mirror_path, fit, gradient, mirror
from implicit_bias.problems.linear import make_sparse

RTOL = 1e-7
N_SAVES = 12  # one save-time count everywhere: one compilation per (N, signed)


def _data(signed):
    return make_sparse(m=8, n=20, s=3, signed=signed, seed=1)


def _unit(N, alpha):
    return 1.0 if N == 2 else alpha ** (2.0 - N)


def _params0(model, seed=0):
    """A non-uniform positive start around α: α·e^{U(−1, 1)} per entry."""
    rng = np.random.default_rng(seed)
    shape = model.param_shape()
    return jnp.asarray(model.alpha * np.exp(rng.uniform(-1.0, 1.0, size=shape)))


def _reference(model, A, y, params0, ts):
    """The parameter flow ẇ_p = −s_p N w_p^{N−1} ⊙ Aᵀr (s = +1 for u/w, −1 for v) by LSODA (w in
    units of its mean start; within 4e-8 of Radau at rtol 1e-12 on these instances)."""
    N, P = model.depth, (2 if model.signed else 1)
    sgn = np.array([1.0, -1.0])[:P, None]
    AtA = A.T @ A
    w0 = np.asarray(params0).reshape(P, -1)
    scale = w0.mean()

    def f(t, z):
        w = z.reshape(P, -1) * scale
        g = A.T @ (A @ np.sum(sgn * w**N, axis=0) - y)
        return (-sgn * N * w ** (N - 1) * g).ravel() / scale

    def jac(t, z):
        w = z.reshape(P, -1) * scale
        g = A.T @ (A @ np.sum(sgn * w**N, axis=0) - y)
        d = (sgn * N * w ** (N - 1)).ravel()  # ∂x̃/∂w, stacked
        n = w.shape[1]
        J = -np.outer(d, d) * np.tile(AtA, (P, P))
        J[np.diag_indices(P * n)] -= (sgn * N * (N - 1) * w ** (N - 2) * g).ravel()
        return J

    sol = solve_ivp(f, (0.0, ts[-1]), w0.ravel() / scale, method="LSODA", t_eval=ts, rtol=1e-11,
                    atol=1e-16, jac=jac)  # fmt: skip
    assert sol.success, sol.message
    W = sol.y.T.reshape(len(ts), P, -1) * scale
    return np.sum(sgn * W**N, axis=1)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("N", [2, 3, 4])
def test_mirror_formula_moves_the_parameters_by_minus_the_gradient(N, signed):
    """d/dt w(ν(t)) with ν̇ = r equals −∇_w L̃ (the engine's gradient) at a random ν."""
    data = _data(signed)
    model = Hadamard(depth=N, n=20, signed=signed, alpha=0.3)
    p0 = _params0(model, seed=N)
    assert np.allclose(mirror.mirror_to_params(model, data.problem, p0, jnp.zeros(8)), p0,
                       rtol=1e-14)  # fmt: skip
    nu = jnp.asarray(np.random.default_rng(N).standard_normal(8)) * 0.05
    params = mirror.mirror_to_params(model, data.problem, p0, nu)
    assert bool(jnp.all(jnp.isfinite(params)))
    r = data.problem.A @ model(params) - data.problem.y
    _, dw = jax.jvp(lambda v: mirror.mirror_to_params(model, data.problem, p0, v), (nu,), (r,))
    g = gradient(model, data.problem, params)
    np.testing.assert_allclose(np.asarray(dw), -np.asarray(g), rtol=1e-10, atol=1e-14)


def _match(N, signed, alpha, **kw):
    """max |x̃_mirror − x̃_param| over the save times, and the tolerance 20·rtol·max(1, |x̃|)."""
    data = _data(signed)
    model = Hadamard(depth=N, n=20, signed=signed, alpha=alpha)
    p0 = _params0(model)
    ts = np.geomspace(0.1, 100.0, N_SAVES) * _unit(N, alpha)
    res = mirror.mirror_flow(model, data.problem, ts=ts, rtol=RTOL, params0=p0, **kw)
    ref = _reference(model, data.A, data.y, p0, ts)
    err = np.max(np.abs(res.x_tilde[1:] - ref))
    return err, 20 * RTOL * max(1.0, np.abs(ref).max()), res


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("N", [2, 3])
def test_mirror_flow_matches_the_parameter_flow(N, signed):
    for alpha in (1e-2, 1e-3):
        err, tol, res = _match(N, signed, alpha)
        assert res.status == mirror.OK
        assert err <= tol, (alpha, err, tol)


def test_a_wrong_exponent_fails_the_match(monkeypatch):
    """N(N−1) in place of N(N−2) (the mutant): the match misses by orders of magnitude."""
    monkeypatch.setattr(mirror, "coefficient", lambda N: 4.0 if N == 2 else float(N * (N - 1)))
    # a different static argument: the mutant's compilation does not replace the cached good one
    err, tol, _ = _match(3, False, 1e-2, lin_tol=0.0499)
    assert err > 1e4 * tol, (err, tol)


@pytest.mark.parametrize("N", [2, 3])
def test_converges_at_tiny_alpha(N):
    data = _data(False)
    x_bp = basis_pursuit(data.A, data.y, nonneg=True)
    for alpha in (1e-16, 1e-30):
        model = Hadamard(depth=N, n=20, alpha=alpha)
        assert float(jnp.min(model(model.init_params()))) > 0  # α^N does not underflow
        unit = _unit(N, alpha)
        res = mirror.mirror_flow(model, data.problem, ts=np.geomspace(1e-3, 1e9, N_SAVES) * unit,
                                 rtol=1e-6, loss_tol=1e-16)  # fmt: skip
        assert res.status == mirror.STOPPED_AT_TOL, res.reason
        assert np.max(np.abs(res.x_final - x_bp)) < 1e-6


def test_the_parameter_flow_fails_where_the_mirror_flow_converges():
    """N = 3, α = 1e-16: the Rosenbrock parameter flow stops at the escape (t ~ 1e15, step collapse)."""
    data = _data(False)
    model = Hadamard(depth=3, n=20, alpha=1e-16)
    method = GradientFlow(t1=1e25, t_first=1e13, n_saves=N_SAVES, spacing="log",
                          solver="rosenbrock", rtol=1e-6, atol=1e-10)  # fmt: skip
    with pytest.raises(SolverError, match="solver failed"):
        fit(model, data.problem, method, reduce=False)  # the parameter flow
    assert fit(model, data.problem, method).path == mirror_path.PATH  # fit's default: it converges


def _limit_distance(N, signed, alpha):
    data = _data(signed)
    model = Hadamard(depth=N, n=20, signed=signed, alpha=alpha)
    res = mirror.mirror_flow(model, data.problem, ts=np.geomspace(1e-3, 1e12, N_SAVES)
                             * _unit(N, alpha), rtol=1e-7, loss_tol=1e-20)  # fmt: skip
    x_bp = basis_pursuit(data.A, data.y, nonneg=not signed)
    return float(np.max(np.abs(res.x_final - x_bp)))


def test_limit_approaches_min_l1_at_the_measured_rate():
    """‖x̃_∞ − x_ℓ1‖_∞ falls as a power of α: measured slopes vs the predictions α^{2(1−|s|)} (N = 2,
    s the limit path's final dual; the off-support entries are ≈ α^{2(1−|s_i|)}) and α^N (N = 3)."""
    from implicit_bias.theory.limit_path import limit_path_diagonal

    data = _data(True)
    slack = limit_path_diagonal(data.A, data.y).certificate_slack
    alphas = np.array([1e-4, 1e-8, 1e-16])
    d2 = np.array([_limit_distance(2, True, a) for a in alphas])
    assert np.all(np.diff(d2) < 0), d2
    slope2 = np.polyfit(np.log(alphas), np.log(d2), 1)[0]
    assert abs(slope2 - 2 * slack) < 0.25 * 2 * slack, (slope2, 2 * slack, d2)
    alphas3 = np.array([1e-2, 1e-3])
    d3 = np.array([_limit_distance(3, True, a) for a in alphas3])
    slope3 = np.polyfit(np.log(alphas3), np.log(d3), 1)[0]
    assert abs(slope3 - 3) < 0.3, (slope3, d3)
    print(f"N=2 signed: distances {d2}, slope {slope2:.3f} (predicted 2·slack = {2 * slack:.3f}); "
          f"N=3 signed: {d3}, slope {slope3:.3f}")  # fmt: skip


def test_bad_input_is_refused():
    data = _data(False)
    with pytest.raises(ConfigError, match="identical factors"):
        mirror.mirror_flow(Hadamard(depth=2, n=20, factors="distinct"), data.problem, t1=1.0)
    with pytest.raises(ConfigError, match="Hadamard"):
        mirror.mirror_flow(WeightNormalized(depth=2, n=20), data.problem, t1=1.0)
    model = Hadamard(depth=3, n=20)
    with pytest.raises(ConfigError, match="positive"):
        mirror.mirror_flow(model, data.problem, t1=1.0, params0=-model.init_params())
    with pytest.raises(ConfigError, match="shape"):
        mirror.mirror_flow(model, data.problem, t1=1.0, params0=jnp.ones((2, 1, 20)))
    with pytest.raises(ConfigError, match="overflows"):
        mirror.bases0(Hadamard(depth=12, n=20, alpha=1e-40), Hadamard(depth=12, n=20,
                      alpha=1e-40).init_params())  # fmt: skip


def test_a_failed_run_names_its_time():
    data = _data(False)
    model = Hadamard(depth=2, n=20, alpha=1e-3)
    ts = np.geomspace(0.1, 1e3, N_SAVES)
    with pytest.raises(SolverError, match=r"failed at t = .*max_steps"):
        mirror.mirror_flow(model, data.problem, ts=ts, rtol=RTOL, max_steps=5)
    res = mirror.mirror_flow(model, data.problem, ts=ts, rtol=RTOL, max_steps=5, check=False)
    assert res.status == mirror.FAILED and np.isnan(res.t[-1])


def test_a_base_at_zero_is_infinite_not_finite_garbage():
    """x̃ = B^{−N/(N−2)} only for B > 0: a step that crosses 0 sees inf and is rejected."""
    assert np.isinf(mirror.parts(3, jnp.asarray([0.0, -1.0]))).all()
    assert float(mirror.parts(3, jnp.asarray([2.0]))[0]) == pytest.approx(2.0**-3)
    model = Hadamard(depth=3, n=2, alpha=0.5)
    p = mirror._params_from_bases(model, jnp.asarray([[4.0, -1.0]]))
    assert float(p[0, 0]) == pytest.approx(0.25) and np.isnan(float(p[0, 1]))
