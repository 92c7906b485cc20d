"""``optim.objective.sharpness`` (Lanczos on Hessian–vector products) against the dense Hessian,
and the bound it gives a diverged explore question."""

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

import implicit_bias as ib
from implicit_bias import explore
from implicit_bias.optim.objective import objective, sharpness


def test_sharpness_is_the_top_of_the_dense_hessian_spectrum():
    problem = ib.completion(n=6, rank=2, observed=20, seed=0)
    model = ib.DeepMatrix(depth=3, n=6, init="gaussian", alpha=0.7)
    params = model.init_params(jax.random.key(1))
    flat, unravel = ravel_pytree(params)
    H = np.asarray(jax.hessian(lambda x: objective(model, problem, unravel(x)))(flat))
    dense = np.sort(np.linalg.eigvalsh(H))[::-1][:3]
    # eigsh's tol 1e-10 is relative to λ; the dense eigvalsh is exact to round-off (~1e-15 ‖H‖)
    np.testing.assert_allclose(sharpness(model, problem, params, k=3), dense, rtol=1e-8)


def test_a_diverged_question_names_the_bound_at_its_start(tmp_path):
    lines = []
    args = ["completion", "--n", "10", "--observed", "50", "--depth", "3", "--method", "gd",
            "--eta", "50", "--n-steps", "100", "--scale", "0.5", "--root", str(tmp_path)]  # fmt: skip
    assert explore.main(args, echo=lines.append) == 3
    text = " ".join(lines)
    assert "diverged at step" in text and "2/λ_max(∇²L(θ₀)) =" in text
    bound = float(text.split("2/λ_max(∇²L(θ₀)) = ")[1].split()[0])
    q = explore.question(problem="completion", n=10, observed=50, depth=3, method="gd", eta=0.5,
                         n_steps=100, scale=0.5)  # fmt: skip
    s = explore.setup(q)
    assert np.isclose(bound, 2 / sharpness(s.model, s.problem, s.params0)[0], rtol=1e-3)


# ---------------------------------------------------------------------------------------------
# optim.sharpness: λ_max along a run, the GFS sharpness (issue 21)

import time  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import scipy.optimize  # noqa: E402

from implicit_bias.optim.sharpness import (  # noqa: E402
    gfs_sharpness,
    hessian_top_k,
    sharpness_along,
)


def _dense_hessian(model, problem, params):
    flat, unravel = ravel_pytree(params)
    return np.asarray(jax.hessian(lambda x: objective(model, problem, unravel(x)))(flat))


def test_sharpness_along_is_the_dense_hessian_spectrum_at_every_snapshot():
    problem = ib.completion(n=6, rank=2, observed=20, seed=0)
    model = ib.DeepMatrix(depth=3, n=6, init="gaussian", alpha=0.7)
    traj = ib.fit(model, problem, ib.GD(eta=0.05, n_steps=100, n_saves=10), jax.random.key(1))
    s = sharpness_along(model, problem, traj, k=3, every=3)
    assert s.method == "dense" and s.values.shape == (5, 3)  # snapshots 0, 3, 6, 9 and the last
    np.testing.assert_array_equal(s.t, np.asarray(traj.t)[[0, 3, 6, 9, 10]])
    for j, i in enumerate([0, 3, 6, 9, 10]):
        p = jax.tree.map(lambda x, i=i: x[i], traj.observed)
        dense = np.sort(np.linalg.eigvalsh(_dense_hessian(model, problem, p)))[::-1][:3]
        # both are eigvalsh of the same float64 Hessian (up to its symmetrization): round-off only
        np.testing.assert_allclose(s.values[j], dense, rtol=1e-10, atol=1e-12)


def test_sharpness_along_a_batched_run_matches_its_members():
    problem = ib.completion(n=5, rank=1, observed=15, seed=2)
    models = [ib.DeepMatrix(depth=2, n=5, init="gaussian", alpha=a) for a in (0.3, 0.6)]
    keys = [jax.random.key(0), jax.random.key(1)]
    traj = ib.fit_batch(models, problem, ib.GD(eta=0.05, n_steps=50, n_saves=5), keys=keys)
    s = sharpness_along(models[0], problem, traj, k=2)
    assert s.values.shape == (2, 6, 2)
    for b in range(2):
        one = sharpness_along(models[b], problem, traj.member(b), k=2)
        np.testing.assert_allclose(s.values[b], one.values, rtol=1e-12)


def test_lanczos_above_the_dense_limit_agrees_with_the_dense_hessian(monkeypatch):
    from implicit_bias.optim import sharpness as mod

    problem = ib.completion(n=6, rank=2, observed=20, seed=0)
    model = ib.DeepMatrix(depth=3, n=6, init="gaussian", alpha=0.7)
    params = model.init_params(jax.random.key(3))
    dense = hessian_top_k(model, problem, [params], k=2)[0]
    monkeypatch.setattr(mod, "DENSE_MAX", 10)  # force the Lanczos path
    lanczos = mod.hessian_top_k(model, problem, [params], k=2)[0]
    np.testing.assert_allclose(lanczos, dense, rtol=1e-8)  # eigsh's tol 1e-10, relative


