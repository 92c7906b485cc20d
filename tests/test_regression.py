"""Seed 004 building blocks: the regression problem, its data generators, the reduced-rank baseline,
the seed → engine factor map and the spectral initialization, and their bad-input errors."""

import jax
import numpy as np
import pytest

from implicit_bias.baselines.regression import reduced_rank, reduced_rank_path
from implicit_bias.errors import ConfigError
from implicit_bias.models.spectral import (
    check_widths,
    deep_linear,
    from_engine,
    spectral_init,
    to_engine,
)
from implicit_bias.optim import GD, fit
from implicit_bias.problems.regression import aligned, autoencoder, general, regression
from implicit_bias.theory import regression as theory


def test_loss_and_gradient_match_autodiff_and_the_definition(rng):
    X, Y = rng.standard_normal((7, 4)), rng.standard_normal((7, 3))
    P = regression(X, Y)
    W = rng.standard_normal((4, 3))
    assert P.shape == (4, 3)
    np.testing.assert_allclose(float(P.loss(W)), 0.5 * np.sum((Y - X @ W) ** 2) / 7, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(P.grad(W)), np.asarray(jax.grad(P.loss)(W)), atol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_aligned_generator_satisfies_the_assumption(eps):
    sigma, lam = np.array([3.0, 2.0, 1.0]), np.array([2.0, 1.5, 1.0, 0.8])
    data = aligned(sigma=sigma, lam=lam, d=3, eps=eps, noise=0.5, seed=3)
    P = data.problem
    U, V = data.U, data.V
    np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(U.T @ np.asarray(P.Sigma_x) @ U, np.diag(lam) + data.B, atol=1e-12)
    D_xy = np.zeros((4, 3))
    D_xy[range(3), range(3)] = sigma
    np.testing.assert_allclose(U.T @ np.asarray(P.Sigma_xy) @ V, D_xy, atol=1e-12)
    np.testing.assert_allclose(data.eps, eps, atol=1e-12)
    # the noise is not fittable: the least-squares loss is positive
    W_ols = np.linalg.lstsq(np.asarray(P.X), np.asarray(P.Y), rcond=None)[0]
    assert float(P.loss(W_ols)) > 1e-3


def test_autoencoder_generator():
    data = autoencoder(lam=[4.0, 2.0, 1.0], n=6, seed=0)
    P = data.problem
    np.testing.assert_array_equal(np.asarray(P.X), np.asarray(P.Y))
    np.testing.assert_allclose(
        data.U.T @ np.asarray(P.Sigma_x) @ data.U, np.diag([4.0, 2.0, 1.0]), atol=1e-12
    )


def _rrr_by_whitening(X, Y, k):
    """Independent derivation for full-column-rank X: ‖Y − XW‖² = n‖Σ_x^{1/2}W − Σ_x^{−1/2}Σ_xy‖² + const,
    so W^{k,*} = Σ_x^{−1/2} [Σ_x^{−1/2}Σ_xy]_k (best rank-k truncation, Eckart–Young)."""
    n = X.shape[0]
    Sx, Sxy = X.T @ X / n, X.T @ Y / n
    e, E = np.linalg.eigh(Sx)
    Sm = (E / np.sqrt(e)) @ E.T
    A, s, Bt = np.linalg.svd(Sm @ Sxy, full_matrices=False)
    return Sm @ (A[:, :k] * s[:k]) @ Bt[:k]


def test_reduced_rank_matches_the_whitening_derivation_for_every_k(rng):
    P = general(n=20, p=5, d=4, noise=0.3, seed=1)
    X, Y = np.asarray(P.X), np.asarray(P.Y)
    Ws, s = reduced_rank_path(P)
    assert Ws.shape == (5, 5, 4) and np.all(np.diff(s) <= 0)
    for k in range(5):
        np.testing.assert_allclose(Ws[k], _rrr_by_whitening(X, Y, k), atol=1e-10)
        assert np.linalg.matrix_rank(Ws[k], tol=1e-9) == k
    np.testing.assert_allclose(Ws[4], np.linalg.lstsq(X, Y, rcond=None)[0], atol=1e-10)


def test_reduced_rank_is_optimal_and_minimum_norm_for_rank_deficient_X(rng):
    # X of rank 3 in R^{12×5}: many rank-k minimizers; W^{k,*} must have the smallest norm among them
    X = rng.standard_normal((12, 3)) @ rng.standard_normal((3, 5))
    Y = rng.standard_normal((12, 4))
    k = 2
    W = reduced_rank(X, Y, k=k)
    loss = lambda W: 0.5 * np.sum((Y - X @ W) ** 2) / 12  # noqa: E731
    # brute force: no random rank-k matrix near W (or far) does better
    for _ in range(300):
        A, B = rng.standard_normal((5, k)), rng.standard_normal((k, 4))
        assert loss(A @ B) >= loss(W) - 1e-12
        Wt = W + 1e-3 * rng.standard_normal((5, k)) @ rng.standard_normal((k, 4))
        Wp = np.linalg.svd(Wt)
        Wk = (Wp[0][:, :k] * Wp[1][:k]) @ Wp[2][:k]
        assert loss(Wk) >= loss(W) - 1e-12
    # adding a null-space direction of X keeps the loss and the rank but raises the norm
    N = np.linalg.svd(X)[2][3:].T  # basis of null(X)
    W_alt = W + N[:, :1] @ (np.linalg.svd(W)[2][:1])
    assert np.linalg.matrix_rank(W_alt, tol=1e-9) <= k
    np.testing.assert_allclose(loss(W_alt), loss(W), rtol=1e-10)
    assert np.linalg.norm(W_alt) > np.linalg.norm(W)
    assert np.allclose(N.T @ W, 0, atol=1e-10)  # W^{k,*} lies in the row space of X: minimum norm


def test_seed_to_engine_factor_map(rng):
    W1, W2, W3 = (
        rng.standard_normal((5, 3)),
        rng.standard_normal((3, 2)),
        rng.standard_normal((2, 4)),
    )
    model = deep_linear((5, 3, 2, 4))
    params = to_engine((W1, W2, W3))
    assert model.widths == (4, 2, 3, 5)
    np.testing.assert_allclose(np.asarray(model(params)), W1 @ W2 @ W3, atol=1e-12)
    assert all(a is b for a, b in zip(from_engine(params), (W1, W2, W3)))


@pytest.mark.parametrize("widths", [(4, 3, 3), (4, 2, 3), (4, 6, 3), (4, 3, 3, 3), (4, 3)])
def test_spectral_init_product(widths):
    data = aligned(sigma=[3.0, 2.0, 1.0], lam=[2.0, 1.5, 1.0, 0.5], d=3, seed=0)
    delta = np.array([1.0, 1.5, 2.0])
    params = spectral_init(data.U, data.V, delta, widths)
    W = np.asarray(deep_linear(widths)(params))
    r = min(widths)
    expected = (data.U[:, :r] * np.exp(-2 * delta[:r])) @ data.V[:, :r].T
    np.testing.assert_allclose(W, expected, atol=1e-14)


def test_spectral_init_with_invertible_Q_keeps_the_product():
    data = aligned(sigma=[3.0, 2.0, 1.0], lam=[2.0, 1.5, 1.0], seed=0)
    Q = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.2, 0.0, 1.0]])
    params = spectral_init(data.U, data.V, 1.0, (3, 3, 3), Q=Q)
    W1, W2 = from_engine(params)
    np.testing.assert_allclose(W1, data.U * np.exp(-1.0) @ Q, atol=1e-14)
    np.testing.assert_allclose(W1 @ W2, np.exp(-2.0) * data.U @ data.V.T, atol=1e-14)


