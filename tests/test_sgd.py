"""SGD with weight decay (seed 001): the exact update, the sampling, the full-batch limit, bad input."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from implicit_bias.errors import ConfigError, DivergenceError
from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.optim import GD, fit
from implicit_bias.optim.sgd import SGD, regularized_loss, run_seeds, sampled_indices, sgd_step
from implicit_bias.problems.completion import from_entries, random_completion
from implicit_bias.theory.sgd import Observer


def _factors(rng, widths):
    return tuple(rng.normal(size=(widths[j + 1], widths[j])) for j in range(len(widths) - 1))


def _seed_update(params, X_star, i, j, eta, lam):
    """NumPy transcription of θ ← (1 − 2ηλ)θ − (η/2)∇_θ(A*_ij − (A_θ)_ij)², ∇ by the chain rule."""
    L = len(params)
    A = params[0]
    for W in params[1:]:
        A = W @ A
    r = X_star[i, j] - A[i, j]
    E = np.zeros_like(A)
    E[i, j] = 1.0
    new = []
    for l in range(L):
        # (W_L ⋯ W_{ℓ+1}) and (W_{ℓ−1} ⋯ W_1), written out
        after = np.eye(params[l].shape[0])
        for W in params[l + 1 :]:
            after = W @ after
        before = np.eye(params[0].shape[1])
        for W in params[:l]:
            before = W @ before
        grad_A_ij = after.T @ E @ before.T  # ∇_{W_ℓ} (A_θ)_ij
        grad = -2.0 * r * grad_A_ij  # ∇_{W_ℓ} (A*_ij − (A_θ)_ij)²
        new.append((1 - 2 * eta * lam) * params[l] - 0.5 * eta * grad)
    return new


@pytest.mark.parametrize("widths", [(2, 2, 2, 2), (3, 4, 2, 5)])
def test_one_step_is_the_seed_update(rng, widths):
    params = tuple(jnp.asarray(W) for W in _factors(rng, widths))
    X_star = rng.normal(size=(widths[-1], widths[0]))
    entries = [(0, 0), (1, 1), (widths[-1] - 1, 0), (0, 1)]
    problem = from_entries(X_star, entries, normalize=True)
    model = DeepMatrix(depth=len(widths) - 1, widths=widths, init="gaussian")
    eta, lam, seed = 0.03, 0.2, 7
    method = SGD(eta=eta, lam=lam, n_steps=1, save_every=1, seed=seed)
    traj = fit(model, problem, method, params0=params)
    k = int(sampled_indices(seed, 1, 1, len(entries))[0, 0])
    i, j = entries[k]
    expected = _seed_update([np.asarray(W) for W in params], X_star, i, j, eta, lam)
    for got, want in zip(traj.final, expected):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13, atol=1e-14)
    # the same step by autodiff of the literal expression
    auto = jax.grad(lambda p: (X_star[i, j] - model(p)[i, j]) ** 2)(params)
    for got, W, g in zip(traj.final, params, auto):
        np.testing.assert_allclose(got, (1 - 2 * eta * lam) * W - 0.5 * eta * g, rtol=1e-13)
    # the reported loss is the seed's regularized objective
    A = np.asarray(model(traj.final))
    r = A[problem.rows, problem.cols] - np.asarray(problem.y)
    reg = sum(float(np.sum(np.asarray(W) ** 2)) for W in traj.final)
    assert float(traj.loss[-1]) == pytest.approx(0.5 * np.mean(r**2) + lam * reg, rel=1e-13)


def test_minibatch_step_averages_the_sampled_entries(rng):
    params = tuple(jnp.asarray(W) for W in _factors(rng, (3, 3, 3)))
    X_star = rng.normal(size=(3, 3))
    entries = [(0, 0), (1, 2), (2, 1), (0, 2), (2, 2)]
    problem = from_entries(X_star, entries)
    model = DeepMatrix(depth=2, n=3, init="gaussian")
    idx = jnp.asarray([1, 3, 3, 0])
    got = sgd_step(model, problem, params, idx, 0.1, 0.05)
    grads = [
        jax.grad(lambda p, e=entries[k]: (X_star[e] - model(p)[e]) ** 2)(params)
        for k in [1, 3, 3, 0]
    ]
    for l, (g, W) in enumerate(zip(got, params)):
        mean = sum(gr[l] for gr in grads) / 4
        np.testing.assert_allclose(g, (1 - 2 * 0.1 * 0.05) * W - 0.05 * mean, rtol=1e-13)


def test_sampled_entries_are_uniform():
    # χ² goodness of fit of 20 000 draws over N = 7 entries, at a fixed seed: the indices SGD uses
    N, T = 7, 20_000
    idx = sampled_indices(3, T, 1000, N)[:, 0]
    counts = np.bincount(idx, minlength=N)
    assert counts.sum() == T
    assert stats.chisquare(counts).pvalue > 1e-3
    # mini-batches too; and consecutive pairs are uniform over the N² pairs (independent steps)
    idx_b = sampled_indices(4, 4000, 500, N, 5)
    assert idx_b.shape == (4000, 5)
    assert stats.chisquare(np.bincount(idx_b.ravel(), minlength=N)).pvalue > 1e-3
    pairs = idx[:-1:2] * N + idx[1::2]
    assert stats.chisquare(np.bincount(pairs, minlength=N * N)).pvalue > 1e-3
    assert len(set(np.asarray(idx[:50]).tolist())) == N


@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_full_batch_is_the_engine_gd(rng, lam):
    problem = random_completion(
        0, rng.normal(size=(4, 1)) @ rng.normal(size=(1, 4)), 9, normalize=True
    )
    model = DeepMatrix(depth=3, n=4, init="gaussian", alpha=0.5)
    p0 = model.init_params(jax.random.key(1))
    gd = fit(model, problem, GD(eta=0.05, n_steps=300, save_every=30, weight_decay=lam), params0=p0)
    sgd = fit(
        model,
        problem,
        SGD(eta=0.05, lam=lam, n_steps=300, save_every=30, batch_size=None),
        params0=p0,
    )
    np.testing.assert_array_equal(gd.t, sgd.t)
    for a, b in zip(gd.final, sgd.final):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    if lam == 0.0:
        np.testing.assert_allclose(gd.loss, sgd.loss, rtol=1e-12)
    else:
        np.testing.assert_allclose(sgd.loss[-1], regularized_loss(model, problem, sgd.final, lam))


def test_schedule_switches_rates_and_is_applied():
    m = SGD(
        eta=0.2, lam=0.1, n_steps=100, save_every=10, schedule=((40, 0.05, 0.01), (70, 0.01, 0.0))
    )
    rates = [tuple(map(float, m.rates(t))) for t in (0, 39, 40, 69, 70, 99)]
    assert rates == [(0.2, 0.1), (0.2, 0.1), (0.05, 0.01), (0.05, 0.01), (0.01, 0.0), (0.01, 0.0)]
    # a schedule equals running the pieces one after the other (same seed, same global steps)
    problem = from_entries([[1.0, 2.0], [0.5, 1.0]], [(0, 0), (1, 0), (1, 1)])
    model = DeepMatrix(depth=2, n=2, init="gaussian", alpha=0.5)
    p0 = model.init_params(jax.random.key(0))
    whole = fit(model, problem, m, params0=p0)
    idx = sampled_indices(0, 100, 10, 3)
    p = p0
    for t in range(100):
        eta, lam = m.rates(t)
        p = sgd_step(model, problem, p, jnp.asarray(idx[t]), eta, lam)
    for a, b in zip(whole.final, p):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_seeds_batched_by_vmap_match_single_runs():
    problem = from_entries([[1.0, 2.0], [0.5, 1.0]], [(0, 0), (1, 0), (1, 1)])
    model = DeepMatrix(depth=3, n=2, init="gaussian", alpha=0.6)
    method = SGD(eta=0.1, lam=0.01, n_steps=2000, save_every=200)
    p0 = model.init_params(jax.random.key(0))
    obs = Observer(alpha=0.05)
    batch = run_seeds(model, problem, method, p0, [5, 6, 7], obs, etas=[0.1, 0.05, 0.1])
    for b, (seed, eta) in enumerate([(5, 0.1), (6, 0.05), (7, 0.1)]):
        one = fit(
            model, problem, dataclasses.replace(method, seed=seed, eta=eta), params0=p0, observe=obs
        )
        np.testing.assert_allclose(batch.observed["s"][b], one.observed["s"], rtol=1e-10)
        np.testing.assert_allclose(batch.loss[b], one.loss, rtol=1e-10)


def test_divergence_is_reported():
    problem = from_entries([[1.0, 2.0], [0.5, 1.0]], [(0, 0), (1, 0), (1, 1)])
    model = DeepMatrix(depth=3, n=2, init="gaussian", alpha=3.0)
    method = SGD(eta=1.0, n_steps=1000, save_every=10)
    with pytest.raises(DivergenceError, match="diverged") as info:
        fit(model, problem, method, jax.random.key(0))
    # the reported step is exact: a plain loop of steps is finite before it and not at it
    p = model.init_params(jax.random.key(0))
    step = info.value.step
    idx = sampled_indices(0, 1000, 10, 3)
    for t in range(step):
        assert np.isfinite(float(regularized_loss(model, problem, p, 0.0)))
        p = sgd_step(model, problem, p, jnp.asarray(idx[t]), 1.0, 0.0)
    assert not np.isfinite(float(regularized_loss(model, problem, p, 0.0)))


def test_bad_input():
    with pytest.raises(ConfigError, match=r"1 − 2ηλ is no longer positive"):
        SGD(eta=1.0, lam=0.5, n_steps=10)
    with pytest.raises(ConfigError, match=r"schedule at step 5.*1 − 2ηλ"):
        SGD(eta=0.1, lam=0.1, n_steps=10, schedule=((5, 2.0, 0.3),))
    with pytest.raises(ConfigError, match="increasing"):
        SGD(eta=0.1, n_steps=10, schedule=((5, 0.1, 0.0), (3, 0.1, 0.0)))
    with pytest.raises(ConfigError, match="eta must be > 0"):
        SGD(eta=0.0, n_steps=10)
    with pytest.raises(ConfigError, match="batch_size"):
        SGD(eta=0.1, n_steps=10, batch_size=0)
    with pytest.raises(ConfigError, match="divide"):
        SGD(eta=0.1, n_steps=10, save_every=3)
    with pytest.raises(ConfigError, match="empty"):
        from_entries(np.eye(2), [])
    with pytest.raises(ConfigError, match="out of range"):
        from_entries(np.eye(2), [(0, 0), (2, 1)])
    problem = from_entries(np.eye(2), [(0, 0)])
    method, p0 = SGD(eta=0.1, n_steps=10), (jnp.eye(2),) * 2
    with pytest.raises(ConfigError, match="one value per seed"):
        run_seeds(DeepMatrix(depth=2, n=2), problem, method, p0, [0, 1], Observer(0.1), etas=[0.1])
    with pytest.raises(ConfigError, match=r"run_seeds: η·λ = 0.5 >= 1/2"):
        run_seeds(DeepMatrix(depth=2, n=2), problem, method, p0, [0], Observer(0.1), lams=[5.0])