def _scalar_network(N, y):
    """f(w) = ½(∏ w_i − y)²: DeepMatrix of depth N on 1×1 matrices, fully observed."""
    model = ib.DeepMatrix(depth=N, n=1, init="identical", alpha=0.5)
    problem = ib.problems.full.FullObservation(W_hat=jnp.array([[y]]))
    return model, problem


def _as_params(w):
    return tuple(jnp.array([[x]]) for x in w)


def _fd_hessian(w, y, h=1e-5):
    """Central differences of the hand-written gradient ∇f = (∏w − y)·(∏w / w_i)."""

    def grad(w):
        P = np.prod(w)
        return (P - y) * np.array([np.prod(np.delete(w, i)) for i in range(w.size)])

    w = np.asarray(w, float)
    H = np.empty((w.size, w.size))
    for j in range(w.size):
        e = np.zeros(w.size)
        e[j] = h
        H[:, j] = (grad(w + e) - grad(w - e)) / (2 * h)
    return 0.5 * (H + H.T)


def test_scalar_network_at_the_balanced_minimizer_has_sharpness_N_y_to_2_minus_2_over_N():
    # At ∏w = y the Hessian is g gᵀ with g_i = ∏_{j≠i} w_j = y/w_i (the residual term vanishes),
    # so λ_max = ‖g‖² = Σ_i y²/w_i², the other eigenvalues 0; balanced w_i = y^{1/N}: N y^{2−2/N}.
    for N, y in [(2, 1.0), (3, 2.0), (4, 0.7), (5, 3.0)]:
        model, problem = _scalar_network(N, y)
        w = np.full(N, y ** (1 / N))
        closed = N * y ** (2 - 2 / N)
        fd = np.sort(np.linalg.eigvalsh(_fd_hessian(w, y)))[::-1]
        np.testing.assert_allclose(fd[0], closed, rtol=1e-8)  # O(h²) = 1e-10 differences
        np.testing.assert_allclose(fd[1:], 0.0, atol=1e-7)
        got = hessian_top_k(model, problem, [_as_params(w)], k=2)[0]
        np.testing.assert_allclose(got, [closed, 0.0], rtol=1e-12, atol=1e-12)


def test_scalar_network_minimizers_are_never_flatter_than_the_balanced_one():
    # Σ y²/w_i² ≥ N (∏ y²/w_i²)^{1/N} = N y^{2−2/N} (AM–GM) on ∏w = y, equality iff |w_i| equal.
    rng = np.random.default_rng(0)
    N, y = 3, 2.0
    model, problem = _scalar_network(N, y)
    for _ in range(5):
        w = np.exp(rng.normal(size=N))
        w[-1] = y / np.prod(w[:-1])
        lam = hessian_top_k(model, problem, [_as_params(w)])[0, 0]
        np.testing.assert_allclose(lam, np.sum(y**2 / w**2), rtol=1e-12)
        np.testing.assert_allclose(lam, np.linalg.eigvalsh(_fd_hessian(w, y))[-1], rtol=1e-7)
        assert lam >= N * y ** (2 - 2 / N) * (1 - 1e-12)


def test_diagonal_network_hessian_by_hand():
    # x = u² − v², L = ½‖Ax − y‖², r = Ax − y, G = AᵀA:
    # ∂²L/∂u² = 2 diag(Aᵀr) + 4 diag(u) G diag(u), ∂²L/∂v² = −2 diag(Aᵀr) + 4 diag(v) G diag(v),
    # ∂²L/∂u∂v = −4 diag(u) G diag(v).
    rng = np.random.default_rng(1)
    m, n = 3, 5
    A, yv = rng.normal(size=(m, n)), rng.normal(size=m)
    u, v = rng.normal(size=n), rng.normal(size=n)
    model = ib.Hadamard(depth=2, n=n, signed=True, factors="identical", alpha=0.1)
    problem = ib.problems.linear.linear(A, yv)
    params = jnp.asarray(np.stack([u[None], v[None]]))
    r = A @ (u**2 - v**2) - yv
    G, c = A.T @ A, A.T @ r
    H = np.block([[2 * np.diag(c) + 4 * np.outer(u, u) * G, -4 * np.outer(u, v) * G],
                  [-4 * np.outer(v, u) * G, -2 * np.diag(c) + 4 * np.outer(v, v) * G]])  # fmt: skip
    by_hand = np.sort(np.linalg.eigvalsh(H))[::-1][:3]
    np.testing.assert_allclose(hessian_top_k(model, problem, [params], k=3)[0], by_hand,
                               rtol=1e-12)  # fmt: skip


