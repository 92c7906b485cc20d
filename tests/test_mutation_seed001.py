"""Mutation tests for seed 001 (SGD with L2 regularization: one-way rank jumps, Razin–Cohen).

Every claim of the four SGD experiments is failed by at least one realistic defect: SGD replaced by
full-batch GD, weight decay λ = 0, the decay applied with the wrong sign (θ ← (1 + 2ηλ)θ − ηG), the
Gaussian init scale ÷3.5, the Lemma's prediction for the wrong depth, the wrong observed value,
depth 1 (no factorization). See tests/mutation.py. Measured: 111 s of CPU time (user + sys) for the whole file, 30 min
wall on the shared, overloaded machine; mostly XLA compilation (≈ 3–5 s per distinct SGD loop).
"""

import jax
import pytest

from implicit_bias.optim import sgd as sgd_mod
from mutation import Mutant, check_mutants, per_experiment


class _ClearCachesOnUndo:
    """Monkeypatching a function that jitted code calls does not invalidate JAX's compilation cache;
    patched first, this object clears the caches when the patch is undone (undo runs in reverse)."""

    def __setattr__(self, name, value):
        jax.clear_caches()
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        jax.clear_caches()
        object.__delattr__(self, name)


_CLEAR = _ClearCachesOnUndo()


def _patch_traced(mp, target, name, value):
    mp.setattr(_CLEAR, "x", 0, raising=False)
    jax.clear_caches()
    mp.setattr(target, name, value)


def full_batch_gd(mp, module):
    """SGD → full-batch GD: every SGD the experiment builds uses all observed entries."""
    real = module.SGD

    def patched(*args, **kw):
        return real(*args, **{**kw, "batch_size": None})

    mp.setattr(module, "SGD", patched)


def decay_sign_flipped(mp, module):
    """θ ← (1 + 2ηλ)θ − ηG in the stochastic step (the full-batch path, used for warm-ups and
    offshoots, left correct): the weight-decay term with the wrong sign."""
    real = sgd_mod.sgd_step

    def bad_step(model, problem, params, idx, eta, lam):
        new = real(model, problem, params, idx, eta, lam)
        if idx is None:
            return new
        return jax.tree.map(lambda n, w: n + 4.0 * eta * lam * w, new, params)

    _patch_traced(mp, sgd_mod, "sgd_step", bad_step)


def restart_from_last(mp, module):
    """Offshoots restarted from the last snapshot instead of their checkpoint (index −1)."""
    real = module.checkpoint
    mp.setattr(module, "checkpoint", lambda params, runs, snaps: real(params, runs, 0 * snaps - 1))


def lemma_wrong_depth(mp, module):
    """The Lemma's s_i(A)^{2/L} evaluated with L + 1."""
    real = module.theory.end_to_end_sv
    mp.setattr(module.theory, "end_to_end_sv", lambda A, depth: real(A, depth + 1))


def wrong_observed_value(mp, module):
    """The Razin–Cohen problem built with W₂₂ = 0.5 observed instead of 0."""
    import numpy as np

    from implicit_bias.problems.completion import from_entries

    mp.setattr(module, "razin_cohen_problem", lambda: from_entries(
        np.array([[0.0, 1.0], [1.0, 0.5]]), [(0, 1), (1, 0), (1, 1)], normalize=True))  # fmt: skip


MUTANTS: dict[str, list[Mutant]] = {
    "sgd_2x2": [
        Mutant(
            "SGD replaced by full-batch GD", full_batch_gd, kills=("more often than full-batch",)
        ),
        Mutant(
            "weight decay λ = 0", lambda mp, m: None, kills=("more often",), config={"lam": 0.0}
        ),
        Mutant(
            "offshoots restarted from the last snapshot",
            restart_from_last,
            kills=("offshoots from after", "offshoots from before"),
        ),
        Mutant(  # small inits start inside B_1 (every s_i² < α) and SGD's growth raises the rank
            "Gaussian init scale 0.2 instead of 0.7",
            lambda mp, m: None,
            kills=("rank rises from inside B_1",),
            config={"init_scale": 0.2},
        ),
    ],
    "sgd_one_way": [
        Mutant("SGD replaced by full-batch GD", full_batch_gd, kills=("P\\(θ_T", "more often")),
        Mutant("Lemma for the wrong depth", lemma_wrong_depth, kills=("Lemma",)),
        Mutant(
            "decay with the wrong sign in the SGD step",
            decay_sign_flipped,
            kills=("exits from B_1",),
        ),
    ],
    "sgd_completion": [
        Mutant(
            "weight decay λ/2", lambda mp, m: None, kills=("true rank",), config={"lam": 1.5e-3}
        ),
    ],
    "sgd_razin_cohen": [
        Mutant(
            "W₂₂ observed as 0.5",
            wrong_observed_value,
            kills=("GD: \\|W₁₁\\| ≥", "SGD \\(λ = 0\\): min over seeds of \\|W"),
        ),
        Mutant(
            "depth 1 (no factorization)",
            lambda mp, m: None,
            kills=("effective rank", "erank", "\\|W₁₁\\| increases over", "θ‖² increases over"),
            config={"depth": 1},
        ),
    ],
}


@pytest.mark.parametrize("name", per_experiment(sorted(MUTANTS)))
def test_every_seed001_claim_is_failed_by_a_defect(name):
    check_mutants(name, MUTANTS[name])