# ------------------------------------------------------------------------------------- bad input


def test_bad_input_rows_differ():
    with pytest.raises(ConfigError, match="same number of rows"):
        regression(np.zeros((5, 3)), np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="same number of rows"):
        reduced_rank_path(np.zeros((5, 3)), np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="2-D"):
        regression(np.zeros(5), np.zeros((5, 2)))
    with pytest.raises(ConfigError, match="finite"):
        regression(np.full((3, 2), np.nan), np.zeros((3, 1)))


def test_bad_input_widths_cannot_chain():
    with pytest.raises(ConfigError, match="cannot chain"):
        to_engine((np.zeros((4, 3)), np.zeros((2, 5))))
    with pytest.raises(ConfigError, match="cannot chain with the data"):
        check_widths((4, 3, 2), p=4, d=3)
    # fit refuses factors whose product has the wrong shape for the data
    P = regression(np.eye(4), np.ones((4, 3)))
    model = deep_linear((4, 2, 3))
    with pytest.raises(ConfigError):
        fit(model, P, GD(eta=0.1, n_steps=2), params0=(np.zeros((2, 3)), np.zeros((5, 2))))


def test_bad_input_rank_too_large():
    with pytest.raises(ConfigError, match=r"min\(p, d\) = 3"):
        reduced_rank(np.eye(5), np.ones((5, 3)), k=4)
    with pytest.raises(ConfigError, match="min"):
        theory.staircase_limit(4, np.eye(3), np.eye(3), [3.0, 2.0, 1.0], [1.0, 1.0, 1.0])


def test_bad_input_step_size_above_condition():
    with pytest.raises(ConfigError, match=r"1/\(2 max σ_i\) = 0.125"):
        theory.check_discrete_step(0.2, [4.0, 1.0])
    theory.check_discrete_step(0.1, [4.0, 1.0])


def test_bad_input_generators():
    with pytest.raises(ConfigError, match="positive definite"):
        aligned(sigma=[1.0, 1.0], lam=[1.0, 0.5], eps=0.6)
    with pytest.raises(ConfigError, match="min"):
        aligned(sigma=[1.0, 1.0, 1.0], lam=[1.0, 0.5], d=3)
    with pytest.raises(ConfigError, match="invertible"):
        spectral_init(np.eye(2), np.eye(2), 1.0, (2, 2, 2), Q=np.zeros((2, 2)))


def test_experiments_refuse_bad_configs():
    import dataclasses

    from implicit_bias.experiments import dlr_closed_form, dlr_sequential

    with pytest.raises(ConfigError, match=r"1/\(2 max σ_i\)"):
        dlr_sequential.run(dataclasses.replace(dlr_sequential.Config(), eta=0.1))
    with pytest.raises(ConfigError, match="strictly decreasing"):
        dlr_sequential.run(dataclasses.replace(dlr_sequential.Config(), sigma=(1.0, 2.0, 3.0, 4.0)))
    with pytest.raises(ConfigError, match=r"min\(p, d\) = 4"):
        dlr_closed_form.run(dataclasses.replace(dlr_closed_form.Config(), d=5))
    with pytest.raises(ConfigError, match="positive integers"):
        dlr_closed_form.run(dataclasses.replace(dlr_closed_form.Config(), hidden=0))