def _gfs_closed_form(w, y):
    """The scalar network's flow keeps w_i² − w_j² and the signs (all positive here) and ends on
    ∏w = y (for ∏w(0) > 0): with s = w_1² at the limit, ∏_i (s + c_i) = y², c_i = w_i² − w_1²."""
    c = w**2 - w[0] ** 2
    lo = -c.min()
    s = scipy.optimize.brentq(lambda s: np.sum(np.log(s + c)) - 2 * np.log(y), lo + 1e-14 * (1 + abs(lo)),
                              lo + y ** (2 / w.size) + 1.0, xtol=1e-15, rtol=1e-15)  # fmt: skip
    return np.sum(y**2 / (s + c)), np.sqrt(s + c)


def test_gfs_sharpness_of_the_scalar_network_is_the_conserved_quantities_limit():
    N, y = 3, 1.5
    model, problem = _scalar_network(N, y)
    for w in ([0.3, 1.1, 0.8], [2.0, 0.2, 0.5], [1.0, 1.0, 1.0]):
        w = np.asarray(w)
        closed, w_lim = _gfs_closed_form(w, y)
        g = gfs_sharpness(model, problem, _as_params(w))
        assert g.reached and g.loss <= 1e-24
        np.testing.assert_allclose(g.value[0], closed, rtol=1e-8)  # solver rtol 1e-10, ×cond
        w_end = np.array([float(x[0, 0]) for x in g.params])
        np.testing.assert_allclose(w_end, w_lim, rtol=1e-8)


def test_gfs_sharpness_reports_an_unreached_limit():
    model, problem = _scalar_network(3, 1.0)
    g = gfs_sharpness(model, problem, _as_params([0.1, 0.1, 0.1]), t1=1.0)  # the flow barely moves
    assert not g.reached and g.loss > 0.1


def test_cost_per_snapshot_is_small_for_small_models(capsys):
    cases = {
        "scalar network, N=3 (3 params)": _scalar_network(3, 1.0) + (None,),
        "DeepMatrix 4x4, N=3 (48 params)": (ib.DeepMatrix(depth=3, n=4, init="gaussian", alpha=0.5),
                                            ib.problems.full.symmetric_with_spectrum((3.0, 1.0, 0.5, -1.0), seed=0),
                                            jax.random.key(0)),
        "completion 6x6, N=3 (108 params)": (ib.DeepMatrix(depth=3, n=6, init="gaussian", alpha=0.7),
                                             ib.completion(n=6, rank=2, observed=20, seed=0), jax.random.key(1)),
    }  # fmt: skip
    lines = []
    for name, (model, problem, key) in cases.items():
        traj = ib.fit(model, problem, ib.GD(eta=0.01, n_steps=200, n_saves=200), key,
                      reduce=False)  # fmt: skip
        sharpness_along(model, problem, traj)  # compile
        t0 = time.perf_counter()
        s = sharpness_along(model, problem, traj)
        per = (time.perf_counter() - t0) / s.t.size
        lines.append(f"{name}: {per * 1e6:.0f} µs per snapshot")
        assert per < 0.05  # generous: a loaded 2-core machine
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_every_small_explore_run_stores_its_sharpness(tmp_path):
    # issue 21 §1: λ_max(∇²L) at every snapshot of a small explore run, as rows "sharpness" (and
    # "two_over_eta" for GD), against an independent computation at the run's own end point:
    # objective.sharpness (jax.jacfwd of the gradient, dense at this size) on the final params
    from implicit_bias.explore import build

    q = explore.question(problem="completion", n=5, observed=15, depth=2, scale=0.3,
                         method="gd", eta=0.05, n_steps=300)  # fmt: skip
    outcome = explore.execute(q, root=tmp_path, plot_figures=False)
    rows = ib.store.read_rows(outcome.path)
    lam = rows[rows.series == "sharpness"].sort_values("t")
    two = rows[rows.series == "two_over_eta"]
    assert len(lam) >= 10 and np.all(np.isfinite(lam.value))
    np.testing.assert_allclose(two.value, 2 / 0.05)
    s = build.setup(q)
    traj = ib.fit(s.model, s.problem, s.method, params0=s.params0)
    # the same GD from the same start (deterministic) and its end point's sharpness: the dense
    # Hessian's eigvalsh and this one agree to round-off (1e-10 relative in the tests above)
    expected = sharpness(s.model, s.problem, traj.final)[0]
    np.testing.assert_allclose(lam.value.iloc[-1], expected, rtol=1e-8)
    notes = ib.store.read_config(outcome.path)["notes"]
    assert any(n.startswith("sharpness: λ_max(∇²L)") and "λ_max·η/2" in n for n in notes)
