"""Mutation tests for sparse_saddle_to_saddle: every claim is failed by a realistic defect.

Defects: the minimum-ℓ2 interpolator A⁺y in place of basis pursuit (the "last saddle" claim); the
depth-2 path on the u ⊙ v clock (c = 1 instead of 2: τ(α) doubled, every simulated t̃ halved); the
depth-N path on the clock α^{2−N} without its 1/(N(N−2)) (c = 1 instead of 3); the run that
``saddles()`` reads stopped at a tenth of its horizon, or one layer deeper than its path.
"""

import dataclasses

import numpy as np
import pytest

from mutation import Mutant, check_mutants, per_experiment


def l2_for_l1(mp, module):
    """Basis pursuit replaced by the minimum-ℓ2 interpolator."""
    ns = type("l1", (), {"basis_pursuit": staticmethod(lambda A, y, **kw: np.linalg.pinv(A) @ y)})
    mp.setattr(module, "l1", ns)


def clock(depth: int, c: float):
    """The path of ``depth`` returned with the clock constant ``c``."""

    def apply(mp, module):
        real = module.limit_path_diagonal

        def patched(A, y, **kw):
            path = real(A, y, **kw)
            return dataclasses.replace(path, c=c) if kw.get("depth", 2) == depth else path

        mp.setattr(module, "limit_path_diagonal", patched)

    return apply


def stopped_early(mp, module):
    """The run that ``saddles()`` reads stops at a tenth of its horizon."""
    real = module.fit

    def fit(model, problem, method, *a, **kw):
        return real(model, problem, dataclasses.replace(method, t1=method.t1 / 10), *a, **kw)

    mp.setattr(module, "fit", fit)


def one_deeper(mp, module):
    """The run that ``saddles()`` reads is one layer deeper than its path (N + 1)."""
    real = module.fit

    def fit(model, problem, method, *a, **kw):
        return real(dataclasses.replace(model, depth=model.depth + 1), problem, method, *a, **kw)

    mp.setattr(module, "fit", fit)


MUTANTS = {
    "sparse_saddle_to_saddle": [
        Mutant("min-ℓ2 interpolator for basis pursuit", l2_for_l1, kills=("minimum-ℓ1",)),
        Mutant(
            "depth 2 on the u ⊙ v clock (c = 1)",
            clock(2, 1.0),
            kills=(
                "jump-time error",
                "deactivation lag",
                "interior plateau",
            ),
        ),
        Mutant(
            "depth 3 clock without 1/(N(N−2))",
            clock(3, 1.0),
            kills=(
                "jump-time errors fall",
                "plateau errors fall",
            ),
        ),
        Mutant(
            "the saddles() run stopped at t1/10",
            stopped_early,
            kills=(r"saddles\(\) finds every", "each saddle before"),
        ),
        Mutant(
            "the saddles() run one layer deeper",
            one_deeper,
            kills=(r"saddles\(\) finds every", "each saddle before"),
        ),
    ],
}


@pytest.mark.parametrize("name", per_experiment(sorted(MUTANTS)))
def test_every_saddle_claim_has_a_failing_mutant(name):
    check_mutants(name, MUTANTS[name])
