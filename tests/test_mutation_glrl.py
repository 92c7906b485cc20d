"""Mutation tests for ``sensing_glrl`` (seed 002, greedy low-rank learning): every claim is failed by
a defect. See tests/mutation.py: the TINY config runs cleanly (every claim passes), then once per
mutant, and every claim of the clean run must be failed by at least one mutant.
"""

import numpy as np
import pytest

from mutation import Mutant, check_mutants, per_experiment


def _patch_alpha(rule):
    """A defect in the initial scale of the flows: ``rule(n, alpha)`` replaces α for the model
    X = UUᵀ of size n built with the identity init (the flows; the path does not depend on α)."""

    def apply(mp, module):
        real = module.SymmetricFactor

        def patched(*args, **kw):
            if kw.get("init") == "identity":
                kw["alpha"] = rule(kw["n"], kw["alpha"])
            return real(*args, **kw)

        mp.setattr(module, "SymmetricFactor", patched)

    return apply


def _naive_times(mp, module):
    """A defect: each later jump after 1/λ_k of its own phase (no exponents carried over)."""
    lp = module.lowrank_path

    def naive(steps, d=None, **kw):
        times = np.concatenate([[0.0], np.cumsum(1.0 / steps.lambdas)])
        return times, np.ones(len(steps.lambdas), dtype=bool)

    mp.setattr(lp, "exponent_times", naive)


def _perturbed_path(mp, module):
    """A defect in the path saddles() matches against: GLRL's saddles W̄_k (k ≥ 1) moved by 1e-6
    (a loose GLRL solve: 1e-6 is 500× the claim's tolerance δ_k from GLRL's gtol, and far below
    every other scale of the experiment)."""
    import dataclasses

    real = module.limit_path

    def patched(*args, **kw):
        path = real(*args, **kw)
        n = path.points.shape[-1]
        E = np.ones((n, n)) / n  # unit Frobenius norm, symmetric
        points = np.array(path.points, dtype=np.float64)
        points[1:] += 1e-6 * E
        return dataclasses.replace(path, points=points)

    mp.setattr(module, "limit_path", patched)


MUTANTS: dict[str, list[Mutant]] = {
    "sensing_glrl": [
        Mutant("flows at 10α (init scale ×10)", _patch_alpha(lambda n, a: 10 * a),
               kills=("crosses α at t",)),  # fmt: skip
        Mutant("later jump times without the exponents carried over", _naive_times,
               kills=("jump times t̃_k of the flow",)),  # fmt: skip
        Mutant("path runs cut to 0.4 × t̃_K (truncated)", lambda mp, module: None,
               kills=("rank increases K times",), config={"horizon": 0.4}),  # fmt: skip
        Mutant("sensing flows all at α_max (α not passed)",
               _patch_alpha(lambda n, a: 1e-2 if n == 5 else a),
               kills=("closest approach", "converged flow's end → GLRL's end")),  # fmt: skip
        Mutant("completion runs labelled with the α list reversed (TINY: 1e-2 … 1e-8)",
               _patch_alpha(lambda n, a: 1e-10 / a if n == 3 else a),
               kills=("Razin–Cohen-type completion: the converged flow's end",)),  # fmt: skip
        Mutant("completion flows with α clipped at ≥ 1e-2", _patch_alpha(
               lambda n, a: max(a, 1e-2) if n == 3 else a), kills=("nearer GLRL's end",)),  # fmt: skip
        Mutant("saddles() matched against GLRL's points moved by 1e-6", _perturbed_path,
               kills=(r"saddles\(\) finds each GLRL saddle",)),  # fmt: skip
        Mutant("both saddles() runs at the larger saddle α (the smaller α not passed)",
               _patch_alpha(lambda n, a: 1e-12 if a < 1e-10 else a),
               kills=("closest approach to each intermediate GLRL saddle shrinks like",)),  # fmt: skip
    ],
}


@pytest.mark.parametrize("name", per_experiment(sorted(MUTANTS)))
def test_every_glrl_claim_fails_under_a_defect(name):
    check_mutants(name, MUTANTS[name])
