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
    ],
}


@pytest.mark.parametrize("name", per_experiment(sorted(MUTANTS)))
def test_every_glrl_claim_fails_under_a_defect(name):
    check_mutants(name, MUTANTS[name])
