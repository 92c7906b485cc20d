"""The matrix-free Rosenbrock flow solver (implicit_bias.optim.stiff) against tight reference solutions.

As diffrax tests its solvers: the order of one step (local error O(h^{p+1}), p = 3 for ROS34PW2)
and tolerance proportionality of the adaptive solve (global error ∝ rtol), both against exact or
tight reference solutions. Measured under load (2 cores shared by 8 jobs): 355 s wall for the five
tests, ~40 s of it CPU time (compilation dominates).
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

import implicit_bias  # noqa: F401  (float64)
from implicit_bias.optim import stiff


def _stiff_quadratic(d=40, seed=0):
    """L(y) = ½ yᵀHy with eigenvalues from 1e-2 to 1e4 (condition number 1e6): θ(t) = e^{−Ht} θ₀."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.geomspace(1e-2, 1e4, d)
    H = jnp.asarray((Q * lam) @ Q.T)
    y0 = jnp.asarray(rng.standard_normal(d))

    def exact(t):
        return Q @ (np.exp(-lam * t) * (Q.T @ np.asarray(y0)))

    return (lambda y: H @ y), (lambda y: 0.5 * y @ (H @ y)), y0, exact


def _nonlinear():
    """A small Hadamard-type flow: L(w) = ½‖A(w ⊙ w) − y‖², a nonlinear gradient flow."""
    rng = np.random.default_rng(1)
    A = jnp.asarray(rng.standard_normal((6, 10)) / np.sqrt(6))
    x = np.zeros(10)
    x[:2] = (1.0, 0.5)
    y = A @ x

    def loss(w):
        return 0.5 * jnp.sum((A @ (w * w) - y) ** 2)

    return jax.grad(loss), loss, jnp.full(10, 0.3)


def _reference(grad, y0, ts):
    sol = solve_ivp(
        lambda t, y: -np.asarray(grad(jnp.asarray(y))),
        (0.0, float(ts[-1])),
        np.asarray(y0),
        method="DOP853",
        t_eval=np.asarray(ts),
        rtol=1e-13,
        atol=1e-15,
    )
    return sol.y.T


def test_one_step_has_order_three():
    """Local error of one step is O(h⁴) (linear solves to ~1e-16, below it): halving h divides it
    by 2⁴ = 16 (log₂ ratio ∈ [3.5, 4.5]:
    the leading term dominates once h is small; the band allows the next term, O(h⁵))."""
    grad, _, y0 = _nonlinear()
    f = jax.jit(lambda y: -grad(y))
    errs = []
    hs = [0.08, 0.04, 0.02]
    for h in hs:
        ref = _reference(grad, y0, np.array([h]))[-1]
        y1, _, ok, _ = jax.jit(
            lambda y, h: stiff.step(f, y, h, rtol=1e-10, atol=1e-14, lin_tol=1e-3, max_cg=100)
        )(y0, h)
        assert bool(ok)
        errs.append(np.linalg.norm(np.asarray(y1) - ref))
    slopes = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all((slopes > 3.5) & (slopes < 4.5)), (errs, slopes)


def test_tolerance_proportionality_on_a_stiff_quadratic():
    """Global error ∝ rtol (Hairer–Wanner II, IV.7 / diffrax's tests): over rtol 1e-5 … 1e-8 the
    log-log slope of error vs rtol is 1 ± 0.3, and the error stays below rtol (error per unit of
    tolerance ≤ 1: the controller keeps the local error below tolerance and the decaying flow does
    not amplify it). An explicit solver would need ~10⁶ steps here (h ≲ 3/λ_max over t = 100)."""
    grad, loss, y0, exact = _stiff_quadratic()
    ts = jnp.array([1.0, 10.0, 100.0])
    rtols = [1e-5, 1e-8]
    errs, steps = [], []
    for rtol in rtols:
        out = jax.jit(
            lambda y0, rtol=rtol: stiff.solve(grad, loss, y0, ts, rtol=rtol, atol=rtol * 1e-2)
        )(y0)
        t, losses, obs, final, status, stats = out
        assert int(status) == stiff.OK
        errs.append(
            max(np.linalg.norm(np.asarray(obs[i]) - exact(float(ts[i]))) for i in range(3))
            / np.linalg.norm(y0)
        )
        steps.append(int(stats.n_accepted))
    slope = np.log10(errs[1] / errs[0]) / np.log10(rtols[1] / rtols[0])
    assert 0.7 <= slope <= 1.3, (errs, slope)
    assert all(e <= r for e, r in zip(errs, rtols)), errs
    assert max(steps) < 10_000, steps


