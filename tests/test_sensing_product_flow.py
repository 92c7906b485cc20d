"""The end-to-end product flow (seed 003) against the layer flow, and the log-volume formula."""

import jax
import numpy as np
import pytest

from implicit_bias.models.deep_matrix import DeepMatrix, balanced_init, product
from implicit_bias.models.product_flow import ProductFlow, log_volume, product_operator
from implicit_bias.optim import GradientFlow, fit
from implicit_bias.problems.completion import random_completion


@pytest.mark.parametrize("depth", [2, 3])
def test_product_flow_equals_product_of_balanced_layer_flow(depth):
    # Theorem (Arora et al. 2018; seed 003): from a balanced start the product of the layer flow
    # solves Ẇ = −A_W(∇L(W)). Both solved at rtol 1e-11: agreement to ~1e-8.
    rng = np.random.default_rng(depth)
    X = rng.standard_normal((4, 2)) @ rng.standard_normal((2, 4))
    problem = random_completion(0, X, 10)
    W0 = 0.3 * rng.standard_normal((4, 4))
    layers0 = balanced_init(W0, depth, key=jax.random.key(depth))
    np.testing.assert_allclose(product(layers0), W0, atol=1e-13)
    flow = GradientFlow(t1=5.0, n_saves=5, rtol=1e-11, atol=1e-13, solver="dopri8")
    layer = fit(DeepMatrix(depth=depth, n=4), problem, flow, params0=layers0, observe=product)
    prod = fit(ProductFlow(depth=depth, shape=(4, 4)), problem, flow, params0=W0)
    assert float(layer.loss[-1]) < 0.5 * float(layer.loss[0])  # it moved
    np.testing.assert_allclose(np.asarray(prod.observed), np.asarray(layer.observed), atol=1e-8)


def test_product_operator_at_depth_one_and_on_diagonals():
    W = np.diag([4.0, 1.0])
    Z = np.array([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(product_operator(W, Z, 1), Z)
    # depth 2, diagonal W = diag(w): A_W(Z)_ij = (w_i + w_j) Z_ij
    np.testing.assert_allclose(product_operator(W, Z, 2), np.array([[8.0, 10.0], [15.0, 10.0]]))


def test_log_volume_formula():
    # v(W) = N^{n(n−1)/2} det(Σ²)^{(1−N)/(2N)} ∏_{i<j}(σ_i^{2/N} − σ_j^{2/N}), seed 003; by hand for
    # W = diag(4, 1), N = 2: 2 · (16)^{−1/4} · (4 − 1) = 3.
    assert np.isclose(log_volume(np.diag([4.0, 1.0]), 2), np.log(3.0))
    # invariant under orthogonal transformations on either side
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 3))
    Q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    assert np.isclose(log_volume(Q @ W, 3), log_volume(W @ Q.T, 3))
    assert log_volume(np.diag([1.0, 0.0]), 3) == np.inf  # rank-deficient: infinite volume
    assert log_volume(np.eye(2), 3) == -np.inf  # repeated singular value: zero volume
