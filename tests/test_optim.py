"""The engine: GD vs gradient flow, invariants of the flow, divergence handling, batching."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias import metrics
from implicit_bias.errors import ConfigError, DivergenceError
from implicit_bias.models.deep_matrix import DeepMatrix, balanced_init
from implicit_bias.optim import GD, GradientFlow, fit, fit_batch
from implicit_bias.problems.full import FullObservation, random_target, symmetric_with_spectrum


def _problem():
    return random_target(0, (4, 4))


def test_gd_tracks_gradient_flow_with_first_order_error(key):
    # Rate test: max_k ‖W_GD(k) − W_flow(kη)‖ = O(η); the fitted log-log slope is ≈ 1.
    problem = _problem()
    model = DeepMatrix(depth=3, n=4, init="gaussian", alpha=0.5)
    params0 = model.init_params(key)
    T = 4.0
    flow = fit(
        model, problem, GradientFlow(t1=T, n_saves=8, rtol=1e-11, atol=1e-13), params0=params0
    )
    W_flow = jax.vmap(model)(flow.observed)
    etas = [0.02, 0.01, 0.005, 0.0025]
    errors = []
    for eta in etas:
        n = int(round(T / eta))
        gd = fit(model, problem, GD(eta=eta, n_steps=n, save_every=n // 8), params0=params0)
        np.testing.assert_allclose(np.asarray(gd.t) * eta, flow.t, atol=1e-12)
        W_gd = jax.vmap(model)(gd.observed)
        errors.append(float(jnp.max(jnp.abs(W_gd - W_flow))))
    slope = np.polyfit(np.log(etas), np.log(errors), 1)[0]
    assert 0.9 < slope < 1.1, (errors, slope)


@pytest.mark.parametrize("init", ["gaussian", "balanced"])
def test_gradient_flow_conserves_balancedness(init, key):
    # Invariant: W_{j+1}ᵀW_{j+1} − W_jW_jᵀ is constant along the flow (Arora et al. 2018).
    problem = _problem()
    model = DeepMatrix(depth=3, n=4, init=init, alpha=0.6)
    params0 = model.init_params(key)
    traj = fit(
        model, problem, GradientFlow(t1=5.0, n_saves=5, rtol=1e-11, atol=1e-13), params0=params0
    )
    B0 = metrics.balancedness_matrices(params0)
    B1 = metrics.balancedness_matrices(traj.final)
    for a, b in zip(B0, B1):
        assert float(jnp.max(jnp.abs(a - b))) < 1e-8
    assert float(traj.loss[-1]) < float(traj.loss[0])
    # GD does not conserve it exactly: the change is O(η²) per step, visible at η = 0.05
    gd = fit(model, problem, GD(eta=0.05, n_steps=100), params0=params0)
    drift = max(
        float(jnp.max(jnp.abs(a - b))) for a, b in zip(B0, metrics.balancedness_matrices(gd.final))
    )
    assert drift > 1e-6


def test_balanced_start_stays_balanced(key):
    target = 0.3 * jax.random.normal(key, (4, 4))
    params0 = balanced_init(target, 3, key=jax.random.key(2))
    model = DeepMatrix(depth=3, n=4)
    traj = fit(
        model, _problem(), GradientFlow(t1=3.0, n_saves=3, rtol=1e-11, atol=1e-13), params0=params0
    )
    assert float(jnp.max(metrics.balancedness(traj.final))) < 1e-8


def numpy_gd_divergence_step(params, W_hat, eta, max_steps):
    """Independent oracle: plain NumPy GD until the loss is not finite."""
    Ws = [np.asarray(W) for W in params]
    with np.errstate(all="ignore"):
        for k in range(1, max_steps + 1):
            P = [Ws[0]]
            for W in Ws[1:]:
                P.append(W @ P[-1])
            G = P[-1] - W_hat
            S, grads = G, [None] * len(Ws)
            for j in range(len(Ws) - 1, 0, -1):
                grads[j] = S @ P[j - 1].T
                S = Ws[j].T @ S
            grads[0] = S
            Ws = [W - eta * g for W, g in zip(Ws, grads)]
            prod = Ws[0]
            for W in Ws[1:]:
                prod = W @ prod
            if not np.isfinite(0.5 * np.sum((prod - W_hat) ** 2)):
                return k
    return None


@pytest.mark.parametrize("reduce", [False, True])
def test_divergence_is_reported_at_the_exact_step(reduce):
    problem = symmetric_with_spectrum([10.0, 7.0, 5.0, -5.0], seed=0)
    model = DeepMatrix(depth=3, n=4, init="identical", alpha=0.1)
    method = GD(eta=0.5, n_steps=1000, save_every=100)
    with pytest.raises(DivergenceError) as info:
        fit(model, problem, method, reduce=reduce)
    expected = numpy_gd_divergence_step(model.init_params(), np.asarray(problem.W_hat), 0.5, 1000)
    assert info.value.step == expected
    assert np.isfinite(info.value.last_loss) and info.value.last_loss > 0
    assert f"step {expected}" in str(info.value)
    # what was computed before the divergence is kept
    traj = info.value.trajectory
    assert len(traj) >= 1 and np.all(np.isfinite(np.asarray(traj.loss)))
    # and on request the truncated trajectory is returned instead
    traj = fit(model, problem, method, reduce=reduce, on_divergence="return")
    assert int(traj.status) == 1 and int(traj.diverged_step) == expected


def test_fit_batch_equals_single_runs(key):
    problem = _problem()
    model = DeepMatrix(depth=3, n=4, init="gaussian", alpha=0.3)
    keys = list(jax.random.split(key, 3))
    etas = [0.01, 0.02, 0.8]  # the last one diverges
    methods = [GD(eta=e, n_steps=600, save_every=50) for e in etas]
    batch = fit_batch(model, problem, methods, keys=keys)
    assert batch.loss.shape == (3, 13)
    status = np.asarray(batch.status)
    for i, (k, m) in enumerate(zip(keys, methods)):
        single = fit(model, problem, m, k, on_divergence="return")
        assert int(single.status) == status[i]
        member = batch.member(i)
        np.testing.assert_allclose(member.loss, single.loss, rtol=1e-12)
        assert int(batch.diverged_step[i]) == int(single.diverged_step)


def test_fit_batch_over_models_and_flow(key):
    problem = _problem()
    models = [DeepMatrix(depth=2, n=4, init="orthogonal", alpha=a) for a in (0.1, 0.2)]
    batch = fit_batch(models, problem, GradientFlow(t1=2.0, n_saves=4), keys=[key, key])
    for i, m in enumerate(models):
        single = fit(m, problem, GradientFlow(t1=2.0, n_saves=4), key)
        np.testing.assert_allclose(batch.loss[i], single.loss, rtol=1e-9)


def test_log_spaced_snapshots_and_loss_tolerance(key):
    problem = _problem()
    model = DeepMatrix(depth=2, n=4, init="gaussian", alpha=0.5)
    gd = fit(model, problem, GD(eta=0.05, n_steps=10_000, n_saves=20, spacing="log"), key)
    steps = np.asarray(gd.t)
    assert steps[0] == 0 and steps[-1] == 10_000 and np.all(np.diff(steps) > 0)
    assert int(gd.n_evals) == 10_000
    flow = fit(model, problem, GradientFlow(t1=1e4, n_saves=50, spacing="log", loss_tol=1e-10), key)
    assert int(flow.status) == 3  # stopped at the tolerance
    assert float(flow.loss[-1]) < 1e-8 and float(flow.t[-1]) < 1e4
    assert int(flow.n_evals) > 0


def test_log_spaced_save_times_never_pass_t1(key):
    # jnp.geomspace(1.1e-3, 11.0, n)[-1] rounds to 11.000000000000002 > t1, which diffrax refuses
    for t1 in (3.3, 5.5, 11.0):
        ts = np.asarray(GradientFlow(t1=t1, n_saves=50, spacing="log").save_times())
        assert ts[-1] == t1 and np.all(ts <= t1) and np.all(np.diff(ts) > 0)
    model = DeepMatrix(depth=2, n=4, init="gaussian", alpha=0.5)
    flow = fit(model, _problem(), GradientFlow(t1=11.0, n_saves=7, spacing="log"), key)
    assert float(flow.t[-1]) == 11.0 and np.isfinite(np.asarray(flow.loss)).all()


def test_implicit_solver_agrees_and_batched_loss_tolerances_are_per_run(key):
    problem = _problem()
    model = DeepMatrix(depth=2, n=4, init="gaussian", alpha=0.5)
    flows = {
        s: fit(
            model, problem, GradientFlow(t1=3.0, n_saves=5, rtol=1e-10, atol=1e-12, solver=s), key
        )
        for s in ("tsit5", "kvaerno5")
    }
    np.testing.assert_allclose(flows["kvaerno5"].loss, flows["tsit5"].loss, rtol=1e-7, atol=1e-12)
    tols = [1e-2, 1e-6]
    methods = [GradientFlow(t1=1e4, n_saves=20, spacing="log", loss_tol=t) for t in tols]
    batch = fit_batch(model, problem, methods, keys=[key, key], reduce=False)
    ends = [float(batch.t[i][np.isfinite(batch.t[i])][-1]) for i in range(2)]
    assert list(np.asarray(batch.status)) == [3, 3] and ends[0] < ends[1]
    for i, tol in enumerate(tols):  # each stopped at its own tolerance, not before
        last = np.asarray(batch.loss[i])[np.isfinite(np.asarray(batch.loss[i]))]
        assert last[-2] >= tol


def test_bad_input_is_refused():
    problem = FullObservation(W_hat=jnp.zeros((3, 3)))
    model = DeepMatrix(depth=2, n=4)
    with pytest.raises(
        ConfigError, match=r"produces a \(4, 4\) estimate but the problem observes a \(3, 3\)"
    ):
        fit(model, problem, GD(eta=0.1, n_steps=10))
    with pytest.raises(ConfigError, match="eta must be > 0"):
        GD(eta=-1.0, n_steps=10)
    with pytest.raises(ConfigError, match="divide n_steps"):
        GD(eta=0.1, n_steps=10, save_every=3)
    with pytest.raises(ConfigError, match="spacing"):
        GradientFlow(t1=1.0, spacing="cubic")
    with pytest.raises(ConfigError, match=r"observes a \(3,\) target"):
        fit(model, FullObservation(W_hat=jnp.zeros(3)), GD(eta=0.1, n_steps=10))
    with pytest.raises(ConfigError, match="same length|one length"):
        fit_batch(
            model,
            FullObservation(W_hat=jnp.zeros((4, 4))),
            [GD(eta=0.1, n_steps=10)] * 2,
            params0=[model.init_params()] * 3,
        )


def test_weight_decay_is_gd_on_the_regularized_loss(key):
    # Oracle: (1 − 2ηλ)θ − η∇L(θ) is a GD step on L(θ) + λ‖θ‖², written with autodiff.
    problem = _problem()
    model = DeepMatrix(depth=2, n=4, init="gaussian", alpha=0.5)
    params0 = model.init_params(key)
    eta, lam = 0.01, 0.3
    traj = fit(
        model, problem, GD(eta=eta, n_steps=50, save_every=50, weight_decay=lam), params0=params0
    )

    def regularized(p):
        return problem.loss(model(p)) + lam * sum(jnp.sum(W**2) for W in p)

    p = params0
    for _ in range(50):
        p = jax.tree.map(lambda x, g: x - eta * g, p, jax.grad(regularized)(p))
    for a, b in zip(traj.final, p):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    with pytest.raises(ConfigError, match="1 − 2ηλ is no longer positive"):
        GD(eta=1.0, n_steps=10, weight_decay=0.5)


def test_a_model_can_precondition_its_flow(key):
    # The hook behind weight normalization and product flows: θ̇ = −P(θ, ∇L). Here P = c·I, which
    # must equal the plain flow run for c times as long.
    base = DeepMatrix(depth=2, n=4, init="gaussian", alpha=0.5)
    params0 = base.init_params(key)
    problem = _problem()
    plain = fit(
        base, problem, GradientFlow(t1=3.0, n_saves=1, rtol=1e-11, atol=1e-13), params0=params0
    )
    fast = fit(
        _with_precondition(base, 3.0),
        problem,
        GradientFlow(t1=1.0, n_saves=1, rtol=1e-11, atol=1e-13),
        params0=params0,
    )
    for a, b in zip(plain.final, fast.final):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def _with_precondition(model, c):
    class Preconditioned(type(model)):
        def precondition(self, params, g):
            return jax.tree.map(lambda x: c * x, g)

    jax.tree_util.register_dataclass(
        Preconditioned, data_fields=["alpha", "beta"], meta_fields=["depth", "widths", "init"]
    )
    return Preconditioned(
        depth=model.depth, widths=model.widths, init=model.init, alpha=model.alpha
    )
