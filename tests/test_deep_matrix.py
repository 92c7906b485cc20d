"""The deep factorization model: gradient formula (4), initializations, input validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias import metrics
from implicit_bias.errors import ConfigError
from implicit_bias.models.deep_matrix import (
    DeepMatrix,
    balanced_init,
    gaussian_init,
    identical_init,
    orthogonal_init,
    perturbed_init,
    widths_of,
)
from implicit_bias.optim import gradient
from implicit_bias.problems.full import FullObservation, random_target


def formula_4(params, G):
    """∇_{W_j} = (W_N ⋯ W_{j+1})ᵀ G (W_{j−1} ⋯ W_1)ᵀ, written out with NumPy (seed 000, eq. (4))."""
    Ws = [np.asarray(W) for W in params]
    N = len(Ws)
    grads = []
    for j in range(N):
        after = np.eye(Ws[j].shape[0])
        for W in Ws[j + 1 :]:
            after = W @ after
        before = np.eye(Ws[0].shape[1])
        for W in Ws[:j]:
            before = W @ before
        grads.append(after.T @ G @ before.T)
    return grads


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("widths_kind", ["square", "rectangular"])
def test_autodiff_gradient_equals_formula_4(depth, widths_kind, key):
    # Oracle: the seed's closed-form gradient (4) against autodiff and against the hand-written vjp.
    rng = np.random.default_rng(depth)
    if widths_kind == "square":
        widths = (5,) * (depth + 1)
    else:
        widths = tuple(int(w) for w in rng.integers(2, 7, size=depth + 1))
    model = DeepMatrix(depth=depth, widths=widths, init="gaussian", alpha=0.7)
    params = model.init_params(key)
    problem = random_target(1, model.shape)
    G = np.asarray(model(params) - problem.W_hat)
    expected = formula_4(params, G)
    autodiff = jax.jit(jax.grad(lambda p: problem.loss(model(p))))(params)
    handwritten = jax.jit(gradient)(model, problem, params)
    for e, a, h in zip(expected, autodiff, handwritten):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [4, 20])  # below and above the fused-loop threshold
def test_vjp_matches_jax_vjp(n, key):
    model = DeepMatrix(depth=3, n=n, init="orthogonal", alpha=1.0)
    params = model.init_params(key)
    G = jax.random.normal(jax.random.key(3), (n, n))
    W, pullback = model.vjp(params)
    W_ref, pullback_ref = jax.vjp(model, params)
    np.testing.assert_allclose(W, W_ref, rtol=1e-13, atol=1e-13)
    for a, b in zip(pullback(G), pullback_ref(G)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_identical_and_perturbed_inits():
    a, b = 0.3, 0.1
    for W in identical_init(a, 3, 4):
        np.testing.assert_allclose(W, a * np.eye(4))
    W0 = np.diag([1.0, 2.0, 3.0])
    np.testing.assert_allclose(identical_init(a, 2, 3, W0=W0)[1], a * W0)
    p = perturbed_init(a, b, 3, 4)
    np.testing.assert_allclose(p[0], (a - b) * np.eye(4))
    np.testing.assert_allclose(p[1], a * np.eye(4))
    np.testing.assert_allclose(p[2], a * np.eye(4))


def test_random_inits_have_the_right_shapes_and_scale(key):
    widths = (3, 5, 4)
    g = gaussian_init(key, widths, 0.01)
    assert [W.shape for W in g] == [(5, 3), (4, 5)]
    assert widths_of(g) == widths
    o = orthogonal_init(key, (4, 4, 4), 2.0)
    for W in o:
        np.testing.assert_allclose(W.T @ W, 4.0 * np.eye(4), atol=1e-12)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_balanced_init_is_balanced_and_has_the_target_product(depth, key):
    target = jax.random.normal(key, (4, 4))
    params = balanced_init(target, depth, key=jax.random.key(7))
    model = DeepMatrix(depth=depth, n=4)
    np.testing.assert_allclose(model(params), target, atol=1e-12)
    assert float(jnp.max(metrics.balancedness(params))) < 1e-12


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth=0, n=3), "depth must be an integer >= 1"),
        (dict(depth=2, widths=(3, 4)), "widths must be 3 positive integers"),
        (dict(depth=2, widths=(3, 4, 3), init="identical"), "needs equal widths"),
        (dict(depth=2, n=3, init="perturbed", alpha=0.1, beta=0.2), "0 < beta < alpha"),
        (dict(depth=2, n=3, init="nope"), "unknown init"),
        (dict(depth=2, n=3, alpha=-1.0), "alpha must be >= 0"),
    ],
)
def test_bad_models_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DeepMatrix(**kwargs)


def test_widths_that_cannot_chain_are_refused():
    with pytest.raises(ConfigError, match="cannot chain"):
        widths_of((jnp.zeros((4, 3)), jnp.zeros((2, 5))))


def test_random_init_needs_a_key():
    with pytest.raises(ConfigError, match="PRNG key"):
        DeepMatrix(depth=2, n=3, init="gaussian").init_params()


def test_full_observation_loss_and_gradient():
    W_hat = jnp.arange(6.0).reshape(2, 3)
    problem = FullObservation(W_hat=W_hat)
    W = jnp.ones((2, 3))
    assert float(problem.loss(W)) == pytest.approx(0.5 * float(jnp.sum((W - W_hat) ** 2)))
    np.testing.assert_allclose(problem.grad(W), jax.grad(problem.loss)(W))
