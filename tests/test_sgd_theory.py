"""Seed 001 metrics: balancedness, approximate rank, B_r membership, rank-jump detection."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias.errors import ConfigError
from implicit_bias.models.deep_matrix import balanced_init
from implicit_bias.theory import sgd as th


def test_balancedness_is_zero_for_balanced_factors_and_matches_numpy(rng):
    target = rng.normal(size=(3, 3))
    params = balanced_init(target, 3, key=jax.random.key(0))
    assert float(jnp.max(th.balancedness(params))) < 1e-20 * 0 + 1e-12
    Ws = [rng.normal(size=(3, 3)) for _ in range(3)]
    want = [np.sum((Ws[l].T @ Ws[l] - Ws[l - 1] @ Ws[l - 1].T) ** 2) for l in (1, 2)]
    np.testing.assert_allclose(th.balancedness(tuple(map(jnp.asarray, Ws))), want, rtol=1e-13)


@pytest.mark.parametrize("f", ["linear", "sqrt", "smooth"])
def test_f_alpha_is_concave_increasing_and_saturates(f):
    x = np.linspace(0.0, 3.0, 301)
    y = np.asarray(th.F_ALPHA[f](jnp.asarray(x), 1.0))
    assert y[0] == 0.0 and np.all(y[x > 1.0] == 1.0)
    assert np.all(np.diff(y) >= -1e-15)
    assert np.all(np.diff(y, 2) <= 1e-12)  # concave on the grid


def test_approx_rank_from_known_singular_values():
    # W = diag(2, 0.1, 0) (singular values of WᵀW: 4, 0.01, 0), α = 0.04: f = 1 + 0.25 + 0
    W = jnp.diag(jnp.asarray([2.0, 0.1, 0.0]))
    assert float(th.approx_rank((W, W), 0.04)[0]) == pytest.approx(1.25)
    assert float(th.approx_rank((W,), 0.04, f=lambda x, a: (x > a).astype(float))[0]) == 1.0
    assert float(th.end_to_end_approx_rank(W @ W, 2, 0.04)) == pytest.approx(1.25)
    with pytest.raises(ConfigError, match="unknown f_alpha"):
        th.approx_rank((W,), 0.04, f="cubic")


def test_region_membership_and_levels():
    bal = np.array([[0.0, 0.0], [0.0, 0.5], [0.0, 0.0]])
    rank = np.array([[1.05, 1.0, 1.0], [1.0, 1.0, 1.0], [1.5, 1.0, 1.0]])
    norm2 = np.array([[1.0] * 3, [1.0] * 3, [1.0] * 3])
    inside = th.in_region(bal, rank, norm2, r=1, eps1=0.1, eps2=0.1, C=2.0)
    assert inside.tolist() == [True, False, False]
    assert th.rank_level(rank, 0.1).tolist() == [1, 1, 2]
    assert th.rank_level(np.array([[np.nan, 1.0]]), 0.1).tolist() == [-1]
    for bad in ({"r": 0}, {"eps1": -1.0}, {"eps2": 0.0}, {"C": 0.0}):
        kw = dict(r=1, eps1=0.1, eps2=0.1, C=2.0) | bad
        with pytest.raises(ConfigError, match="B_r needs"):
            th.in_region(bal, rank, norm2, **kw)


def test_jump_detection_on_a_synthetic_rank_trajectory():
    t = np.arange(10.0) * 100
    level = np.array([3, 3, 2, 2, 2, 1, 1, 2, 1, 1])
    jumps = th.detect_jumps(t, level)
    assert [(j["t"], j["from"], j["to"], j["kind"]) for j in jumps] == [
        (200.0, 3, 2, "down"),
        (500.0, 2, 1, "down"),
        (700.0, 1, 2, "up"),
        (800.0, 2, 1, "down"),
    ]
    down, up = th.count_jumps(np.stack([level, np.full(10, 2)]))
    assert down.tolist() == [3, 0] and up.tolist() == [1, 0]
    assert th.first_time(t, level <= 1).tolist() == 500.0
    assert th.first_time(t, np.stack([level <= 1, level > 5])).tolist() == [500.0, np.inf]
    assert th.leaves_after_entering(np.stack([level <= 1, level <= 2])).tolist() == [True, False]
    with pytest.raises(ConfigError, match="one length"):
        th.detect_jumps(t, level[:-1])


def test_observer_metrics_match_numpy(rng):
    Ws = tuple(jnp.asarray(rng.normal(size=(2, 2))) for _ in range(3))
    m = th.Observer(alpha=0.1)(Ws)
    A = np.asarray(Ws[2]) @ np.asarray(Ws[1]) @ np.asarray(Ws[0])
    np.testing.assert_allclose(m["A"], A, rtol=1e-13)
    np.testing.assert_allclose(m["s"], np.linalg.svd(A, compute_uv=False), rtol=1e-13)
    np.testing.assert_allclose(m["norm2"], [np.sum(np.asarray(W) ** 2) for W in Ws])


def test_sgd_never_leaves_B1_at_step_resolution():
    # the seed's closedness claim, θ_t ∈ B_r ⇒ θ_{t+1} ∈ B_r, checked at every step (not snapshots)
    from implicit_bias.experiments.sgd_2x2 import problem_2x2
    from implicit_bias.models.deep_matrix import DeepMatrix
    from implicit_bias.optim.sgd import SGD, run_seeds

    problem = problem_2x2(0.2)
    model = DeepMatrix(depth=3, n=2, init="gaussian")
    start = balanced_init(0.8 * np.asarray(problem.X_star), 3)  # rank 1, balanced: inside B_1
    obs = th.Observer(alpha=0.05)
    traj = run_seeds(model, problem, SGD(eta=0.3, lam=0.03, n_steps=4000, save_every=1), start,
                     np.arange(4), obs)  # fmt: skip
    m = traj.observed
    inside = th.in_region(m["balance"], m["rank"], m["norm2"], r=1, eps1=0.1, eps2=0.1, C=4.0)
    assert inside[:, 0].all() and inside.all()
    assert not th.leaves_after_entering(inside).any()


def test_watch_at_every_step_agrees_with_snapshots_at_every_step():
    # the jitted per-step B_1 watch (first entry, exits, their steps) equals in_region on a trajectory
    # saved at every step; started off-balance from Gaussian inits at a large η so that exits occur
    from implicit_bias.experiments.sgd_2x2 import problem_2x2
    from implicit_bias.models.deep_matrix import DeepMatrix
    from implicit_bias.optim.sgd import SGD, run_seeds

    problem = problem_2x2(0.2)
    model = DeepMatrix(depth=3, n=2, init="gaussian", alpha=0.7)
    p0 = jax.vmap(model.init_params)(jax.random.split(jax.random.key(0), 8))
    region = th.Region(r=1, eps1=0.1, eps2=0.1, C=4.0, alpha=0.05)
    method = SGD(eta=0.4, lam=0.03, n_steps=600, save_every=1)
    traj, st = run_seeds(model, problem, method, p0, np.arange(8), th.Observer(alpha=0.05),
                         watch=region)  # fmt: skip
    m = traj.observed
    inside = th.in_region(m["balance"], m["rank"], m["norm2"], r=1, eps1=0.1, eps2=0.1, C=4.0)
    exits = inside[:, :-1] & ~inside[:, 1:]
    np.testing.assert_array_equal(st["n_exit"], exits.sum(-1))
    first = np.where(inside.any(-1), np.argmax(inside, -1), -1)
    np.testing.assert_array_equal(st["first_in"], first)
    for k in range(8):
        steps = np.flatnonzero(exits[k])[:8] + 1
        np.testing.assert_array_equal(st["exit_step"][k][: steps.size], steps)
    assert exits.sum() > 0  # the test exercises exits


def test_noise_condition_bounds_the_one_step_change_of_the_imbalance():
    # D' = a²D + η²(G_{ℓ+1}ᵀG_{ℓ+1} − G_ℓG_ℓᵀ) for W' = aW − ηG (first-order terms cancel)
    from implicit_bias.experiments.sgd_2x2 import problem_2x2
    from implicit_bias.models.deep_matrix import DeepMatrix
    from implicit_bias.optim.sgd import sgd_step

    rng = np.random.default_rng(1)
    problem = problem_2x2(0.2)
    model = DeepMatrix(depth=3, n=2, init="gaussian")
    Ws = tuple(jnp.asarray(rng.normal(size=(2, 2))) for _ in range(3))
    eta, lam = 0.1, 0.03
    new = sgd_step(model, problem, Ws, jnp.asarray([1]), eta, lam)
    a = 1 - 2 * eta * lam
    G = [(a * np.asarray(o) - np.asarray(n)) / eta for o, n in zip(Ws, new)]
    for l in range(1, 3):
        D = (
            np.asarray(Ws[l]).T @ np.asarray(Ws[l])
            - np.asarray(Ws[l - 1]) @ np.asarray(Ws[l - 1]).T
        )
        Dn = (
            np.asarray(new[l]).T @ np.asarray(new[l])
            - np.asarray(new[l - 1]) @ np.asarray(new[l - 1]).T
        )
        E = G[l].T @ G[l] - G[l - 1] @ G[l - 1].T
        np.testing.assert_allclose(Dn, a**2 * D + eta**2 * E, atol=1e-12)


def test_replay_exits_counts_every_exit_like_the_watch():
    # issue 23: the replay (same indices, step by step) counts every exit from B_1 exactly; the
    # jitted watch counts them too (n_exit) but records the conditions of the first 8 only
    from implicit_bias.experiments.sgd_2x2 import problem_2x2
    from implicit_bias.models.deep_matrix import DeepMatrix
    from implicit_bias.optim.sgd import SGD, replay_exits, run_seeds

    problem = problem_2x2(0.2)
    model = DeepMatrix(depth=3, n=2, init="gaussian", alpha=0.7)
    p0 = jax.vmap(model.init_params)(jax.random.split(jax.random.key(0), 8))
    region = th.Region(r=1, eps1=0.1, eps2=0.1, C=4.0, alpha=0.05)
    method = SGD(eta=0.4, lam=0.03, n_steps=600, save_every=100)
    _, st = run_seeds(model, problem, method, p0, np.arange(8), th.Observer(alpha=0.05),
                      watch=region)  # fmt: skip
    rep = replay_exits(model, problem, p0, np.arange(8), np.full(8, 0.4), np.full(8, 0.03),
                          600, 100, region)  # fmt: skip
    np.testing.assert_array_equal(rep["exits"], st["n_exit"])
    assert rep["exits"].sum() > 0  # the test exercises exits
    # every exit fails some condition; those within (ii) are a subset
    assert np.all(rep["balance"] + rep["rank"] + rep["bound"] >= rep["exits"])
    assert np.all(rep["exits_ii"] <= rep["exits"]) and np.all(rep["steps_in_ii"] <= rep["steps_in"])
