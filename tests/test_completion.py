"""The matrix-completion problem: loss and gradient, sampling, bad input."""

import jax
import numpy as np
import pytest

from implicit_bias.errors import ConfigError
from implicit_bias.problems.completion import from_entries, random_completion, random_entries


def test_loss_gradient_and_test_error():
    X_star = np.arange(12.0).reshape(3, 4)
    problem = from_entries(X_star, [(0, 1), (2, 3), (1, 0)], normalize=True)
    X = np.ones((3, 4))
    r = X[[0, 2, 1], [1, 3, 0]] - X_star[[0, 2, 1], [1, 3, 0]]
    assert float(problem.loss(X)) == pytest.approx(0.5 * np.sum(r**2) / 3)
    np.testing.assert_allclose(problem.grad(X), jax.grad(problem.loss)(X))
    assert float(problem.test_error(X_star)) == 0.0
    mask = np.asarray(problem.mask())
    assert mask.sum() == 3 and mask[0, 1] and not mask[0, 0]
    expected = np.linalg.norm((X - X_star)[~mask]) / np.linalg.norm(X_star[~mask])
    assert float(problem.test_error(X)) == pytest.approx(expected)


def test_random_entries_are_distinct_and_in_range():
    idx = random_entries(0, (5, 7), 20)
    assert idx.shape == (20, 2) and len({tuple(e) for e in idx}) == 20
    assert idx[:, 0].max() < 5 and idx[:, 1].max() < 7
    assert random_completion(1, np.eye(3), 9).m == 9


@pytest.mark.parametrize(
    "entries, message",
    [
        ([], "empty"),
        ([(0, 5)], "out of range"),
        ([(1, 1), (1, 1)], "duplicated"),
        ([(-1, 0)], "out of range"),
    ],
)
def test_bad_observation_sets_are_refused(entries, message):
    with pytest.raises(ConfigError, match=message):
        from_entries(np.zeros((3, 3)), entries)


def test_too_many_entries_are_refused():
    with pytest.raises(ConfigError, match="m must be in 1..9"):
        random_entries(0, (3, 3), 10)
