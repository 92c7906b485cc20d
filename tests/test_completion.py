"""The matrix-completion problem: loss and gradient, sampling, bad input."""

import dataclasses

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


def test_sensing_completion_depth_continues_an_unconverged_run_to_its_limit():
    # at the TINY size with only 500 steps the depth-3 runs are not converged; continued up to
    # 6,000 steps (TINY's own budget) they reach loss_rtol and their claims are compared, not skipped
    from implicit_bias import checks, experiments
    from implicit_bias.experiments import sensing_completion_depth as E

    cfg = dataclasses.replace(experiments.tiny_config(E), n_steps=500, max_steps=6000)
    result = E.run(cfg)
    (note,) = [n for n in result.notes if n.startswith("continued past 500 steps")]
    assert "depth 3 m=60: 6000 steps" in note, note
    found = checks.resolve(result.checks)
    assert all(c.status in ("pass", "fail") for c in found if c.kind == "claim"), [
        (c.name, c.status) for c in found
    ]