def test_nonlinear_flow_matches_reference_and_stops_at_loss_tol():
    grad, loss, y0 = _nonlinear()
    ts = jnp.array([0.5, 2.0, 10.0])
    ref = _reference(grad, y0, ts)
    t, losses, obs, final, status, stats = jax.jit(
        lambda y0: stiff.solve(grad, loss, y0, ts, rtol=1e-9, atol=1e-11)
    )(y0)
    assert int(status) == stiff.OK
    err = np.max(np.abs(np.asarray(obs) - ref)) / np.max(np.abs(ref))
    # the tolerance-proportionality constant measured above is ≤ 1: error ≤ rtol, ×10 for the
    # nonlinear flow's growth phase
    assert err <= 1e-8, err
    np.testing.assert_allclose(np.asarray(losses), [float(loss(jnp.asarray(r))) for r in ref],
                               rtol=1e-6)  # fmt: skip
    # stop as soon as L < loss_tol: the last recorded loss is below it, the one before is not
    # (the flow's loss decreases strictly, so a threshold between L(2) and L(10) is crossed in (2, 10))
    tol = 0.5 * (float(loss(jnp.asarray(ref[1]))) + float(loss(jnp.asarray(ref[2]))))
    t, losses, obs, final, status, stats = jax.jit(
        lambda y0: stiff.solve(grad, loss, y0, jnp.array([10.0]), rtol=1e-8, loss_tol=tol)
    )(y0)
    assert int(status) == stiff.STOPPED_AT_TOL
    assert float(loss(final)) < tol
    assert 2.0 < float(t[0]) < 10.0


def test_indefinite_hessian_is_rejected_not_wrong():
    """At a strict saddle, W = I + γhH is indefinite once γh > 1/|λ_min(H)|: a first step that
    large is rejected (by CG's curvature test or the error estimate) and shortened, and the
    growing mode e^{t} is still resolved to the tolerance."""
    H = jnp.diag(jnp.array([-1.0, 1e3]))
    y0 = jnp.array([1e-3, 1.0])
    grad = lambda y: H @ y  # noqa: E731
    loss = lambda y: 0.5 * y @ (H @ y)  # noqa: E731
    ts = jnp.array([5.0])
    t, losses, obs, final, status, stats = jax.jit(
        lambda y0: stiff.solve(grad, loss, y0, ts, rtol=1e-8, atol=1e-12, h0=4.0)
    )(y0)
    assert int(status) == stiff.OK
    assert int(stats.n_rejected) >= 1
    np.testing.assert_allclose(float(final[0]), 1e-3 * np.exp(5.0), rtol=1e-6)


def test_engine_gradient_flow_rosenbrock_matches_tsit5():
    """``GradientFlow(solver="rosenbrock")`` through ``fit``: the same snapshots as a tight Tsit5
    solve (rtol 1e-11) to 1e-6 relative, i.e. 100 × its rtol of 1e-8 (the proportionality constant
    measured above is ≤ 1; ×100 covers the growth phase of a small initialization); ``n_evals``
    counts gradients + HVPs; a preconditioned model is refused with a ConfigError."""
    from implicit_bias.errors import ConfigError
    from implicit_bias.models.hadamard import Hadamard, WeightNormalized
    from implicit_bias.optim import GradientFlow, fit
    from implicit_bias.problems.linear import make_sparse

    data = make_sparse(m=8, n=20, s=2, seed=0)
    model = Hadamard(depth=2, n=20, alpha=1e-2)
    kw = dict(t1=50.0, n_saves=5, spacing="log", t_first=1.0)
    ref = fit(model, data.problem, GradientFlow(rtol=1e-11, atol=1e-13, solver="dopri8", **kw))
    # reduce=False: the parameter flow (with reduce on, this model takes the mirror path)
    ros = fit(model, data.problem, GradientFlow(rtol=1e-8, atol=1e-12, solver="rosenbrock", **kw),
              reduce=False)  # fmt: skip
    np.testing.assert_allclose(np.asarray(ros.t), np.asarray(ref.t))
    scale = np.max(np.abs(np.asarray(ref.observed)))
    assert np.max(np.abs(np.asarray(ros.observed) - np.asarray(ref.observed))) <= 1e-6 * scale
    assert int(ros.n_evals) > 0 and ros.ok
    wn = WeightNormalized(depth=2, n=20)
    try:
        fit(wn, data.problem, GradientFlow(solver="rosenbrock", **kw))
    except ConfigError as e:
        assert "rosenbrock" in str(e)
    else:
        raise AssertionError("a preconditioned model must be refused")


