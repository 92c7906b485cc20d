"""Mutation tests for sparse_saddle_to_saddle: every claim is failed by a realistic defect.

Defects: the minimum-ℓ2 interpolator A⁺y in place of basis pursuit (the "last saddle" claim); the
depth-2 path on the u ⊙ v clock (c = 1 instead of 2: τ(α) doubled, every simulated t̃ halved); the
depth-N path on the clock α^{2−N} without its 1/(N(N−2)) (c = 1 instead of 3).
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


MUTANTS = {
    "sparse_saddle_to_saddle": [
        Mutant("min-ℓ2 interpolator for basis pursuit", l2_for_l1, kills=("minimum-ℓ1",)),
        Mutant(
            "depth 2 on the u ⊙ v clock (c = 1)",
            clock(2, 1.0),
            kills=("jump-time error", "deactivation lag", "interior plateau"),
        ),
        Mutant(
            "depth 3 clock without 1/(N(N−2))",
            clock(3, 1.0),
            kills=("jump-time errors fall", "plateau errors fall"),
        ),
    ],
}


@pytest.mark.parametrize("name", per_experiment(sorted(MUTANTS)))
def test_every_saddle_claim_has_a_failing_mutant(name):
    check_mutants(name, MUTANTS[name])