def test_auto_switches_to_rosenbrock_where_tsit5_runs_long_and_matches_a_tight_reference():
    """``GradientFlow(solver="auto")``: Tsit5 for ``switch_steps`` steps, then ROS34PW2 from where
    it stopped. Against a tight Dopri8 solve (rtol 1e-11):
    - with a budget far too small for this flow (10 steps) it switches, and the snapshots Tsit5
      took, the time it handed over at and the continuation all match to 1e-6 relative (100 × its
      rtol, the bound of the Rosenbrock test above); a continuation restarted from t = 0 or one
      that dropped Tsit5's snapshots would not;
    - with a budget it does not exhaust it *is* Tsit5: the same trajectory and work, bit for bit;
    - batched over two members of which only one switches, each member equals its own solo run
      (the members that finished early wait untouched while the other continues)."""
    from implicit_bias.models.hadamard import Hadamard
    from implicit_bias.optim import GradientFlow, fit, fit_batch
    from implicit_bias.problems.linear import make_sparse

    data = make_sparse(m=8, n=20, s=2, seed=0)
    kw = dict(t1=200.0, n_saves=6, spacing="log", t_first=0.5)
    tight = dict(rtol=1e-8, atol=1e-12)
    stiff_model = Hadamard(depth=2, n=20, alpha=1e-3)
    ref = fit(
        stiff_model, data.problem, GradientFlow(rtol=1e-11, atol=1e-13, solver="dopri8", **kw)
    )
    tsit = fit(stiff_model, data.problem, GradientFlow(solver="tsit5", **tight, **kw))
    tsit_steps = (int(tsit.n_evals) - 3) // 5  # 6 stages, FSAL: 5 new gradients per step
    assert tsit_steps > 10, tsit_steps  # so a 10-step budget must switch
    # reduce=False throughout: the parameter flow (with reduce on, "auto" takes the mirror path here)
    auto = fit(stiff_model, data.problem,
               GradientFlow(solver="auto", switch_steps=10, **tight, **kw), reduce=False)  # fmt: skip
    assert auto.ok
    np.testing.assert_allclose(np.asarray(auto.t), np.asarray(ref.t))
    scale = np.max(np.abs(np.asarray(ref.observed)))
    assert np.max(np.abs(np.asarray(auto.observed) - np.asarray(ref.observed))) <= 1e-6 * scale
    assert int(auto.n_evals) > 3 + 5 * 10  # the Rosenbrock continuation's work is counted

    same = fit(stiff_model, data.problem,
               GradientFlow(solver="auto", switch_steps=10 * tsit_steps, **tight, **kw),
               reduce=False)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(same.observed), np.asarray(tsit.observed))
    assert int(same.n_evals) == int(tsit.n_evals)

    easy_model = Hadamard(depth=2, n=20, alpha=0.5)
    easy = fit(easy_model, data.problem, GradientFlow(solver="tsit5", **tight, **kw))
    easy_steps = (int(easy.n_evals) - 3) // 5
    budget = max(easy_steps + 1, 11)  # the easy member finishes inside it, the stiff one does not
    assert budget < tsit_steps, (easy_steps, tsit_steps)
    method = GradientFlow(solver="auto", switch_steps=budget, **tight, **kw)
    batch = fit_batch([stiff_model, easy_model], data.problem, method, reduce=False)
    # vmapped arithmetic may round differently from a solo call, so members are compared at the
    # solver's accuracy (the 1e-6 of the reference comparison above), not bit for bit
    for i, mdl in enumerate([stiff_model, easy_model]):
        solo = fit(mdl, data.problem, method, reduce=False)
        obs, want = np.asarray(batch.member(i).observed), np.asarray(solo.observed)
        assert np.max(np.abs(obs - want)) <= 1e-6 * np.max(np.abs(want))
    # the easy member's work is its Tsit5 work alone: nothing of the continuation is charged to it
    assert int(batch.member(1).n_evals) == int(easy.n_evals)
    assert int(batch.member(0).n_evals) > 3 + 5 * budget

    from implicit_bias.errors import ConfigError

    try:
        GradientFlow(t1=1.0, solver="auto", switch_steps=0)
    except ConfigError as e:
        assert "switch_steps must be >= 1" in str(e)
    else:
        raise AssertionError("switch_steps = 0 must be refused")
